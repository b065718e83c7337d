"""The web as `make run` starts it (the supervisor's own command line) believes no
X-Forwarded-For from its clients: a header neither spreads log-in failures over made-up
addresses nor lets a locked-out client in, and the log-in audit and the list of sessions record the
real address."""

import re

import httpx
import pytest
from axes.models import AccessAttempt
from django.conf import settings

from portal import demo
from portal.models import UserSession

@pytest.fixture
def web(web_server) -> str:
    return web_server[0]


def _log_in(url: str, email: str, password: str, forwarded_for: str) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=10) as client:
        form = client.get("/accounts/login/").text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        return client.post("/accounts/login/", data={"username": email, "password": password,
                                                      "csrfmiddlewaretoken": token},
                           headers={"X-Forwarded-For": forwarded_for})


def test_a_forwarded_header_neither_spreads_failures_nor_unlocks(web, customer):
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _log_in(web, customer.email, "wrong", f"10.0.0.{attempt}").status_code == 200

    last = _log_in(web, customer.email, "wrong", "10.0.0.99")
    locked = _log_in(web, customer.email, demo.PASSWORD, "10.9.9.9")

    assert (last.status_code, locked.status_code) == (429, 429)
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}


def test_a_session_is_listed_with_the_real_address(web, customer):
    assert _log_in(web, customer.email, demo.PASSWORD, "10.9.9.9").status_code == 302

    assert list(UserSession.objects.values_list("ip", flat=True)) == ["127.0.0.1"]
