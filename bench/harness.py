"""What the benches share: Django set up for measuring, a database of the bench's own (made and
dropped with Django's test-database machinery), logged-in test clients, the query counts and
timings of each measured request, and the table and JSON that report them.

A bench calls `set_up_django` before it imports anything that needs the settings (models,
demo data), measures inside `own_database()`, and prints `table(...)` and then, as the last
line, `json.dumps(...)` of a dictionary that begins with `verdict(...)`.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import TYPE_CHECKING, Any

import django
from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext, setup_databases, teardown_databases

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

# The targets every measured request is held to.
MAX_QUERIES = 15
MAX_P95_MS = 150.0


def set_up_django(*, database: str) -> None:
    """Settings as the tests have them (plain HTTP, no static manifest), then `django.setup()`.

    `database` is the bench's own database: never the developer's, nor the tests' one, since
    `setup_databases` drops what it replaces."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production")
    os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "kX0c2n3Gxqz4w3kBJ2S4oE5VwTQpYJ7m8yqk0m4Q0aE=")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    os.environ.setdefault("STATIC_MANIFEST", "0")
    os.environ.setdefault("WHITENOISE_USE_FINDERS", "1")
    os.environ["TEST_DATABASE_NAME"] = database
    django.setup()


def arguments(description: str, *, per: str) -> argparse.Namespace:
    """`--repeat` and `--warm-up`; `description` is the bench's docstring (its first paragraph
    is shown), `per` what one timed request fetches ("URL", "page")."""
    parser = argparse.ArgumentParser(description=description.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=30, help=f"timed requests per {per} (default 30)")
    parser.add_argument("--warm-up", type=int, default=3, help="untimed requests before them (default 3)")
    return parser.parse_args()


@contextmanager
def own_database() -> Iterator[None]:
    """The bench's database, migrated and empty for the time of the block, dropped after it."""
    name = os.environ["TEST_DATABASE_NAME"]
    progress(f"creating the {name} database")
    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        if "testserver" not in settings.ALLOWED_HOSTS:
            settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        assert connection.settings_dict["NAME"] == name, connection.settings_dict["NAME"]
        yield
    finally:
        teardown_databases(old_config, verbosity=0)


def analyze() -> None:
    """Fresh planner statistics after a fill, as autovacuum would gather them."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def progress(message: str) -> None:
    print(f"… {message}", file=sys.stderr, flush=True)


# -- Measuring -------------------------------------------------------------------------------


@dataclass
class Probe:
    """One measured request: who asks for which URL, its query counts on the small and the big
    fill, and its times on the big one."""

    name: str
    persona: str
    url: str
    htmx: bool = False
    queries_small: int | None = None
    queries_big: int | None = None
    times_ms: list[float] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def clients(users: dict[str, "AbstractBaseUser"]) -> dict[str, Client]:
    """A test client logged in as each persona's user, keyed by persona."""
    logged_in = {}
    for persona, user in users.items():
        client = Client()
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        logged_in[persona] = client
    return logged_in


def get(client: Client, probe: Probe) -> HttpResponse:
    headers = {"HX-Request": "true"} if probe.htmx else {}
    response = client.get(probe.url, headers=headers)
    if response.status_code != 200:
        raise SystemExit(f"{probe.persona} GET {probe.url} answered {response.status_code}, not 200.")
    return response


def count_queries(client: Client, probe: Probe) -> int:
    get(client, probe)  # warm: first-use caches (content types, templates) are not the page's cost
    with CaptureQueriesContext(connection) as captured:
        get(client, probe)
    return len(captured.captured_queries)


def time_requests(client: Client, probe: Probe, *, repeat: int, warm_up: int) -> None:
    for _ in range(warm_up):
        get(client, probe)
    for _ in range(repeat):
        started = time.perf_counter()
        get(client, probe)
        probe.times_ms.append((time.perf_counter() - started) * 1000)


def measure_small(measured: list[Probe], logged_in: dict[str, Client]) -> None:
    """Query counts on the small fill."""
    for probe in measured:
        probe.queries_small = count_queries(logged_in[probe.persona], probe)


def measure_big(measured: list[Probe], logged_in: dict[str, Client], *, repeat: int, warm_up: int) -> None:
    """Query counts and times on the big fill."""
    for probe in measured:
        client = logged_in[probe.persona]
        probe.queries_big = count_queries(client, probe)
        time_requests(client, probe, repeat=repeat, warm_up=warm_up)


# -- Reporting -------------------------------------------------------------------------------


def problems(probe: Probe) -> list[str]:
    """Where a request misses its targets, or its queries grow with the rows (N+1)."""
    found = []
    if probe.queries_big > MAX_QUERIES:
        found.append(f"> {MAX_QUERIES} queries")
    if probe.queries_big > probe.queries_small:
        found.append("queries grow with rows")
    if probe.p95 >= MAX_P95_MS:
        found.append(f"p95 >= {MAX_P95_MS:.0f} ms")
    return found


def rows_line(rows: dict[str, int]) -> str:
    return "Rows on the big fill: " + ", ".join(f"{count:,} {name.replace('_', ' ')}" for name, count in rows.items())


def table(
    measured: list[Probe], *, intro: list[str], name: tuple[str, int], small: tuple[str, int], big: tuple[str, int]
) -> str:
    """`intro`, then a row per probe. `name`, `small` and `big` are the heading and width of the
    first column and of the query counts on the small and the big fill."""
    (name_head, name_width), (small_head, small_width), (big_head, big_width) = name, small, big
    head = (
        f"{name_head:{name_width}} {'as':9} {small_head:>{small_width}} {big_head:>{big_width}} "
        f"{'p50 ms':>8} {'p95 ms':>8}  verdict"
    )
    lines = [*intro, "", head, "-" * len(head)]
    for probe in measured:
        lines.append(
            f"{probe.name:{name_width}} {probe.persona:9} {probe.queries_small:>{small_width}} "
            f"{probe.queries_big:>{big_width}} {probe.p50:>8.1f} {probe.p95:>8.1f}  "
            f"{'; '.join(problems(probe)) or 'ok'}"
        )
    return "\n".join(lines)


def verdict(measured: list[Probe], repeat: int) -> dict[str, Any]:
    """The head of the JSON line: the worst figures and whether they are within the targets."""
    max_queries = max(probe.queries_big for probe in measured)
    p95_ms = max(probe.p95 for probe in measured)
    queries_grow = any(probe.queries_big > probe.queries_small for probe in measured)
    return {
        "max_queries": max_queries,
        "p95_ms": round(p95_ms, 1),
        "queries_grow": queries_grow,
        "within_targets": max_queries <= MAX_QUERIES and p95_ms < MAX_P95_MS and not queries_grow,
        "targets": {"max_queries": MAX_QUERIES, "p95_ms": MAX_P95_MS},
        "repeat": repeat,
    }


def figures(probe: Probe) -> dict[str, Any]:
    """One probe in the JSON line."""
    return {
        "url": probe.url,
        "queries_small": probe.queries_small,
        "queries_big": probe.queries_big,
        "p50_ms": round(probe.p50, 1),
        "p95_ms": round(probe.p95, 1),
    }


# -- The portal served as `make run` serves it, for benches that speak HTTP -------------------

SERVER_STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url() -> str:
    """DATABASE_URL pointed at the bench's own database, for the processes a bench starts."""
    from urllib.parse import urlsplit, urlunsplit

    url = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(url._replace(path="/" + connection.settings_dict["NAME"]))


def start_portal(port: int, log) -> subprocess.Popen:
    """The portal's web server (`portal.web`, its processes as `make run` runs them) on the
    bench's own database, pooled, its output in `log`; returns once /healthz answers."""
    import httpx

    environment = {
        **os.environ, "DATABASE_URL": database_url(), "DATABASE_POOL": "1", "DATABASE_POOL_SIZE": "8",
        "LOG_LEVEL": "ERROR",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "portal.web", "--bind", f"127.0.0.1:{port}"],
        env=environment, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + SERVER_STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            raise SystemExit(f"The web server stopped at start-up ({server.returncode}):\n{log.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"The web server did not answer within {SERVER_STARTUP_SECONDS} s.")


@contextmanager
def portal_served() -> Iterator[tuple[subprocess.Popen, str]]:
    """The portal's web server (`start_portal`) on a free loopback port for the length of the
    block: its process and its base URL. Stopped after the block, whatever happened in it."""
    port = free_port()
    progress(f"starting the web server on 127.0.0.1:{port}")
    with tempfile.TemporaryFile() as log:
        server = start_portal(port, log)
        try:
            yield server, f"http://127.0.0.1:{port}"
        finally:
            stop_process(server)


def cpu_seconds(pid: int) -> float:
    """User and system time that a process and its living descendants (the web server's worker
    processes) have used so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    stats[int(entry)] = stat.read().rsplit(")", 1)[1].split()
            except OSError:  # ended meanwhile
                pass
    family, grew = {pid}, True
    while grew:
        children = {child for child, fields in stats.items() if int(fields[1]) in family} - family
        family |= children
        grew = bool(children)
    return sum(int(stats[member][11]) + int(stats[member][12]) for member in family if member in stats) / ticks


def stop_process(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def a_running_run(*, opened_ago: timedelta = timedelta(0), hours: int = 2):
    """Northwind's upgrade to 10.0.0: its confirmed window, opened `opened_ago` ago and `hours`
    long, and its run as `run_create` plans it, running. Written directly: the benches need a run
    under way, not the way to one. Answers the run, the customer and the engineer."""
    from django.db.backends.postgresql.psycopg_any import DateTimeTZRange

    from portal.models import Deployment, User
    from scheduling import demo as scheduling_demo
    from scheduling.models import MaintenanceWindow
    from upgrades.choices import RunState
    from upgrades.models import Release, Run
    from upgrades.services import requests
    from upgrades.services.plans import run_create

    scheduling_demo.seed_world()
    customer = User.objects.get(email="lead@northwind.example")
    engineer = User.objects.get(email="engineer@vendor.example")
    deployment = Deployment.objects.get(organisation__slug="northwind")
    request = requests.request_create(deployment=deployment, release=Release.objects.get(version="10.0.0"), by=customer)
    start = datetime.now(dt_timezone.utc).replace(microsecond=0) - opened_ago
    window = MaintenanceWindow.objects.create(
        request=request, engineer=engineer, booked_by=customer, cover="standard", state="confirmed",
        period=DateTimeTZRange(start, start + timedelta(hours=hours)),
        held=DateTimeTZRange(start, start + timedelta(hours=hours + 1)),
    )
    run = run_create(window=window)
    Run.objects.filter(pk=run.pk).update(state=RunState.RUNNING, started_at=start, started_by=engineer)
    run.refresh_from_db()
    return run, customer, engineer


def signed_in(user):
    """A test client signed in as `user`, their second factor given as allauth's log-in records it
    (the demo staff have an authenticator app: without it their pages ask for it first)."""
    from allauth.account.internal.flows.login import record_authentication
    from allauth.mfa.models import Authenticator
    from django.test import Client, RequestFactory

    from portal.second_factor import FACTORS

    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    authenticator = Authenticator.objects.filter(user=user, type__in=FACTORS).first()
    if authenticator is not None:
        request = RequestFactory().get("/")
        request.session = client.session
        record_authentication(request, user, "mfa", id=authenticator.pk, type=authenticator.type)
        request.session.save()
    return client
