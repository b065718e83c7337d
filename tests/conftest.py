"""The world a test stands in: the demo customers and their personas.

- `customer`: lead contact at Northwind University;
- `colleague`: another Northwind user (the application administrator);
- `outsider`: lead contact at Contoso College, who must never see Northwind;
- `fabrikam_lead`: lead contact at Fabrikam Health, a cloud customer (`fabrikam`);
- `support`, `engineer`, `admin_user`: vendor staff.
"""

import os
import socket
from email.message import EmailMessage
from pathlib import Path

import pytest
import time_machine
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message
from django.test import Client
from django.urls import reverse
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from portal import demo
from portal.choices import NoticeState
from portal.models import Contact, Notice, Organisation, User
from portal.notices import notice_deliver
from portal.celery import app as celery_app
from scheduling import demo as scheduling_demo

from tests.axe import page_violations
from tests.dates import Day, day_named
from tests.factories import CustomerUserFactory, UpgradeRequestFactory

# Each test process has queues of its own on the shared Redis (the default one and the probes'),
# so that parallel test processes (pytest-xdist), each on its own test database, never run each
# other's tasks. The test workers consume both.
QUEUE = f"tests-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
PROBE_QUEUE = f"{QUEUE}-probes"
QUEUES = [QUEUE, PROBE_QUEUE]
celery_app.conf.task_default_queue = QUEUE
celery_app.conf.task_routes = {"upgrades.probe": {"queue": PROBE_QUEUE}}


def pytest_configure(config):
    config.addinivalue_line("markers", "day(day): run on a day of tests.dates, at its fixed hour")


@pytest.fixture(autouse=True)
def fresh_rate_limits(request):
    """Each test counts its own rate limits in the shared Redis, apart from every other test."""
    from django.core.cache import caches

    caches["shared"].key_prefix = f"tests-{os.getpid()}-{request.node.nodeid}"


@pytest.fixture(scope="session", autouse=True)
def today():
    """`PORTAL_TEST_TODAY=2026-12-31` (or a name of `tests.dates`) runs the whole suite as if
    today were that day, from its fixed hour on; time moves for live servers and workers."""
    asked = os.environ.get("PORTAL_TEST_TODAY", "")
    if not asked:
        yield None
        return
    day = day_named(asked)
    with time_machine.travel(day.at(), tick=True):
        yield day


@pytest.fixture(autouse=True)
def on_its_day(request):
    """A test run on a day of `tests.dates` (parametrized over `day` with `each_day`, or marked
    `pytest.mark.day(...)`) travels there before its fixtures make anything, and time moves on
    from the day's fixed hour (live servers and workers see it move)."""
    spec = getattr(request.node, "callspec", None)
    marker = request.node.get_closest_marker("day")
    day = spec.params.get("day") if spec else None
    day = day if isinstance(day, Day) else (marker.args[0] if marker else None)
    if day is None:
        yield None
        return
    with time_machine.travel(day.at(), tick=True):
        yield day


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    # Hashing the demo passwords (argon2) is the slow part of the world: do it once.
    with django_db_blocker.unblock():
        scheduling_demo.seed_world()


@pytest.fixture
def world(db):
    # Idempotent, and quick when the session's world is there; it rebuilds the world after a
    # transactional test has flushed the database.
    scheduling_demo.seed_world()


@pytest.fixture
def northwind(world) -> Organisation:
    return Organisation.objects.get(slug="northwind")


@pytest.fixture
def contoso(world) -> Organisation:
    return Organisation.objects.get(slug="contoso")


@pytest.fixture
def fabrikam(world) -> Organisation:
    """The cloud customer: the vendor plans its upgrades (S3)."""
    return Organisation.objects.get(slug="fabrikam")


@pytest.fixture
def fabrikam_lead(world) -> User:
    return User.objects.get(email="lead@fabrikam.example")


@pytest.fixture
def customer(world) -> User:
    return User.objects.get(email="lead@northwind.example")


@pytest.fixture
def colleague(northwind) -> User:
    contact = Contact.objects.get(organisation=northwind, email="rahul.mehta@northwind.example")
    return CustomerUserFactory(contact=contact, password=demo.PASSWORD)


@pytest.fixture
def outsider(world) -> User:
    return User.objects.get(email="lead@contoso.example")


@pytest.fixture
def support(world) -> User:
    return User.objects.get(email="support@vendor.example")


@pytest.fixture
def engineer(world) -> User:
    return User.objects.get(email="engineer@vendor.example")


@pytest.fixture
def admin_user(world) -> User:
    return User.objects.get(email="admin@vendor.example")


@pytest.fixture
def rotated_keys(settings):
    """A new key put in front of FIELD_ENCRYPTION_KEYS, `manage.py rotate_credentials` run, then
    the old key retired: what is stored must open under the new key alone."""
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    from portal import credentials

    old_key, new_key = settings.FIELD_ENCRYPTION_KEYS[0], Fernet.generate_key().decode()

    def rotate() -> None:
        settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
        credentials._fernet.cache_clear()
        call_command("rotate_credentials")
        settings.FIELD_ENCRYPTION_KEYS = [new_key]
        credentials._fernet.cache_clear()

    yield rotate
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    credentials._fernet.cache_clear()


def pass_second_factor(client: Client, user: User) -> None:
    """Record in the client's session that its person gave their second factor, as allauth's
    log-in stage records it (the demo staff have an authenticator app; see portal.demo)."""
    from allauth.account.internal.flows.login import record_authentication
    from allauth.mfa.models import Authenticator
    from django.test import RequestFactory

    from portal.second_factor import FACTORS

    authenticator = Authenticator.objects.filter(user=user, type__in=FACTORS).first()
    if authenticator is None:
        return
    request = RequestFactory().get("/")
    request.session = client.session
    record_authentication(request, user, "mfa", id=authenticator.pk, type=authenticator.type)
    request.session.save()


@pytest.fixture
def client_for():
    """A logged-in test client for a user: signed in with their second factor when they have one
    (the portal sends a session without it to give it, and staff without one to set one up)."""

    def make(user: User) -> Client:
        client = Client()
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        pass_second_factor(client, user)
        return client

    return make


class _Inbox(Message):
    """Keeps what a real SMTP server on loopback received, for the test to read."""

    def __init__(self):
        super().__init__()
        self.messages: list[EmailMessage] = []

    def handle_message(self, message: EmailMessage) -> None:
        self.messages.append(message)


@pytest.fixture
def inbox(settings):
    """A real SMTP server (aiosmtpd) on a free loopback port; the portal's mail goes there."""
    handler = _Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    try:
        yield handler.messages
    finally:
        controller.stop()


class WebhookReceiver:
    """A real HTTP server on loopback that takes webhook posts: what it received (headers, body),
    and the status it answers with (`status`, which a test may change)."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        import threading

        self.received: list[tuple[dict[str, str], bytes]] = []
        self.paths: list[str] = []  # where each was posted, in the same order
        self.status = 204
        self.answer = b""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(({name.lower(): value for name, value in self.headers.items()}, body))
                receiver.paths.append(self.path)
                self.send_response(receiver.status)
                self.send_header("Content-Length", str(len(receiver.answer)))
                self.end_headers()
                self.wfile.write(receiver.answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/portal"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver(settings):
    """A receiver of the portal's webhooks on loopback, which the portal may post to while the
    test runs (WEBHOOKS_ALLOW_LOOPBACK)."""
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    receiver = WebhookReceiver()
    try:
        yield receiver
    finally:
        receiver.stop()


def deliver_outbox(inbox: list) -> list[EmailMessage]:
    """Send every notice waiting in the outbox to the SMTP server behind `inbox`, as the worker
    does; what the server received."""
    for notice_id in Notice.objects.filter(state=NoticeState.PENDING).order_by("pk").values_list("pk", flat=True):
        notice_deliver(notice_id=notice_id)
    return inbox


def mail_text(message: EmailMessage) -> str:
    return next(part for part in message.walk() if part.get_content_type() == "text/plain").get_payload(decode=True).decode()


@pytest.fixture
def northwind_deployment(northwind):
    from portal.models import Deployment

    return Deployment.objects.get(organisation=northwind)


@pytest.fixture
def release(world):
    """The published major release 10.0.0 (Northwind runs 9.4.2)."""
    from upgrades.models import Release

    return Release.objects.get(version="10.0.0")


# Northwind's upgrade to 10.0.0, in the states the stories start from --------------------------


@pytest.fixture
def draft(customer, northwind_deployment, release):
    """As its lead contact asks for it: a draft, with the checklist the deployment's facts make."""
    from upgrades.services import requests

    return requests.request_create(deployment=northwind_deployment, release=release, by=customer)


@pytest.fixture
def in_review(customer, support, northwind_deployment, release):
    """In support's review, made directly (the desk has stories of its own): its prerequisite
    check can be booked."""
    return UpgradeRequestFactory(in_review=True, deployment=northwind_deployment, release=release,
                                 requested_by=customer, assignee=support)


@pytest.fixture
def approved(customer, northwind_deployment, release):
    """Approved, made directly (approval has stories of its own): a window can be booked for it."""
    return UpgradeRequestFactory(approved=True, deployment=northwind_deployment, release=release,
                                 requested_by=customer)


@pytest.fixture
def worker(transactional_db):
    """A real Celery worker (in a thread of this process) on the real Redis, for tests whose
    story crosses a task. Its tasks see committed rows only, hence the transactional database."""
    from celery.contrib.testing.worker import start_worker

    with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10,
                      queues=QUEUES):
        yield


@pytest.fixture
def lasting_sessions(settings):
    """For stories whose clock jumps days ahead (to the check, to the window) with the same people
    signed in: their sessions outlast the jump, instead of ending for idleness as they would."""
    settings.SESSION_MAX_HOURS = 90 * 24
    settings.SESSION_IDLE_MINUTES = settings.SESSION_MAX_HOURS * 60
    settings.SESSION_COOKIE_AGE = settings.SESSION_MAX_HOURS * 3600


def reset_password_by_mail(client: Client, inbox: list, email: str, password: str) -> None:
    """Ask for a reset of `email`'s password, open the mailed link and choose `password`."""
    client.post(reverse("password_reset"), {"email": email})
    (message,) = inbox
    link = next(line for line in message.get_payload().splitlines() if "/accounts/reset/" in line)
    form = client.get("/" + link.strip().split("/", 3)[3], follow=True)
    client.post(form.redirect_chain[-1][0], {"new_password1": password, "new_password2": password})


def wait_for(condition, *, timeout: float = 10.0, interval: float = 0.05):
    """Poll until `condition()` is truthy; fails the test after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"still not true after {timeout} s: {condition}")


# -- Browser stories: Debian's chromium, driven by Playwright ----------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# What chromium asks for when it opens an address.
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"

SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"


@pytest.fixture(scope="module")
def browser(django_db_setup):
    """One chromium for the stories of one test module.

    Playwright's sync API keeps its event loop running in this thread for as long as it is
    started, and Django refuses database work in a thread with a running loop. So the browser
    lives for one module only (a later test, or anything calling async_to_sync, must not find
    the loop), and for that time the database work the tests do themselves (the world, the
    outbox checks, the flush after each transactional test) is allowed beside it. The live
    server and the Celery worker answer from threads of their own, where no loop runs."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server, world) -> Page:
    """A laptop-sized tab of the module's chromium on the live server, with the demo world. Where a
    story ends, the page it shows must pass axe's WCAG 2.1 A and AA rules."""
    context = live_context(browser, live_server)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    problems = page_violations(page, live_server.url)
    context.close()
    assert problems == [], f"{page.url} fails WCAG 2.1 AA"


def live_context(browser, live_server, **options) -> BrowserContext:
    """A browser's context on the live server, laptop-sized unless `options` say otherwise. The live
    server speaks WSGI, which cannot stream the async SSE view (a live page's stream would hold one
    of its threads until the run ends): its pages poll, as they do wherever EventSource is missing."""
    context = browser.new_context(base_url=live_server.url, **({"viewport": {"width": 1280, "height": 900}} | options))
    context.add_init_script("delete window.EventSource;")
    return context


def save_screenshot(page: Page, name: str) -> None:
    """The whole page in `screenshots/<name>.png`, for people to look at."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def submit_log_in(page: Page, email: str, password: str = demo.PASSWORD) -> None:
    """Fill in the log-in form and send it, whatever the portal answers."""
    page.goto("/accounts/login/")
    page.get_by_label("E-mail address", exact=True).fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def totp_code(secret: str = demo.DEMO_TOTP_SECRET, *, at: float | None = None) -> str:
    """The code an authenticator app on `secret` shows now (or at `at`)."""
    import time

    from allauth.mfa import app_settings as mfa_settings
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    counter = int(time.time() if at is None else at) // mfa_settings.TOTP_PERIOD
    return format_hotp_value(hotp_value(secret, counter))


def fresh_totp_code(user: User, secret: str = demo.DEMO_TOTP_SECRET) -> str:
    """Today's code, usable again: allauth refuses a code used once within its period, which a
    story that logs one person in twice within 30 seconds would otherwise meet."""
    from django.core.cache import cache

    code = totp_code(secret)
    cache.delete(f"allauth.mfa.totp.used?user={user.pk}&code={code}")
    return code


def give_code(page: Page, code: str) -> None:
    page.get_by_label("Code", exact=True).fill(code)
    page.get_by_role("button", name="Log in").click()


def log_in(page: Page, email: str) -> None:
    """Log in with the demo password (and the demo staff's authenticator code when asked), and
    wait until the portal shows the person logged in."""
    from allauth.mfa.models import Authenticator

    submit_log_in(page, email)
    user = User.objects.get(email=email)
    if Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        expect(page.get_by_role("heading", name="Your second factor")).to_be_visible()
        give_code(page, fresh_totp_code(user))
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def watcher(browser, live_server, email: str) -> Page:
    """`email` logged in, in a browser of their own, on a live page that polls (`live_context`)."""
    context = live_context(browser, live_server, viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    log_in(page, email)
    return page


def open_account_page(page: Page, label: str) -> None:
    """Open the person's own page `label` from the menu under their name in the top bar."""
    page.get_by_role("banner").locator("details.account-menu > summary").click()
    page.get_by_role("banner").get_by_role("link", name=label, exact=True).click()


def open_from_menu(page: Page, label: str) -> None:
    """Click the menu's entry `label`, whatever count of waiting work stands beside it."""
    import re

    page.get_by_role("banner").get_by_role("link", name=re.compile(rf"^{re.escape(label)}( \d+)?$")).click()
