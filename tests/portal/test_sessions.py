"""Sessions: an idle time-out and an absolute lifetime, each person's sessions listed and ended
one by one or all but this one, and a new password ending every other session."""

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from portal.demo import PASSWORD
from portal.models import User, UserSession
from tests.conftest import fresh_totp_code, reset_password_by_mail

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1"
T0 = "2026-11-27 08:00Z"


def _signed_in(email: str = "lead@northwind.example", *, user_agent: str = FIREFOX, ip: str = "203.0.113.7") -> Client:
    client = Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
    assert client.post(reverse("login"), {"username": email, "password": PASSWORD}).status_code == 302
    user = User.objects.get(email=email)
    if user.is_vendor:  # staff give their authenticator's code after the password
        answer = client.post(reverse("mfa_authenticate"), {"code": fresh_totp_code(user)})
        assert answer.status_code == 302
    return client


def _is_signed_in(client: Client) -> bool:
    return client.get(reverse("account-security")).status_code == 200


def _said(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


class TestTheClock:
    def test_a_session_ends_after_the_idle_time_out(self, customer, settings):
        settings.SESSION_IDLE_MINUTES = 60
        with time_machine.travel(T0, tick=False):
            client = _signed_in()
        with time_machine.travel("2026-11-27 09:00:30Z", tick=False):
            response = client.get(reverse("request-list"))

        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login") + "?next=")
        assert "after 60 minutes without activity" in " ".join(_said(response))
        assert not UserSession.objects.exists()
        assert not _is_signed_in(client)

    def test_activity_keeps_it_open(self, customer, settings):
        settings.SESSION_IDLE_MINUTES = 60
        with time_machine.travel(T0, tick=False):
            client = _signed_in()
        for moment in ("2026-11-27 08:50Z", "2026-11-27 09:40Z", "2026-11-27 10:30Z"):
            with time_machine.travel(moment, tick=False):
                assert _is_signed_in(client), moment
        assert UserSession.objects.get().last_seen_at.isoformat() == "2026-11-27T10:30:00+00:00"

    def test_a_session_ends_after_its_absolute_lifetime_however_busy(self, customer, settings):
        settings.SESSION_MAX_HOURS, settings.SESSION_IDLE_MINUTES = 12, 60
        with time_machine.travel(T0, tick=True) as traveller:
            client = _signed_in()
            for _ in range(23):
                traveller.shift(30 * 60)
                assert _is_signed_in(client)
            traveller.shift(30 * 60)  # 12 hours after the log-in
            response = client.get(reverse("request-list"))

        assert response.status_code == 302
        assert "a session lasts 12 hours at most" in " ".join(_said(response))

    def test_the_api_answers_401_with_the_reason(self, customer, settings):
        settings.SESSION_IDLE_MINUTES = 60
        with time_machine.travel(T0, tick=False):
            client = _signed_in()
        with time_machine.travel("2026-11-27 09:01Z", tick=False):
            answer = client.get("/api/v1/organisations/")

        assert answer.status_code == 401
        assert "without activity" in answer.json()["detail"]

    def test_htmx_is_sent_to_the_log_in_page(self, customer, settings):
        settings.SESSION_IDLE_MINUTES = 60
        with time_machine.travel(T0, tick=False):
            client = _signed_in()
        with time_machine.travel("2026-11-27 09:01Z", tick=False):
            answer = client.get(reverse("request-list"), HTTP_HX_REQUEST="true")

        assert answer.status_code == 401
        assert answer["HX-Redirect"].startswith(reverse("login"))

    def test_a_session_from_before_the_limits_is_ended(self, customer):
        client = _signed_in()
        session = client.session
        del session["signed_in_at"]
        session.save()

        assert not _is_signed_in(client)


class TestTheList:
    def test_the_page_lists_each_browser_signed_in(self, customer):
        here = _signed_in()
        _signed_in(user_agent=SAFARI, ip="198.51.100.20")

        page = here.get(reverse("account-security")).content.decode()

        assert "Firefox on Linux" in page
        assert "Safari on iOS" in page
        assert "198.51.100.20" in page
        assert page.count('badge ok">this session') == 1
        assert here.session.session_key not in page  # the key is the session's secret

    def test_a_revoked_session_s_next_request_is_anonymous(self, customer):
        here, there = _signed_in(), _signed_in(user_agent=SAFARI)
        other = UserSession.objects.get(user_agent=SAFARI)

        page = here.post(reverse("session-revoke", args=[other.pk]), follow=True)

        assert "Safari on iOS was signed out" in page.content.decode()
        assert not _is_signed_in(there)
        assert _is_signed_in(here)
        assert not Session.objects.filter(pk=other.session_id).exists()

    def test_signing_this_session_out_goes_to_the_log_in_page(self, customer):
        here = _signed_in()

        answer = here.post(reverse("session-revoke", args=[UserSession.objects.get().pk]))

        assert answer["Location"] == reverse("login")
        assert not _is_signed_in(here)

    def test_sign_out_everywhere_else(self, customer, colleague):
        here, phone, laptop = _signed_in(), _signed_in(user_agent=SAFARI), _signed_in()
        theirs = Client()
        theirs.force_login(colleague, backend="django.contrib.auth.backends.ModelBackend")

        page = here.post(reverse("sessions-revoke-others"), follow=True)

        assert "Signed out everywhere else (2 sessions)" in page.content.decode()
        assert _is_signed_in(here)
        assert not _is_signed_in(phone) and not _is_signed_in(laptop)
        assert _is_signed_in(theirs)

    @pytest.mark.parametrize("persona", ["outsider", "support", "admin_user"])
    def test_nobody_else_ends_someone_s_session(self, request, client_for, customer, persona):
        hers = _signed_in()
        session = UserSession.objects.get(user=customer)

        answer = client_for(request.getfixturevalue(persona)).post(reverse("session-revoke", args=[session.pk]))

        assert answer.status_code == 404
        assert _is_signed_in(hers)

    def test_log_out_takes_the_session_off_the_list(self, customer):
        client = _signed_in()

        client.post(reverse("logout"))

        assert not UserSession.objects.exists()


def test_a_password_reset_ends_every_session(client, customer, inbox):
    phone = _signed_in(user_agent=SAFARI)

    reset_password_by_mail(client, inbox, customer.email, "a-new-long-passphrase")

    assert not UserSession.objects.filter(user=customer).exists()
    assert not _is_signed_in(phone)


def test_an_administrator_changing_their_own_password_in_django_admin_stays_signed_in_here_only(admin_user):
    here, elsewhere = _signed_in("admin@vendor.example"), _signed_in("admin@vendor.example", user_agent=SAFARI)

    answer = here.post(reverse("admin:auth_user_password_change", args=[admin_user.pk]),
                       {"password1": "a-new-long-passphrase", "password2": "a-new-long-passphrase",
                        "usable_password": "true"})

    assert answer.status_code == 302
    assert _is_signed_in(here)
    assert not _is_signed_in(elsewhere)
    assert list(UserSession.objects.filter(user=admin_user).values_list("session_id", flat=True)) == [
        here.session.session_key
    ]


def test_a_log_in_without_a_client_address_is_listed_without_one(customer):
    client = Client(REMOTE_ADDR="")  # a unix socket's client has none

    assert client.post(reverse("login"), {"username": customer.email, "password": PASSWORD}).status_code == 302
    assert UserSession.objects.get().ip is None
