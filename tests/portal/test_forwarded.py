"""The web as `make run` starts it (the supervisor's own command line) believes no
X-Forwarded-For from its clients: a header neither spreads log-in failures over made-up
addresses nor lets a locked-out client in, and the log-in audit and the list of sessions record the
real address."""

import os
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.db import connection

from portal import demo, supervisor
from portal.models import UserSession
from tests.upgrades.stack import free_port

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def web(transactional_db, world, tmp_path):
    port = free_port()
    database = urlsplit(os.environ["DATABASE_URL"])
    # Plain HTTP on loopback: the cookies may not be marked secure.
    env = {**os.environ, "DATABASE_URL": urlunsplit(database._replace(path="/" + connection.settings_dict["NAME"])),
           "SECURE_COOKIES": "0"}
    env.pop("FORWARDED_ALLOW_IPS", None)
    env.pop("DATABASE_POOL", None)
    argv = next(child.argv for child in supervisor.children(port=port, data=tmp_path) if child.name == "web")
    process = subprocess.Popen(argv, cwd=PROJECT_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/healthz", timeout=2)
            break
        except httpx.TransportError:
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=30)


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
