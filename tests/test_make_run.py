"""`make run` on a machine with nothing but Python: the supervisor starts an embedded PostgreSQL
and Redis, the web, worker, prober, beat, dispatcher, lab fleet and the mail sink; a customer logs
in; the worker and the mail sink are killed and restarted alone while the web serves on; the
customer asks for a password reset; SIGTERM stops everything; a second start finds the same
data, the live upgrade demo as it was left (not re-armed)."""

import json
import mailbox
import os
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest

from portal import embedded
from tests.portal.identity import provider_form

pytestmark = pytest.mark.slow

PROJECT_DIR = Path(__file__).resolve().parent.parent
CUSTOMER = "lead@northwind.example"
PASSWORD = "demo-password"
START_TIMEOUT = 180  # the first start runs initdb and every migration
STOP_TIMEOUT = 20

# What the supervisor decides for itself when unset: a developer's or the test run's own values
# must not leak into the portal under test.
SUPERVISOR_DECIDES = (
    "DATABASE_URL", "REDIS_URL", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD",
    "EMAIL_USE_TLS", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DEBUG", "DATABASE_POOL", "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS", "SECURE_SSL_REDIRECT", "SECURE_COOKIES", "BEHIND_TLS_PROXY", "SITE_URL",
    "TEST_DATABASE_NAME", "WHITENOISE_USE_FINDERS", "STATIC_MANIFEST", "STATIC_ROOT",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Portal:
    def __init__(self, data: Path, log: Path):
        self.data = data
        self.log = log
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.mail_port = _free_port()
        env = {name: value for name, value in os.environ.items() if name not in SUPERVISOR_DECIDES}
        env |= {"PORTAL_DATA_DIR": str(data), "PORT": str(self.port), "MAIL_SINK_PORT": str(self.mail_port),
                "IDENTITY_LAB_PORT": str(_free_port())}
        with log.open("w") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "portal.supervisor", "run"],
                cwd=PROJECT_DIR, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def wait_until_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the supervisor exited early:\n{self.output()}"
            try:
                answer = httpx.get(f"{self.url}/healthz", timeout=5, trust_env=False)
                if answer.status_code == 200:
                    self.health = answer.json()
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        pytest.fail(f"/healthz did not answer 200 within {START_TIMEOUT} s:\n{self.output()}")

    def wait_for_line(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        pytest.fail(f"no line with {text!r} within {timeout} s:\n{self.output()}")

    def child(self, name: str) -> psutil.Process:
        """The child `name`, as the supervisor last said it (re)started it."""
        started = re.findall(rf"portal \| {name} (?:re)?started \(pid (\d+)\)", self.log.read_text(errors="replace"))
        if not started:
            pytest.fail(f"the supervisor did not say it started {name}:\n{self.output()}")
        return psutil.Process(int(started[-1]))

    def processes(self) -> list[psutil.Process]:
        """Everything `make run` started: its children and theirs, and the two servers."""
        found = psutil.Process(self.process.pid).children(recursive=True)
        postmaster = self.data / "postgres" / "postmaster.pid"
        found.append(psutil.Process(int(postmaster.read_text().split()[0])))
        registry = json.loads((self.data / "redis" / "redis.db.settings").read_text())
        found.append(psutil.Process(int(Path(registry["pidfile"]).read_text())))
        return found

    def browser(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=True, timeout=15, trust_env=False)


@contextmanager
def running_portal(data: Path, log: Path):
    portal = Portal(data, log)
    try:
        portal.wait_until_healthy()
        started = portal.processes()
        yield portal
        started += portal.processes()  # and those restarted meanwhile
        portal.process.send_signal(signal.SIGTERM)
        try:
            status = portal.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the supervisor did not stop within {STOP_TIMEOUT} s:\n{portal.output()}")
        assert status == 0, portal.output()
        left = [each for each in started if _alive(each)]
        assert not left, f"left running: {[each.cmdline() for each in left]}"
    finally:
        # After a failure above: still stop it the normal way, so nothing is left behind.
        if portal.process.poll() is None:
            portal.process.send_signal(signal.SIGTERM)
            try:
                portal.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                portal.process.kill()
                portal.process.wait()


READY = {"status": "ok", "database": "ok", "redis": "ok", "mail": "ok", "identity": "ok", "lab": "ok",
         "workers": "ok", "dispatcher": "ok", "beat": "ok"}


@contextmanager
def database(data: Path):
    """The running portal's own database, through the socket its embedded PostgreSQL names."""
    import psycopg

    # postmaster.pid: pid, data folder, start time, port, socket folder, ...
    lines = (data / "postgres" / "postmaster.pid").read_text().splitlines()
    with psycopg.connect(host=lines[4], port=lines[3], user="postgres", dbname=embedded.DATABASE_NAME) as connection:
        yield connection


LIVE_DEMO = "(SELECT id FROM portal_deployment WHERE name = 'Upgrade demo (lab)')"


def demo_finished(data: Path) -> None:
    """The live upgrade demo as a presentation leaves it: its run completed, its deployment on 10.0.0."""
    with database(data) as connection:
        connection.execute(f"UPDATE upgrades_run SET state = 'completed' WHERE deployment_id = {LIVE_DEMO}")
        connection.execute("UPDATE scheduling_maintenancewindow SET state = 'completed' WHERE request_id IN "
                           f"(SELECT id FROM upgrades_upgraderequest WHERE deployment_id = {LIVE_DEMO})")
        connection.execute(f"UPDATE upgrades_upgraderequest SET state = 'completed' WHERE deployment_id = {LIVE_DEMO}")
        connection.execute(f"UPDATE portal_deployment SET cloudpaging_version = '10.0.0' WHERE id = {LIVE_DEMO}")


def demo_state(data: Path) -> tuple:
    with database(data) as connection:
        return connection.execute(
            f"SELECT (SELECT cloudpaging_version FROM portal_deployment WHERE id = {LIVE_DEMO}), "
            f"(SELECT count(*) FROM upgrades_upgraderequest WHERE deployment_id = {LIVE_DEMO}), "
            f"(SELECT array_agg(state ORDER BY id) FROM upgrades_run WHERE deployment_id = {LIVE_DEMO})"
        ).fetchone()


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _form_token(page: httpx.Response) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert match, f"no CSRF token in the form at {page.url}"
    return match.group(1)


def log_in(browser: httpx.Client, email: str) -> httpx.Response:
    form = browser.get("/accounts/login/")
    assert form.status_code == 200
    return browser.post(
        "/accounts/login/",
        data={"csrfmiddlewaretoken": _form_token(form), "username": email, "password": PASSWORD},
    )


def sign_on(browser: httpx.Client, email: str) -> httpx.Response:
    """"Log in with single sign-on", then the demo identity provider's own sign-in page."""
    form = browser.get("/accounts/login/")
    provider = browser.post("/accounts/login/sign-on/", data={"csrfmiddlewaretoken": _form_token(form), "email": email})
    assert provider.status_code == 200 and provider.url.port != browser.base_url.port, provider.text
    action, fields = provider_form(provider.text)
    return browser.post(provider.url.join(action or ""), data={**fields, "email": email, "password": PASSWORD})


def ask_for_password_reset(browser: httpx.Client, email: str) -> None:
    form = browser.get("/accounts/password-reset/")
    assert form.status_code == 200
    sent = browser.post("/accounts/password-reset/", data={"csrfmiddlewaretoken": _form_token(form), "email": email})
    assert sent.status_code == 200
    assert sent.url.path == "/accounts/password-reset/sent/"


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"nothing listens on port {port} after {timeout} s")


def wait_for_mail(folder: Path, recipient: str, timeout: float = 10) -> mailbox.MaildirMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if folder.exists():
            for message in mailbox.Maildir(folder, create=False):
                if message["To"] == recipient:
                    return message
        time.sleep(0.2)
    pytest.fail(f"no message to {recipient} in {folder} within {timeout} s")


def _text(message: mailbox.MaildirMessage) -> str:
    return "".join(
        part.get_payload(decode=True).decode() for part in message.walk() if part.get_content_type() == "text/plain"
    )


def test_it_runs_everything_stops_cleanly_and_keeps_the_data(tmp_path):
    data = tmp_path / "data"

    with running_portal(data, tmp_path / "first.log") as portal, portal.browser() as browser:
        # Ready means every part it started is: the lab fleet listens, the workers answer...
        assert portal.health == READY
        landed = log_in(browser, CUSTOMER)
        assert landed.url.path == "/requests/"  # a customer starts at "My upgrades"
        assert "Olivia Bennett" in landed.text
        assert "Northwind University" in browser.get("/my-organisation/").text
        session = browser.cookies["sessionid"]

        # A Northwind contact without an account signs in through the demo's identity provider.
        with portal.browser() as newcomer:
            landed = sign_on(newcomer, "rahul.mehta@northwind.example")
            assert landed.url.path == "/requests/" and "Rahul Mehta" in landed.text
            assert "Northwind University" in newcomer.get("/my-organisation/").text

        # The worker and the mail sink die: each is restarted alone, and the web serves on.
        web = portal.child("web")
        for name in ("worker", "mail"):
            portal.child(name).send_signal(signal.SIGKILL)
            portal.wait_for_line(f"{name} was killed by SIGKILL: restarting it in 1 s")
            portal.wait_for_line(f"{name} restarted (pid")
        assert portal.child("web").pid == web.pid
        assert "Northwind University" in browser.get("/my-organisation/").text
        wait_for_port(portal.mail_port)

        with portal.browser() as stranger:
            ask_for_password_reset(stranger, CUSTOMER)
        message = wait_for_mail(data / "mail", CUSTOMER)
        assert "/accounts/reset/" in _text(message)

        demo_finished(data)
        finished = demo_state(data)
        assert finished == ("10.0.0", 1, ["completed"])

    with running_portal(data, tmp_path / "second.log") as portal:
        assert portal.health == READY
        # Starting again re-arms nothing: the demo is as it was left.
        assert demo_state(data) == finished
        # The session made before the restart is still valid: same database, same SECRET_KEY.
        with portal.browser() as browser:
            browser.cookies.set("sessionid", session)
            page = browser.get("/my-organisation/")
            assert page.url.path == "/organisations/northwind/"
            assert "Northwind University" in page.text

        with portal.browser() as browser:
            landed = log_in(browser, CUSTOMER)
            assert landed.url.path == "/requests/"
            assert "Olivia Bennett" in landed.text
