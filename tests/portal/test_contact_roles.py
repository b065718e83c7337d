"""A person's roles decide what they may do (the lead authorises a rollback, S10): customers do
not grant them, their own least of all, and an organisation always keeps a lead. Support, and
the organisation's lead for the others, give roles and remove people; a removed person's account
is disabled and kept with what it did."""

from django.test import Client
from django.urls import reverse

from portal import demo
from portal.choices import ContactRole
from portal.models import Contact, User

API = "/api/v1"
LEAD = ContactRole.LEAD


def _roles(contact: Contact) -> list[str]:
    contact.refresh_from_db()
    return contact.roles


def _logs_in(email: str) -> bool:
    response = Client().post(reverse("login"), {"username": email, "password": demo.PASSWORD})
    return response.status_code == 302


def test_a_customer_who_is_not_lead_cannot_make_themselves_lead(client_for, colleague):
    own = colleague.contact
    before = _roles(own)

    answer = client_for(colleague).patch(
        f"{API}/contacts/{own.pk}/", {"roles": [*before, LEAD]}, content_type="application/json"
    )

    assert answer.status_code == 403
    assert "lead contact" in answer.json()["detail"]
    assert _roles(own) == before


def test_a_customer_who_is_not_lead_grants_nobody_a_role_on_the_page_either(client_for, colleague, northwind):
    other = northwind.contacts.get(email="daniel.reed@northwind.example")
    before = _roles(other)
    client = client_for(colleague)

    page = client.get(reverse("contact-edit", args=[other.pk])).content.decode()
    response = client.post(reverse("contact-edit", args=[other.pk]), {
        "name": other.name, "email": other.email, "phone": "+44 20 7946 0777", "time_zone": other.time_zone,
        "roles": [LEAD],
    })

    assert "gives people their roles" in page and "Remove Daniel Reed" not in page
    assert response.status_code == 302  # the rest of the change is kept
    other.refresh_from_db()
    assert (other.phone, other.roles) == ("+44 20 7946 0777", before)


def test_nor_adds_a_person_with_a_role(client_for, colleague, northwind):
    answer = client_for(colleague).post(f"{API}/contacts/", {
        "organisation": "northwind", "name": "Eve Mallory", "email": "eve@northwind.example",
        "time_zone": "Europe/London", "roles": [LEAD],
    }, content_type="application/json")

    assert answer.status_code == 403
    assert not northwind.contacts.filter(email="eve@northwind.example").exists()


def test_the_lead_gives_a_colleague_a_role_but_not_themselves(client_for, customer, colleague):
    api = client_for(customer)

    given = api.patch(f"{API}/contacts/{colleague.contact_id}/", {"roles": [LEAD]}, content_type="application/json")
    own = api.patch(f"{API}/contacts/{customer.contact_id}/", {"roles": [LEAD, ContactRole.NETWORK_ADMIN]},
                    content_type="application/json")

    assert given.status_code == 200 and _roles(colleague.contact) == [LEAD]
    assert own.status_code == 403 and ContactRole.NETWORK_ADMIN not in _roles(customer.contact)


def test_support_gives_any_customers_people_their_roles(client_for, support, colleague):
    answer = client_for(support).patch(
        f"{API}/contacts/{colleague.contact_id}/", {"roles": [ContactRole.DATABASE_ADMIN]}, content_type="application/json"
    )

    assert answer.status_code == 200 and _roles(colleague.contact) == [ContactRole.DATABASE_ADMIN]


def test_a_customer_who_is_not_lead_cannot_remove_the_lead(client_for, colleague, customer):
    answer = client_for(colleague).delete(f"{API}/contacts/{customer.contact_id}/")

    assert answer.status_code == 403
    assert Contact.objects.filter(pk=customer.contact_id).exists()
    assert _logs_in(customer.email)


def test_an_engineer_does_not_remove_customers_people(client_for, engineer, colleague):
    assert client_for(engineer).delete(f"{API}/contacts/{colleague.contact_id}/").status_code == 403
    assert Contact.objects.filter(pk=colleague.contact_id).exists()


def test_the_lead_removes_a_colleague_whose_account_is_disabled_and_kept(client_for, customer, colleague):
    contact_id = colleague.contact_id
    assert _logs_in(colleague.email)

    answer = client_for(customer).delete(f"{API}/contacts/{contact_id}/")

    assert answer.status_code == 204
    assert not Contact.objects.filter(pk=contact_id).exists()
    account = User.objects.get(pk=colleague.pk)
    assert not account.is_active and account.contact_id is None
    assert not _logs_in(colleague.email)
    # What the account did stays attributed to it.
    assert account.events.filter(pgh_obj_id=colleague.pk).exists()


def test_the_only_lead_stays_lead(client_for, support, customer):
    client = client_for(support)

    demoted = client.patch(f"{API}/contacts/{customer.contact_id}/", {"roles": []}, content_type="application/json")
    removed = client.delete(f"{API}/contacts/{customer.contact_id}/")

    assert demoted.status_code == 400 and "only lead contact" in str(demoted.json())
    assert removed.status_code == 400 and "only lead contact" in str(removed.json())
    assert LEAD in _roles(customer.contact) and _logs_in(customer.email)


def test_with_a_second_lead_the_first_may_step_down(client_for, support, customer, colleague):
    client = client_for(support)
    client.patch(f"{API}/contacts/{colleague.contact_id}/", {"roles": [LEAD]}, content_type="application/json")

    answer = client.patch(f"{API}/contacts/{customer.contact_id}/", {"roles": []}, content_type="application/json")

    assert answer.status_code == 200 and _roles(customer.contact) == []
