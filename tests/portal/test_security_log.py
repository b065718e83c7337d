"""The security log: sign-ins, failures, lock-outs, password resets and role changes, each a row of
the audit trail and a structured log line, with the client's real address."""

from django.test import Client
from django.urls import reverse

from portal.choices import ContactRole
from portal.demo import PASSWORD
from portal.models import Contact, SecurityEvent

CLIENT = "192.0.2.44"


def _log_in(client, email, password):
    return client.post(reverse("login"), {"username": email, "password": password}, REMOTE_ADDR=CLIENT)


def _kinds(**filters):
    return list(SecurityEvent.objects.filter(**filters).order_by("pk").values_list("kind", flat=True))


def test_a_sign_in_a_failure_and_a_sign_out_are_logged_with_the_address(client, customer, caplog):
    caplog.set_level("INFO", logger="portal.security")
    _log_in(client, customer.email, "not-it")
    _log_in(client, customer.email, PASSWORD)
    client.post(reverse("logout"), REMOTE_ADDR=CLIENT)

    assert _kinds(user=customer) == ["log_in_failed", "log_in", "log_out"]
    assert set(SecurityEvent.objects.filter(user=customer).values_list("client", flat=True)) == {CLIENT}
    line = next(record for record in caplog.records
                if record.name == "portal.security" and record.security["event"] == "log_in_failed")
    assert f'email="{customer.email}"' in line.getMessage() and f"client={CLIENT}" in line.getMessage()
    assert "not-it" not in caplog.text  # never the password


def test_a_failure_for_an_unknown_address_says_which_address_was_tried(client, world):
    _log_in(client, "nobody@nowhere.example", "guess")

    event = SecurityEvent.objects.get(kind="log_in_failed")
    assert event.user is None and event.email == "nobody@nowhere.example" and event.client == CLIENT


def test_a_lock_out_is_logged(client, customer, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _log_in(client, customer.email, "guess")

    assert "locked_out" in _kinds(user=customer)


def test_roles_given_are_logged_with_who_gave_them_and_from_where(client_for, support, northwind):
    contact = Contact.objects.get(organisation=northwind, email="priya.shah@northwind.example")

    answer = client_for(support).post(reverse("contact-edit", args=[contact.pk]), {
        "name": contact.name, "email": contact.email, "phone": contact.phone, "time_zone": contact.time_zone,
        "roles": [ContactRole.DATABASE_ADMIN, ContactRole.LEAD]}, REMOTE_ADDR=CLIENT)

    assert answer.status_code == 302, answer.content.decode()[-3000:]

    event = SecurityEvent.objects.get(kind="roles_changed")
    assert (event.email, event.actor, event.client) == (contact.email, support, CLIENT)
    assert event.details["before"] == "database_admin" and event.details["after"] == "database_admin,lead"


def test_a_password_reset_asked_for_is_logged(client, customer, inbox):
    client.post(reverse("password_reset"), {"email": customer.email}, REMOTE_ADDR=CLIENT)

    event = SecurityEvent.objects.get(kind="password_reset_asked")
    assert event.email == customer.email and event.client == CLIENT and event.details == {"mailed": True}


def test_the_only_lead_cannot_drop_the_lead_role_on_the_page(client_for, support, northwind):
    lead = Contact.objects.get(organisation=northwind, roles__contains=[ContactRole.LEAD])

    answer = client_for(support).post(reverse("contact-edit", args=[lead.pk]), {
        "name": lead.name, "email": lead.email, "phone": lead.phone, "time_zone": lead.time_zone,
        "roles": [ContactRole.APPLICATION_ADMIN]})

    assert answer.status_code == 400
    assert "only lead contact" in answer.content.decode()
    lead.refresh_from_db()
    assert ContactRole.LEAD in lead.roles
    assert not SecurityEvent.objects.filter(kind="roles_changed").exists()


def test_tokens_made_revoked_and_refused_are_logged(client, customer):
    made = client.post("/api/v1/token/", {"email": customer.email, "password": PASSWORD},
                       content_type="application/json", REMOTE_ADDR=CLIENT).json()
    api = Client(HTTP_AUTHORIZATION=f"Token {made['token']}", REMOTE_ADDR=CLIENT)
    assert api.delete(f"/api/v1/tokens/{made['id']}/").status_code == 204

    refused = api.get("/api/v1/organisations/")

    assert refused.status_code == 401
    assert _kinds(user=customer)[-3:] == ["token_created", "token_revoked", "token_refused"]
    event = SecurityEvent.objects.filter(kind="token_refused").get()
    assert event.client == CLIENT and event.details["reason"] == "This token was revoked."
    assert made["token"] not in str(list(SecurityEvent.objects.values_list("details", flat=True)))
