"""How the pages and the API hold up with a thousand customers.

Run as `.venv/bin/python -m bench.pages` from the project's directory, with DATABASE_URL and
REDIS_URL set as for the tests.

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

import json
import os
import time

from bench import harness
from bench.harness import Probe, progress

harness.set_up_django(database="portal_bench")

import pghistory  # noqa: E402
from django.urls import Resolver404, resolve  # noqa: E402

from portal import credentials, demo  # noqa: E402
from portal.choices import ContactRole, Driver, Hosting, ServerRole, SupportRegion, TlsVersion  # noqa: E402
from portal.models import Contact, Deployment, Organisation, Server, ServerGroup, User  # noqa: E402

SMALL, BIG = 10, 1_000
DEPLOYMENTS_PER_ORGANISATION = 5
GROUPS_PER_DEPLOYMENT = 2
CONTACTS_PER_ORGANISATION = 5
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


# -- Reporting -------------------------------------------------------------------------------


def table(measured: list[Probe], rows: dict[str, int], repeat: int, load: list[float]) -> str:
    intro = [
        harness.rows_line(rows),
        f"Times over {repeat} requests each; q@N = queries per request with N bench organisations.",
        # Times are only comparable on a quiet machine: say how busy it was.
        f"Load average (1 min) before and after timing: {load[0]:.2f}, {load[1]:.2f} on {os.cpu_count()} CPUs.",
    ]
    return harness.table(measured, intro=intro, name=("request", 34), small=(f"q@{SMALL}", 6), big=(f"q@{BIG}", 7))


def summary(measured: list[Probe], rows: dict[str, int], repeat: int, load: list[float]) -> dict:
    return {
        **harness.verdict(measured, repeat),
        "load_average": load,
        "cpus": os.cpu_count(),
        "rows": rows,
        "endpoints": {f"{probe.persona} {probe.name}": harness.figures(probe) for probe in measured},
    }


def run(*, repeat: int, warm_up: int) -> tuple[list[Probe], dict[str, int], list[float]]:
    demo.seed()
    logged_in = harness.clients({
        "support": User.objects.get(email="support@vendor.example"),
        "customer": User.objects.get(email="lead@northwind.example"),
    })

    progress(f"filling {SMALL} organisations")
    fill(start=0, stop=SMALL)
    measured = probes()
    harness.measure_small(measured, logged_in)

    progress(f"filling up to {BIG} organisations")
    started = time.perf_counter()
    fill(start=SMALL, stop=BIG)
    harness.analyze()
    progress(f"filled in {time.perf_counter() - started:.0f} s; measuring")
    load = [os.getloadavg()[0]]
    harness.measure_big(measured, logged_in, repeat=repeat, warm_up=warm_up)
    load.append(os.getloadavg()[0])
    return measured, row_counts(), [round(value, 2) for value in load]



def main() -> None:
    arguments = harness.arguments(__doc__, per="URL")
    with harness.own_database():
        measured, rows, load = run(repeat=arguments.repeat, warm_up=arguments.warm_up)
    print(table(measured, rows, arguments.repeat, load))
    print(json.dumps(summary(measured, rows, arguments.repeat, load)))


if __name__ == "__main__":
    main()
