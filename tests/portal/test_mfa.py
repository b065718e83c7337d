"""The second factor: vendor staff must have one, customers may, an organisation may require it;
after the password, a person who has one gives a code (or a recovery code) before they are in."""

from datetime import datetime, timezone

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from portal import services
from portal.demo import DEMO_TOTP_SECRET, PASSWORD
from portal.models import SecurityEvent
from tests.conftest import fresh_totp_code, totp_code

NOW = datetime(2027, 2, 2, 10, 0, 5, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def fresh_counts():
    # allauth counts wrong codes and remembers used codes in the cache: each story starts clean.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def at_a_fixed_time():
    with time_machine.travel(NOW, tick=False):
        yield NOW.timestamp()


def _without_second_factor(user):
    Authenticator.objects.filter(user=user).delete()
    return user


def _log_in(client, user):
    return client.post(reverse("login"), {"username": user.email, "password": PASSWORD})


def _give(client, code):
    return client.post(reverse("mfa_authenticate"), {"code": code})


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


# Staff without a second factor ------------------------------------------------------------------

def test_staff_without_a_second_factor_are_sent_to_set_one_up_from_every_page(client_for, support):
    client = client_for(_without_second_factor(support))

    for name in ("home", "organisation-list", "request-list", "my-windows"):
        response = client.get(reverse(name))
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("mfa_activate_totp")), name


def test_the_api_refuses_staff_without_a_second_factor_and_says_why(client_for, support):
    client = client_for(_without_second_factor(support))

    response = client.get("/api/v1/organisations/")

    assert response.status_code == 403
    assert "second factor" in response.json()["detail"]


def test_an_api_token_of_staff_without_a_second_factor_is_refused(client, support):
    _, key = services.token_create(by=_without_second_factor(support))

    response = client.get("/api/v1/organisations/", HTTP_AUTHORIZATION=f"Token {key}")

    assert response.status_code == 403
    assert "second factor" in response.json()["detail"]


@pytest.mark.django_db(transaction=True)
def test_staff_set_up_an_authenticator_app_and_then_see_their_recovery_codes(client, support, at_a_fixed_time):
    # Committed for real: allauth announces the new authenticator on commit, within the request.
    _without_second_factor(support)
    response = _log_in(client, support)
    assert _signed_in(client)
    page = client.get(reverse("mfa_activate_totp"))
    secret = client.session[SECRET_SESSION_KEY]
    assert page.status_code == 200
    assert secret.encode() in page.content  # in text, for people who cannot scan the QR code
    assert b'alt="QR code' in page.content

    refused = client.post(reverse("mfa_activate_totp"), {"code": "000000"})
    assert refused.status_code == 200 and b"Incorrect code" in refused.content
    response = client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret, at=at_a_fixed_time)})

    assert response.status_code == 302 and response["Location"] == reverse("mfa_view_recovery_codes")
    codes = client.get(response["Location"])
    assert b"Your recovery codes" in codes.content
    assert Authenticator.objects.filter(user=support, type=Authenticator.Type.TOTP).exists()
    assert client.get(reverse("home")).status_code == 302  # to the desk's page, not to enrol
    assert client.get(reverse("waiting-for-me")).status_code == 200


def test_staff_cannot_turn_off_their_only_second_factor(client, support):
    _log_in(client, support)
    _give(client, totp_code(DEMO_TOTP_SECRET))

    response = client.post(reverse("mfa_deactivate_totp"))

    assert b"must keep a second factor" in response.content
    assert Authenticator.objects.filter(user=support, type=Authenticator.Type.TOTP).exists()


def test_a_customer_may_turn_theirs_off(client_for, customer):
    Authenticator.objects.create(user=customer, type=Authenticator.Type.TOTP, data={"secret": DEMO_TOTP_SECRET})
    client = client_for(customer)

    client.post(reverse("mfa_deactivate_totp"))

    assert not Authenticator.objects.filter(user=customer).exists()


# Logging in with the code --------------------------------------------------------------------

def test_after_the_password_staff_are_asked_for_the_code_and_are_not_in_yet(client, support):
    response = _log_in(client, support)

    assert response.status_code == 302 and response["Location"] == reverse("mfa_authenticate")
    assert not _signed_in(client)
    assert client.get(reverse("waiting-for-me")).status_code == 302
    assert b"Your second factor" in client.get(reverse("mfa_authenticate")).content


def test_a_wrong_code_is_refused_and_the_right_one_signs_in(client, support, at_a_fixed_time):
    _log_in(client, support)

    refused = _give(client, "123456")
    assert refused.status_code == 200 and b"Incorrect code" in refused.content
    assert not _signed_in(client)

    response = _give(client, totp_code(DEMO_TOTP_SECRET, at=at_a_fixed_time))
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert _signed_in(client)
    assert client.get(reverse("waiting-for-me")).status_code == 200


def test_a_code_serves_once(client, support, at_a_fixed_time):
    code = totp_code(DEMO_TOTP_SECRET, at=at_a_fixed_time)
    _log_in(client, support)
    _give(client, code)
    client.post(reverse("logout"))

    _log_in(client, support)
    assert b"Incorrect code" in _give(client, code).content
    assert not _signed_in(client)


def test_wrong_codes_are_throttled_even_the_right_one_after_them(client, support, at_a_fixed_time):
    _log_in(client, support)
    for _ in range(5):
        _give(client, "000000")

    response = _give(client, totp_code(DEMO_TOTP_SECRET, at=at_a_fixed_time))

    assert b"Too many failed login attempts" in response.content
    assert not _signed_in(client)


def test_a_refused_code_is_logged_with_who_and_from_where(client, support, caplog):
    _log_in(client, support)
    with caplog.at_level("WARNING", logger="portal.second_factor"):
        _give(client, "000000")

    assert any("second factor refused: support@vendor.example" in r.getMessage() and "127.0.0.1" in r.getMessage()
               for r in caplog.records)


def test_a_recovery_code_stands_in_for_the_app_once(client, support):
    code = RecoveryCodes.activate(support).get_unused_codes()[0]
    _log_in(client, support)
    assert _give(client, code).status_code == 302
    assert _signed_in(client)
    client.post(reverse("logout"))

    _log_in(client, support)
    assert b"Incorrect code" in _give(client, code).content
    assert not _signed_in(client)


def test_the_password_is_still_throttled_by_axes(client, support, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": support.email, "password": "guess"})

    assert _log_in(client, support).status_code == 429


def test_a_session_that_skipped_the_second_factor_is_sent_to_give_it(client, support):
    # Django admin's own log-in form checks the password only.
    client.force_login(support, backend="django.contrib.auth.backends.ModelBackend")

    response = client.get(reverse("waiting-for-me"))

    assert response.status_code == 302 and response["Location"].startswith(reverse("mfa_reauthenticate"))
    assert client.get("/api/v1/organisations/").status_code == 403


# Customers ----------------------------------------------------------------------------------

def test_a_customer_is_offered_a_second_factor_and_may_go_on_without(client_for, customer):
    client = client_for(customer)

    page = client.get(reverse("request-list"))

    assert page.status_code == 200
    assert reverse("mfa_index").encode() in page.content
    assert client.get(reverse("mfa_index")).status_code == 200


def test_a_customer_sets_up_an_authenticator_app(client, customer, at_a_fixed_time):
    _log_in(client, customer)
    client.get(reverse("mfa_activate_totp"))
    secret = client.session[SECRET_SESSION_KEY]

    client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret, at=at_a_fixed_time)})
    client.post(reverse("logout"))

    assert _log_in(client, customer)["Location"] == reverse("mfa_authenticate")


def test_the_users_of_an_organisation_that_requires_it_are_sent_to_set_one_up(client_for, customer, northwind):
    northwind.requires_mfa = True
    northwind.save(update_fields=["requires_mfa"])
    client = client_for(customer)

    response = client.get(reverse("request-list"))

    assert response.status_code == 302 and response["Location"].startswith(reverse("mfa_activate_totp"))
    assert client.get("/api/v1/requests/").status_code == 403


def test_support_requires_it_of_an_organisation_and_its_page_says_so(client_for, support, customer):
    client = client_for(support)

    response = client.patch("/api/v1/organisations/northwind/", {"requires_mfa": True},
                            content_type="application/json")

    assert response.status_code == 200 and response.json()["requires_mfa"] is True
    assert b"Second factor required" in client.get(reverse("organisation-detail", args=["northwind"])).content


def test_a_customer_may_not_require_it_of_their_organisation(client_for, customer):
    response = client_for(customer).patch("/api/v1/organisations/northwind/", {"requires_mfa": True},
                                          content_type="application/json")

    assert response.status_code == 403


# Security keys (WebAuthn) ----------------------------------------------------------------------

def test_staff_can_reach_adding_a_security_key(client_for, support, settings):
    assert "webauthn" in settings.MFA_SUPPORTED_TYPES

    page = client_for(support).get(reverse("mfa_add_webauthn"))

    assert page.status_code == 200
    assert b"webauthn.js" in page.content


def test_a_token_by_password_needs_the_code_of_an_account_with_a_second_factor(support):
    def exchange(**extra):
        return Client().post("/api/v1/token/", {"email": support.email, "password": PASSWORD, **extra},
                             content_type="application/json")

    refused = exchange()
    wrong = exchange(code="000000")
    given = exchange(code=fresh_totp_code(support))

    assert refused.status_code == 400 and "second factor" in refused.json()["code"][0]
    assert wrong.status_code == 400
    assert given.status_code == 200 and given.json()["token"].startswith("pt_")
    assert SecurityEvent.objects.filter(kind="mfa_failed", user=support).count() == 2
