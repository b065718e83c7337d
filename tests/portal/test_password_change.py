"""A signed-in person changes their own password from their account page: their API tokens are
revoked and their other sessions end, this one stays signed in; a wrong old password changes
nothing."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from portal import services
from portal.demo import PASSWORD
from portal.models import SecurityEvent, UserSession

NEW = "a-new-long-passphrase"


def _signed_in(customer, agent: str) -> Client:
    client = Client(HTTP_USER_AGENT=agent)
    assert client.post(reverse("login"), {"username": customer.email, "password": PASSWORD}).status_code == 302
    return client


def _change(client, old: str):
    return client.post(reverse("password-change"), {"old_password": old, "new_password1": NEW, "new_password2": NEW})


def test_a_new_password_ends_the_tokens_and_the_other_sessions_but_not_this_one(customer):
    here, phone = _signed_in(customer, "Firefox"), _signed_in(customer, "Safari")
    _, key = services.token_create(by=customer)

    answer = _change(here, PASSWORD)

    assert answer.status_code == 302 and answer["Location"] == reverse("account-security")
    page = here.get(answer["Location"])
    assert page.status_code == 200 and "Your password is changed" in page.content.decode()
    assert phone.get(reverse("account-security")).status_code == 302  # signed out
    assert Client().get("/api/v1/organisations/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
    customer.refresh_from_db()
    assert customer.check_password(NEW)
    assert list(UserSession.objects.filter(user=customer).values_list("session_id", flat=True)) == [
        here.session.session_key]
    assert SecurityEvent.objects.filter(kind="password_changed", user=customer).exists()


def test_a_wrong_old_password_changes_nothing(customer):
    here, phone = _signed_in(customer, "Firefox"), _signed_in(customer, "Safari")

    answer = _change(here, "not-my-password")

    assert answer.status_code == 400
    assert "old password was entered incorrectly" in answer.content.decode()
    customer.refresh_from_db()
    assert customer.check_password(PASSWORD)
    assert phone.get(reverse("account-security")).status_code == 200


def _answers(monkeypatch, *typed: str) -> None:
    """What the operator types at the terminal's password prompts, in order."""
    typed = iter(typed)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(typed))


def test_changepassword_on_the_command_line_ends_the_tokens_and_sessions_too(customer, monkeypatch):
    phone = _signed_in(customer, "Safari")
    _, key = services.token_create(by=customer)
    _answers(monkeypatch, NEW, NEW)

    said = call_command("changepassword", customer.email, stdout=StringIO())

    assert "API tokens, other sessions and calendar feed are ended" in said
    customer.refresh_from_db()
    assert customer.check_password(NEW)
    assert phone.get(reverse("account-security")).status_code == 302  # signed out
    assert Client().get("/api/v1/organisations/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
    assert SecurityEvent.objects.filter(kind="password_changed", user=customer).exists()


def test_changepassword_on_the_command_line_refuses_a_weak_password_and_changes_nothing(customer, monkeypatch):
    phone = _signed_in(customer, "Safari")
    _answers(monkeypatch, *["password"] * 6)
    errors = StringIO()

    with pytest.raises(CommandError, match="after 3 attempts"):
        call_command("changepassword", customer.email, stdout=StringIO(), stderr=errors)

    assert "too common" in errors.getvalue()
    customer.refresh_from_db()
    assert customer.check_password(PASSWORD)
    assert phone.get(reverse("account-security")).status_code == 200
