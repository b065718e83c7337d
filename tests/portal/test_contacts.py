"""A customer keeps their organisation's contacts current (S10); nobody else's."""

from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.urls import reverse

from portal import services
from portal.choices import ContactRole
from portal.models import Contact, User


def _form(**overrides):
    data = {
        "name": "Jane Doe", "email": "jane.doe@northwind.example", "phone": "+44 20 7946 0999",
        "time_zone": "Europe/London", "roles": [ContactRole.NETWORK_ADMIN, ContactRole.DATABASE_ADMIN],
    }
    data.update(overrides)
    return data


def test_a_customer_adds_a_contact_to_their_organisation(client_for, customer, northwind):
    response = client_for(customer).post(reverse("contact-create", args=["northwind"]), _form())

    assert response.status_code == 302
    contact = Contact.objects.get(organisation=northwind, email="jane.doe@northwind.example")
    assert contact.roles == [ContactRole.NETWORK_ADMIN, ContactRole.DATABASE_ADMIN]


def test_a_colleague_edits_a_contact_and_the_history_says_who(client_for, colleague, northwind):
    contact = Contact.objects.get(organisation=northwind, email="priya.shah@northwind.example")
    client = client_for(colleague)

    response = client.post(
        reverse("contact-edit", args=[contact.pk]),
        _form(name="Priya Shah", email=contact.email, phone="+44 20 7946 0555", roles=[ContactRole.DATABASE_ADMIN]),
    )

    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.phone == "+44 20 7946 0555"
    page = client.get(reverse("organisation-detail", args=["northwind"])).content.decode()
    assert "Contact Priya Shah" in page and "Rahul Mehta" in page  # what changed, and who changed it
    assert "+44 20 7946 0555" in page


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("email", "not-an-address", "Enter a valid email address."),
        ("time_zone", "Mars/Olympus_Mons", "not one of the available choices"),
        ("roles", ["chief_wizard"], "not one of the available choices"),
        ("name", "", "This field is required."),
        ("email", "OLIVIA.BENNETT@northwind.example", "already has a contact with this e-mail address"),
    ],
)
def test_bad_input_is_explained_and_nothing_is_saved(client_for, customer, northwind, field, value, message):
    before = Contact.objects.filter(organisation=northwind).count()

    response = client_for(customer).post(reverse("contact-create", args=["northwind"]), _form(**{field: value}))

    assert response.status_code == 400
    assert message in response.content.decode()
    assert Contact.objects.filter(organisation=northwind).count() == before
    # What the user typed is still in the form.
    assert "+44 20 7946 0999" in response.content.decode()


def test_an_outsider_cannot_add_edit_or_remove_northwind_contacts(client_for, outsider, northwind):
    client = client_for(outsider)
    contact = Contact.objects.filter(organisation=northwind).first()
    before = list(Contact.objects.filter(organisation=northwind).values_list("pk", "name", "email"))

    assert client.post(reverse("contact-create", args=["northwind"]), _form()).status_code == 404
    assert client.post(reverse("contact-edit", args=[contact.pk]), _form(name="Hijacked")).status_code == 404
    assert client.post(reverse("contact-delete", args=[contact.pk])).status_code == 404

    assert list(Contact.objects.filter(organisation=northwind).values_list("pk", "name", "email")) == before


def test_a_customer_removes_a_contact(client_for, customer, northwind):
    contact = Contact.objects.get(organisation=northwind, email="daniel.reed@northwind.example")

    response = client_for(customer).post(reverse("contact-delete", args=[contact.pk]), follow=True)

    assert "Daniel Reed was removed" in response.content.decode()
    assert not Contact.objects.filter(pk=contact.pk).exists()


def test_a_customer_cannot_remove_themselves(client_for, customer):
    response = client_for(customer).post(reverse("contact-delete", args=[customer.contact.pk]), follow=True)

    assert "You cannot remove yourself" in response.content.decode()
    assert Contact.objects.filter(pk=customer.contact.pk).exists()


def test_support_edits_any_customers_contacts(client_for, support, contoso):
    contact = Contact.objects.filter(organisation=contoso).first()

    response = client_for(support).post(
        reverse("contact-edit", args=[contact.pk]), _form(name=contact.name, email=contact.email, phone="+1 212 555 0199")
    )

    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.phone == "+1 212 555 0199"


@pytest.mark.parametrize("slug, lead, zone", [
    ("fabrikam", "lead@fabrikam.example", "Australia/Sydney"),
    ("contoso", "lead@contoso.example", "America/New_York"),
    ("northwind", "lead@northwind.example", "Europe/London"),
])
def test_the_history_says_in_which_zone_its_times_are(client_for, world, slug, lead, zone):
    viewer = User.objects.get(email=lead)
    contact = Contact.objects.filter(organisation__slug=slug).exclude(user=viewer).first()
    services.contact_update(contact=contact, by=viewer, phone="+1 555 0100")
    # The database stamps the change (its own clock): shown in the viewer's zone, and said so.
    at = apps.get_model("portal", "ContactEvent").objects.filter(pgh_obj=contact).latest("pgh_created_at")
    shown = at.pgh_created_at.astimezone(ZoneInfo(zone)).strftime("%-d %b %Y, %H:%M")

    page = client_for(viewer).get(reverse("organisation-detail", args=[slug])).content.decode()

    history = page.split("<h2>History</h2>")[1]
    assert f"When ({zone})" in history and "When (UTC)" not in history
    row = next(line for line in history.split("<tr>") if "+1 555 0100" in line)
    assert shown in row
