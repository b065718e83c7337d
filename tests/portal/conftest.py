import os
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from django.db import connection

from portal import supervisor
from tests.portal.identity import started_providers
from tests.upgrades.stack import free_port

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def identity_providers():
    """Identity providers on loopback for the single sign-on stories (tests/portal/identity.py)."""
    providers, stop = started_providers()
    yield providers
    stop()


@pytest.fixture
def web_server(transactional_db, world, tmp_path) -> tuple[str, subprocess.Popen]:
    """The web as `make run` starts it, on the test database: its address and its process."""
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
    yield url, process
    process.terminate()
    process.wait(timeout=30)
