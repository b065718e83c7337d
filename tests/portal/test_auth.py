"""Log-in by e-mail, log-out, throttling of repeated failures, password reset by e-mail."""

import re

from django.contrib.auth.hashers import identify_hasher
from django.urls import reverse

from portal import services
from portal.demo import PASSWORD
from portal.models import ApiToken


def _log_in(client, email, password):
    return client.post(reverse("login"), {"username": email, "password": password})


def test_a_customer_logs_in_with_their_email_and_lands_on_their_organisation(client, customer):
    response = _log_in(client, "lead@northwind.example", PASSWORD)

    assert response.status_code == 302
    response = client.get(response["Location"], follow=True)
    assert b"Northwind University" in response.content


def test_the_email_is_not_case_sensitive(client, customer):
    assert _log_in(client, "Lead@Northwind.EXAMPLE", PASSWORD).status_code == 302


def test_a_wrong_password_says_so_and_logs_nobody_in(client, customer):
    response = _log_in(client, "lead@northwind.example", "not-the-password")

    assert response.status_code == 200
    assert b"do not match an account" in response.content
    assert "_auth_user_id" not in client.session


def test_repeated_failures_lock_the_account_out_for_a_while(client, customer, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _log_in(client, "lead@northwind.example", "guess")

    response = _log_in(client, "lead@northwind.example", PASSWORD)

    assert response.status_code == 429
    assert b"Too many failed log-ins" in response.content
    assert "_auth_user_id" not in client.session


def test_passwords_are_hashed_with_argon2(customer):
    assert identify_hasher(customer.password).algorithm == "argon2"


def test_log_out_takes_a_post_and_ends_the_session(client_for, customer):
    client = client_for(customer)

    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert client.get(reverse("organisation-detail", args=["northwind"])).status_code == 302


def test_a_forgotten_password_is_reset_through_an_emailed_link(client, customer, inbox):
    response = client.post(reverse("password_reset"), {"email": "lead@northwind.example"})
    assert response.status_code == 302

    (message,) = inbox
    assert message["To"] == "lead@northwind.example"
    link = re.search(r"https?://\S+/accounts/reset/\S+/", message.get_payload()).group(0)
    path = link.split("testserver", 1)[-1] if "testserver" in link else "/" + link.split("/", 3)[3]
    form = client.get(path, follow=True)
    assert b"Choose a new password" in form.content

    client.post(form.redirect_chain[-1][0], {"new_password1": "a-new-long-passphrase", "new_password2": "a-new-long-passphrase"})

    assert _log_in(client, "lead@northwind.example", "a-new-long-passphrase").status_code == 302


def test_a_reset_for_an_unknown_address_sends_nothing_and_reveals_nothing(client, world, inbox):
    response = client.post(reverse("password_reset"), {"email": "nobody@nowhere.example"}, follow=True)

    assert b"If an account uses that address" in response.content
    assert inbox == []


def test_the_reset_link_starts_with_the_portals_address_whatever_host_the_request_claims(client, customer, inbox,
                                                                                         settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "evil.example"]
    settings.SITE_URL = "https://upgrades.vendor.example/"

    client.post(reverse("password_reset"), {"email": customer.email}, HTTP_HOST="evil.example")

    (message,) = inbox
    assert "https://upgrades.vendor.example/accounts/reset/" in message.get_payload()
    assert "evil.example" not in message.get_payload()


def test_a_refusal_is_a_line_in_the_log_not_a_traceback(client_for, colleague, customer, caplog):
    with caplog.at_level("WARNING", logger="django.request"):
        answer = client_for(colleague).post(reverse("contact-delete", args=[customer.contact_id]))

    assert answer.status_code == 403
    (refusal,) = [record for record in caplog.records if getattr(record, "status_code", None) == 403]
    assert refusal.exc_info is None


def test_a_reset_password_ends_the_api_tokens_made_with_the_old_one(client, customer, inbox):
    _, key = services.token_create(by=customer)
    client.post(reverse("password_reset"), {"email": customer.email})
    (message,) = inbox
    path = "/" + re.search(r"https?://\S+/accounts/reset/\S+/", message.get_payload()).group(0).split("/", 3)[3]
    form = client.get(path, follow=True)

    client.post(form.redirect_chain[-1][0], {"new_password1": "a-new-long-passphrase",
                                             "new_password2": "a-new-long-passphrase"})

    assert ApiToken.objects.get(user=customer).revoked_at is not None
    assert client.get("/api/v1/contacts/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401