"""How the pages and the API hold up with a thousand customers.

Run as `.venv/bin/python bench/pages.py` with DATABASE_URL and REDIS_URL set as for the tests.

1. Create a fresh database of its own (`portal_bench`, Django's test-database machinery), apply
   the migrations and load the demo world (its users log in).
2. Fill 10 organisations and count the queries of every measured request.
3. Fill up to 1,000 organisations (5,000 deployments, 10,000 groups, 20,000 servers, 5,000
   contacts), ANALYZE as autovacuum would, count the queries again and time each request.
4. Print a table, then as the last line one JSON object with the figures; drop the database.

A request whose query count is higher on the big fill than on the small one runs queries per
row (N+1). Times are measured in-process through Django's test client: middleware, view,
queries and template or serializer, without the network and without opening a connection
(the test client keeps it).
"""

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "kX0c2n3Gxqz4w3kBJ2S4oE5VwTQpYJ7m8yqk0m4Q0aE=")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("STATIC_MANIFEST", "0")
os.environ.setdefault("WHITENOISE_USE_FINDERS", "1")
# Never the developer's database, nor the tests' one: setup_databases drops what it replaces.
os.environ["TEST_DATABASE_NAME"] = "portal_bench"

import django  # noqa: E402

django.setup()

import pghistory  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_databases, teardown_databases  # noqa: E402
from django.urls import Resolver404, resolve  # noqa: E402

from portal import credentials, demo  # noqa: E402
from portal.choices import ContactRole, Driver, Hosting, ServerRole, SupportRegion, TlsVersion  # noqa: E402
from portal.models import Contact, Deployment, Organisation, Server, ServerGroup, User  # noqa: E402

SMALL, BIG = 10, 1_000
DEPLOYMENTS_PER_ORGANISATION = 5
GROUPS_PER_DEPLOYMENT = 2
CONTACTS_PER_ORGANISATION = 5
MAX_QUERIES = 15
MAX_P95_MS = 150.0
REGIONS = [SupportRegion.EUROPE, SupportRegion.AMERICAS, SupportRegion.ASIA_PACIFIC]
ZONES = ["Europe/London", "America/New_York", "Australia/Sydney"]
CONTACT_ROLES = list(ContactRole)


# -- Filling ---------------------------------------------------------------------------------


def fill(*, start: int, stop: int) -> None:
    """Organisations number `start` to `stop - 1`, each with its contacts and fleet."""
    with pghistory.context(source="bench"):
        organisations = Organisation.objects.bulk_create(
            [
                Organisation(
                    name=f"Bench Organisation {n:04d}", slug=f"bench-{n:04d}",
                    hosting=Hosting.CLOUD if n % 4 == 0 else Hosting.ON_PREMISES,
                    time_zone=ZONES[n % 3], support_region=REGIONS[n % 3],
                )
                for n in range(start, stop)
            ],
            batch_size=1000,
        )
        Contact.objects.bulk_create(
            [
                Contact(
                    organisation=organisation, name=f"Person {i} of {organisation.name}",
                    email=f"person{i}@{organisation.slug}.example", phone=f"+44 20 7946 {i:04d}",
                    time_zone=organisation.time_zone, roles=[CONTACT_ROLES[i % len(CONTACT_ROLES)]],
                )
                for organisation in organisations
                for i in range(CONTACTS_PER_ORGANISATION)
            ],
            batch_size=2000,
        )
        _fill_fleet(organisations)


def _fill_fleet(organisations: list[Organisation]) -> None:
    deployments = Deployment.objects.bulk_create(
        [
            Deployment(
                organisation=organisation, name=f"Deployment {i}",
                cloudpaging_version="9.4.2", openjdk_version="17.0.10", tomcat_version="9.0.85",
                load_balancer_vendor="A10" if i == 0 else "F5", load_balancer_model="AX2500" if i == 0 else "BIG-IP",
                health_checks=True, min_tls_version=TlsVersion.TLS_1_0 if i == 0 else TlsVersion.TLS_1_2,
                service_url=f"https://apps{i}.{organisation.slug}.example",
            )
            for organisation in organisations
            for i in range(DEPLOYMENTS_PER_ORGANISATION)
        ],
        batch_size=2000,
    )
    groups = ServerGroup.objects.bulk_create(
        [
            ServerGroup(deployment=deployment, position=position)
            for deployment in deployments
            for position in range(1, GROUPS_PER_DEPLOYMENT + 1)
        ],
        batch_size=2000,
    )
    # One sealed token for all: what matters here is its size in the rows, not its value.
    token = credentials.seal("bench-ssh-secret")
    Server.objects.bulk_create(
        [
            Server(
                deployment_id=group.deployment_id, group=group, role=role,
                hostname=f"{prefix}{group.position:02d}.d{group.deployment_id}.example",
                address=f"10.{group.deployment_id % 250}.{group.position}.{10 + offset}", port=22,
                driver=Driver.SSH, username="svc-upgrade", secret_token=token,
            )
            for group in groups
            for offset, (role, prefix) in enumerate(((ServerRole.ADMIN_LICENSE, "cpadmin"), (ServerRole.STREAM, "cpstream")))
        ],
        batch_size=2000,
    )


def row_counts() -> dict[str, int]:
    models = {"organisations": Organisation, "contacts": Contact, "deployments": Deployment,
              "server_groups": ServerGroup, "servers": Server}
    return {name: model.objects.count() for name, model in models.items()}


# -- Measuring -------------------------------------------------------------------------------


@dataclass
class Probe:
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


def probes() -> list[Probe]:
    organisation = Organisation.objects.get(slug="bench-0000")
    deployment = Deployment.objects.filter(organisation=organisation).order_by("pk").first()
    pages = [
        Probe("organisation list, page 1", "support", "/organisations/"),
        Probe("organisation list, search", "support", "/organisations/?q=Organisation+00"),
        Probe("organisation list, htmx search", "support", "/organisations/?q=Organisation+00", htmx=True),
        Probe("organisation detail", "support", f"/organisations/{organisation.slug}/"),
        Probe("deployment detail", "support", f"/deployments/{deployment.pk}/"),
        Probe("organisation detail", "customer", "/organisations/northwind/"),
    ]
    endpoints = ["organisations", "contacts", "deployments", "servers", "server-groups"]
    api = [Probe(f"API {path}/", persona, f"/api/v1/{path}/") for persona in ("support", "customer") for path in endpoints]
    return [probe for probe in pages + api if exists(probe.url)]


def exists(url: str) -> bool:
    """An API endpoint not written yet is left out, and named in the output."""
    try:
        resolve(url.split("?")[0])
    except Resolver404:
        progress(f"{url} does not exist (yet): not measured")
        return False
    return True


def clients() -> dict[str, Client]:
    logged_in = {}
    for persona, email in (("support", "support@vendor.example"), ("customer", "lead@northwind.example")):
        client = Client()
        client.force_login(User.objects.get(email=email), backend="django.contrib.auth.backends.ModelBackend")
        logged_in[persona] = client
    return logged_in


def get(client: Client, probe: Probe):
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


# -- Reporting -------------------------------------------------------------------------------


def table(measured: list[Probe], rows: dict[str, int], repeat: int, load: list[float]) -> str:
    head = f"{'request':34} {'as':9} {'q@' + str(SMALL):>6} {'q@' + str(BIG):>7} {'p50 ms':>8} {'p95 ms':>8}  verdict"
    lines = [
        "Rows on the big fill: " + ", ".join(f"{count:,} {name.replace('_', ' ')}" for name, count in rows.items()),
        f"Times over {repeat} requests each; q@N = queries per request with N bench organisations.",
        # Times are only comparable on a quiet machine: say how busy it was.
        f"Load average (1 min) before and after timing: {load[0]:.2f}, {load[1]:.2f} on {os.cpu_count()} CPUs.",
        "",
        head,
        "-" * len(head),
    ]
    for probe in measured:
        problems = []
        if probe.queries_big > MAX_QUERIES:
            problems.append(f"> {MAX_QUERIES} queries")
        if probe.queries_big > probe.queries_small:
            problems.append("queries grow with rows")
        if probe.p95 >= MAX_P95_MS:
            problems.append(f"p95 >= {MAX_P95_MS:.0f} ms")
        lines.append(
            f"{probe.name:34} {probe.persona:9} {probe.queries_small:>6} {probe.queries_big:>7} "
            f"{probe.p50:>8.1f} {probe.p95:>8.1f}  {'; '.join(problems) or 'ok'}"
        )
    return "\n".join(lines)


def summary(measured: list[Probe], rows: dict[str, int], repeat: int, load: list[float]) -> dict:
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
        "load_average": load,
        "cpus": os.cpu_count(),
        "rows": rows,
        "endpoints": {
            f"{probe.persona} {probe.name}": {
                "url": probe.url,
                "queries_small": probe.queries_small,
                "queries_big": probe.queries_big,
                "p50_ms": round(probe.p50, 1),
                "p95_ms": round(probe.p95, 1),
            }
            for probe in measured
        },
    }


def run(*, repeat: int, warm_up: int) -> tuple[list[Probe], dict[str, int], list[float]]:
    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    assert connection.settings_dict["NAME"] == "portal_bench", connection.settings_dict["NAME"]
    demo.seed()
    logged_in = clients()

    progress(f"filling {SMALL} organisations")
    fill(start=0, stop=SMALL)
    measured = probes()
    for probe in measured:
        probe.queries_small = count_queries(logged_in[probe.persona], probe)

    progress(f"filling up to {BIG} organisations")
    started = time.perf_counter()
    fill(start=SMALL, stop=BIG)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    progress(f"filled in {time.perf_counter() - started:.0f} s; measuring")
    load = [os.getloadavg()[0]]
    for probe in measured:
        client = logged_in[probe.persona]
        probe.queries_big = count_queries(client, probe)
        time_requests(client, probe, repeat=repeat, warm_up=warm_up)
    load.append(os.getloadavg()[0])
    return measured, row_counts(), [round(value, 2) for value in load]


def progress(message: str) -> None:
    print(f"… {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per URL (default 30)")
    parser.add_argument("--warm-up", type=int, default=3, help="untimed requests before them (default 3)")
    arguments = parser.parse_args()

    progress("creating the portal_bench database")
    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        measured, rows, load = run(repeat=arguments.repeat, warm_up=arguments.warm_up)
    finally:
        teardown_databases(old_config, verbosity=0)
    print(table(measured, rows, arguments.repeat, load))
    print(json.dumps(summary(measured, rows, arguments.repeat, load)))


if __name__ == "__main__":
    main()
