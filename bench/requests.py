"""How the upgrade request pages hold up with 2,000 open requests.

Run as `.venv/bin/python -m bench.requests` from the project's directory, with DATABASE_URL and
REDIS_URL set as for the tests (as a script, this file would shadow the `requests` library).

1. Create a fresh database of its own (`portal_bench_requests`, Django's test-database
   machinery; the `portal` database is never touched), apply the migrations and load the demo
   world and releases.
2. Small fill: 2 organisations, 10 open requests with 12 checklist items each, their timelines
   and notices. Count the queries of every measured page.
3. Big fill: up to 400 organisations and 2,000 open requests (one per deployment, as the
   database requires), 24,000 items; the measured requests get a longer timeline, more
   attachments and notices, and the measured customer more closed requests. ANALYZE as
   autovacuum would, count the queries again and time each page.
4. Print a table, then as the last line one JSON object with the figures; drop the database.

A page whose query count is higher on the big fill than on the small one runs queries per row
(N+1). Times are measured in-process through Django's test client: middleware, view, queries
and template, without the network and without opening a connection (the test client keeps it).
"""

import json
import time
from dataclasses import dataclass
from datetime import timedelta

from bench import harness
from bench.harness import Probe, progress

harness.set_up_django(database="portal_bench_requests")

import pghistory  # noqa: E402
from django.utils import timezone  # noqa: E402

from portal import demo  # noqa: E402
from portal.choices import ContactRole, Driver, Hosting, NoticeState, Role, ServerRole, SupportRegion, TlsVersion  # noqa: E402
from portal.models import Contact, Deployment, Notice, Organisation, Server, ServerGroup, User  # noqa: E402
from upgrades import demo as upgrades_demo  # noqa: E402
from upgrades.choices import (  # noqa: E402
    OPEN_REQUEST_STATES, CheckOutcome, ItemSection, ItemState, RequestState, UpgradeKind,
)
from upgrades.models import ChecklistItem, ItemAttachment, Release, RequestEvent, UpgradeRequest  # noqa: E402

SMALL_ORGANISATIONS, BIG_ORGANISATIONS = 2, 400
DEPLOYMENTS_PER_ORGANISATION = 5  # so 10 and 2,000 open requests
ITEMS_PER_REQUEST = 12
ZONES = ["Europe/London", "America/New_York", "Australia/Sydney"]
REGIONS = [SupportRegion.EUROPE, SupportRegion.AMERICAS, SupportRegion.ASIA_PACIFIC]
# How the open requests spread over the states: every ten in a row hold each state (30 %
# drafts, 20 % submitted, 20 % in review, 20 % check scheduled, 10 % approved).
STATE_PATTERN = [
    RequestState.DRAFT, RequestState.IN_REVIEW, RequestState.SUBMITTED, RequestState.CHECK_SCHEDULED,
    RequestState.DRAFT, RequestState.IN_REVIEW, RequestState.SUBMITTED, RequestState.APPROVED,
    RequestState.DRAFT, RequestState.CHECK_SCHEDULED,
]
DESK = ["support@vendor.example", "desk2@vendor.example", "desk3@vendor.example", "desk4@vendor.example"]


# -- Filling ---------------------------------------------------------------------------------


def fill_organisations(*, start: int, stop: int) -> list[Deployment]:
    """Organisations `start` to `stop - 1`, each with contacts, a customer user (the lead),
    five deployments of two server groups; returns the deployments."""
    organisations = Organisation.objects.bulk_create(
        [
            Organisation(
                name=f"Bench Organisation {n:04d}", slug=f"bench-{n:04d}", hosting=Hosting.ON_PREMISES,
                time_zone=ZONES[n % 3], support_region=REGIONS[n % 3],
            )
            for n in range(start, stop)
        ],
        batch_size=1000,
    )
    roles = list(ContactRole)
    contacts = Contact.objects.bulk_create(
        [
            Contact(
                organisation=organisation, name=f"Person {i} of {organisation.name}",
                email=f"person{i}@{organisation.slug}.example", phone=f"+44 20 7946 {i:04d}",
                time_zone=organisation.time_zone, roles=[roles[i % len(roles)]],
            )
            for organisation in organisations
            for i in range(5)
        ],
        batch_size=2000,
    )
    User.objects.bulk_create(
        [
            User(email=f"lead@{contact.organisation.slug}.example", full_name=contact.name, role=Role.CUSTOMER,
                 contact=contact, time_zone=contact.time_zone, password="!bench")
            for contact in contacts
            if contact.roles == [ContactRole.LEAD]
        ],
        batch_size=2000,
    )
    deployments = Deployment.objects.bulk_create(
        [
            Deployment(
                organisation=organisation, name=f"Deployment {i}", cloudpaging_version="9.4.2",
                openjdk_version="17.0.10", tomcat_version="9.0.85", load_balancer_vendor="F5",
                load_balancer_model="BIG-IP", health_checks=True, min_tls_version=TlsVersion.TLS_1_2,
                service_url=f"https://apps{i}.{organisation.slug}.example",
            )
            for organisation in organisations
            for i in range(DEPLOYMENTS_PER_ORGANISATION)
        ],
        batch_size=2000,
    )
    groups = ServerGroup.objects.bulk_create(
        [ServerGroup(deployment=deployment, position=position) for deployment in deployments for position in (1, 2)],
        batch_size=2000,
    )
    Server.objects.bulk_create(
        [
            Server(
                deployment_id=group.deployment_id, group=group, role=role,
                hostname=f"{prefix}{group.position:02d}.d{group.deployment_id}.example",
                address=f"10.{group.deployment_id % 250}.{group.position}.{10 + offset}", port=22,
                driver=Driver.SSH, username="svc-upgrade",
            )
            for group in groups
            for offset, (role, prefix) in enumerate(((ServerRole.ADMIN_LICENSE, "cpadmin"), (ServerRole.STREAM, "cpstream")))
        ],
        batch_size=4000,
    )
    return deployments


def _item_state(request_state: str, position: int) -> str:
    if request_state == RequestState.DRAFT:
        return ItemState.PROVIDED if position <= 6 else ItemState.MISSING
    if request_state == RequestState.SUBMITTED:
        return ItemState.PROVIDED
    if request_state == RequestState.IN_REVIEW:
        return ItemState.SENT_BACK if position == 5 else ItemState.ACCEPTED if position <= 8 else ItemState.PROVIDED
    return ItemState.ACCEPTED


def _items(request: UpgradeRequest, servers: list[int], *, customer: User, reviewer: User) -> list[ChecklistItem]:
    """Twelve items as the checklist service would make them: three contacts, six
    prerequisites, two directory backups (one per server) and the measured reachability."""
    specs = [
        (f"contact:{role}", ItemSection.CONTACTS, f"{role.label}, available during the window", None, True)
        for role in (ContactRole.LEAD, ContactRole.APPLICATION_ADMIN, ContactRole.LOAD_BALANCER_ADMIN)
    ] + [
        ("remote_access", ItemSection.ACCESS, "Remote access method agreed", None, True),
        ("test_machine", ItemSection.ACCESS, "Test machine and test user account", None, True),
        ("installation_files", ItemSection.FILES, "Installation files on an accessible share", None, True),
        ("vm_snapshots", ItemSection.BACKUPS, "VM snapshots immediately before the upgrade", None, True),
        ("streamdb_backup", ItemSection.BACKUPS, "Full backup of the StreamDB database", None, True),
        ("repository_validation", ItemSection.REPOSITORY, "Repository validated", None, True),
    ] + [
        (f"directory_backup:{server}", ItemSection.BACKUPS, f"Backup of the directories on server {server}", server, True)
        for server in servers[:2]
    ] + [("servers_reachable", ItemSection.SERVERS, "Servers reachable at the expected versions", None, False)]
    now = timezone.now()
    items = []
    for position, (key, section, title, server, required) in enumerate(specs, start=1):
        state = _item_state(request.state, position)
        provided = state != ItemState.MISSING
        reviewed = state in (ItemState.ACCEPTED, ItemState.SENT_BACK)
        items.append(ChecklistItem(
            request=request, key=key, section=section, position=position, title=title, server_id=server,
            required=required, guidance="What the engineer needs, and why.", state=state,
            evidence="Described in our runbook, section 4." if provided else "",
            provided_by=customer if provided else None, provided_at=now if provided else None,
            reviewed_by=reviewer if reviewed else None, reviewed_at=now if reviewed else None,
            review_note="Which account? Please name it." if state == ItemState.SENT_BACK else "",
        ))
    assert len(items) == ITEMS_PER_REQUEST
    return items


def _servers_of(deployments: list[Deployment]) -> dict[int, list[int]]:
    servers: dict[int, list[int]] = {}
    rows = Server.objects.filter(deployment__in=deployments).order_by("pk").values_list("deployment_id", "pk")
    for deployment_id, server_id in rows:
        servers.setdefault(deployment_id, []).append(server_id)
    return servers


def fill_requests(deployments: list[Deployment], *, desk: list[User], offset: int) -> list[UpgradeRequest]:
    """One open request per deployment, its items, a short timeline and two notices."""
    major = Release.objects.get(version="10.0.0")
    minor = Release.objects.get(version="9.5.0")
    engineer = User.objects.get(email="engineer@vendor.example")
    customers = User.objects.filter(role=Role.CUSTOMER).select_related("contact")
    leads = {user.contact.organisation_id: user for user in customers}
    now = timezone.now()
    requests = []
    for n, deployment in enumerate(deployments, start=offset):
        state = STATE_PATTERN[n % len(STATE_PATTERN)]
        release = major if n % 3 else minor
        taken = state not in (RequestState.DRAFT, RequestState.SUBMITTED)
        checked = state in (RequestState.CHECK_SCHEDULED, RequestState.APPROVED)
        # Each ten go to one support person in turn: the first ten to support@vendor.example.
        assignee = desk[n // len(STATE_PATTERN) % len(desk)] if taken else None
        requests.append(UpgradeRequest(
            deployment=deployment, release=release, from_version="9.4.2",
            kind=UpgradeKind.MAJOR if release is major else UpgradeKind.MINOR, state=state,
            requested_by=leads[deployment.organisation_id], assignee=assignee,
            submitted_at=None if state == RequestState.DRAFT else now,
            check_at=now + timedelta(days=3) if checked else None,
            check_engineer=engineer if checked else None,
            check_outcome=CheckOutcome.PASSED if state == RequestState.APPROVED else "",
        ))
    requests = UpgradeRequest.objects.bulk_create(requests, batch_size=2000)
    # state_changed_at is auto_now_add: spread it so the queue has an order to keep.
    for n, request in enumerate(requests):
        request.state_changed_at = now - timedelta(minutes=7 * (offset + n))
    UpgradeRequest.objects.bulk_update(requests, ["state_changed_at"], batch_size=2000)
    servers = _servers_of(deployments)
    ChecklistItem.objects.bulk_create(
        [
            item
            for request in requests
            for item in _items(
                request, servers[request.deployment_id], customer=request.requested_by, reviewer=request.assignee or desk[0]
            )
        ],
        batch_size=4000,
    )
    RequestEvent.objects.bulk_create(
        [
            RequestEvent(request=request, actor=request.requested_by, action=action, to_state=to_state)
            for request in requests
            for action, to_state in (("create", RequestState.DRAFT), ("submit", RequestState.SUBMITTED))
        ],
        batch_size=4000,
    )
    Notice.objects.bulk_create(
        [
            Notice(key=f"request-event:bench-{request.pk}-{i}", topic=f"upgrades.upgraderequest:{request.pk}",
                   recipient=address, subject="Upgrade request submitted", body="Bench.", state=NoticeState.SENT,
                   attempts=1, sent_at=now)
            for request in requests
            for i, address in enumerate(("support@vendor.example", request.requested_by.email))
        ],
        batch_size=4000,
    )
    return requests


def deepen(request: UpgradeRequest, *, events: int, attachments: int, notices: int, start: int = 0) -> None:
    """More history on one measured request: what grows on a request page as it is worked on."""
    items = list(request.items.order_by("position"))
    desk = request.assignee or User.objects.get(email=DESK[0])
    RequestEvent.objects.bulk_create([
        RequestEvent(request=request, actor=desk if i % 2 else request.requested_by,
                     action="item_accepted" if i % 2 else "item_provided", item=items[i % len(items)])
        for i in range(start, start + events)
    ])
    ItemAttachment.objects.bulk_create([
        ItemAttachment(item=items[i % len(items)], name=f"evidence-{i}.txt", content_type="text/plain", size=2048,
                       content=b"x" * 2048, uploaded_by=request.requested_by)
        for i in range(start, start + attachments)
    ])
    Notice.objects.bulk_create([
        Notice(key=f"bench-deepen:{request.pk}:{i}", topic=f"upgrades.upgraderequest:{request.pk}",
               recipient=f"person{i}@bench.example", subject="Checklist item updated", body="Bench.",
               state=NoticeState.SENT, attempts=1, sent_at=timezone.now())
        for i in range(start, start + notices)
    ])


def closed_history(organisation: Organisation, *, count: int, desk: list[User]) -> None:
    """Withdrawn requests of one organisation: what piles up in a customer's "my upgrades"."""
    deployments = list(organisation.deployments.order_by("pk"))
    lead = User.objects.get(email=f"lead@{organisation.slug}.example")
    release = Release.objects.get(version="10.0.0")
    requests = UpgradeRequest.objects.bulk_create([
        UpgradeRequest(deployment=deployments[i % len(deployments)], release=release, from_version="9.4.2",
                       kind=UpgradeKind.MAJOR, state=RequestState.WITHDRAWN, requested_by=lead,
                       decision_reason="Postponed to the next term.")
        for i in range(count)
    ])
    servers = _servers_of(deployments)
    ChecklistItem.objects.bulk_create([
        item for request in requests
        for item in _items(request, servers[request.deployment_id], customer=lead, reviewer=desk[0])
    ])


def make_desk() -> list[User]:
    """The demo's support person and three colleagues, so assignments spread over four people."""
    User.objects.bulk_create(
        [User(email=email, full_name=f"Desk {email[:5]}", role=Role.SUPPORT, time_zone="Europe/London", password="!bench")
         for email in DESK[1:]],
        ignore_conflicts=True,
    )
    return [User.objects.get(email=email) for email in DESK]


def row_counts() -> dict[str, int]:
    return {
        "organisations": Organisation.objects.count(),
        "deployments": Deployment.objects.count(),
        "servers": Server.objects.count(),
        "open_requests": UpgradeRequest.objects.filter(state__in=OPEN_REQUEST_STATES).count(),
        "requests": UpgradeRequest.objects.count(),
        "checklist_items": ChecklistItem.objects.count(),
        "request_events": RequestEvent.objects.count(),
        "notices": Notice.objects.count(),
        "submitted_unassigned": UpgradeRequest.objects.filter(state=RequestState.SUBMITTED, assignee__isnull=True).count(),
        "mine_for_support": UpgradeRequest.objects.filter(
            assignee__email=DESK[0], state__in=[RequestState.IN_REVIEW, RequestState.CHECK_SCHEDULED]
        ).count(),
    }


# -- Measuring -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subjects:
    """The rows the probes look at, chosen on the small fill and kept for the big one."""

    desk_request: UpgradeRequest  # check scheduled, assigned to support@vendor.example
    customer_request: UpgradeRequest  # in review, with an item sent back
    customer: User


def subjects() -> Subjects:
    organisation = Organisation.objects.get(slug="bench-0000")
    return Subjects(
        desk_request=UpgradeRequest.objects.filter(
            assignee__email=DESK[0], state=RequestState.CHECK_SCHEDULED
        ).earliest("pk"),
        customer_request=UpgradeRequest.objects.filter(
            deployment__organisation=organisation, state=RequestState.IN_REVIEW
        ).earliest("pk"),
        customer=User.objects.get(email=f"lead@{organisation.slug}.example"),
    )


def probes(chosen: Subjects) -> list[Probe]:
    item = chosen.customer_request.items.get(key="test_machine")
    return [
        Probe("queue, page 1", "support", "/requests/"),
        Probe("queue, submitted + nobody", "support", "/requests/?state=submitted&assignee=nobody"),
        Probe("queue, filter (htmx)", "support", "/requests/?state=in_review&state=check_scheduled&assignee=me", htmx=True),
        # Matches on both fills (2 organisations, then 10), so the counts compare like for like.
        Probe("queue, search", "support", "/requests/?q=Bench+Organisation+000"),
        Probe("queue, page 40", "support", "/requests/?page=40"),
        Probe("waiting for me", "support", "/support/waiting/"),
        Probe("request page", "support", f"/requests/{chosen.desk_request.pk}/"),
        Probe("my upgrades", "customer", "/requests/"),
        Probe("request page", "customer", f"/requests/{chosen.customer_request.pk}/"),
        Probe("checklist item (htmx)", "customer", f"/items/{item.pk}/?edit=1", htmx=True),
    ]


# -- Reporting -------------------------------------------------------------------------------


def table(measured: list[Probe], rows: dict[str, int], repeat: int) -> str:
    intro = [
        harness.rows_line(rows),
        f"Times over {repeat} requests each; q small / q big = queries per request on the "
        f"{SMALL_ORGANISATIONS * DEPLOYMENTS_PER_ORGANISATION}-request and the big fill.",
    ]
    return harness.table(measured, intro=intro, name=("page", 30), small=("q small", 7), big=("q big", 6))


def summary(measured: list[Probe], rows: dict[str, int], repeat: int) -> dict:
    return {
        **harness.verdict(measured, repeat),
        "rows": rows,
        "pages": {
            f"{probe.persona} {probe.name}": {**harness.figures(probe), "problems": harness.problems(probe)}
            for probe in measured
        },
    }


def run(*, repeat: int, warm_up: int) -> tuple[list[Probe], dict[str, int]]:
    demo.seed()
    upgrades_demo.seed()

    with pghistory.context(source="bench"):
        desk = make_desk()
        progress(f"small fill: {SMALL_ORGANISATIONS * DEPLOYMENTS_PER_ORGANISATION} requests")
        fill_requests(fill_organisations(start=0, stop=SMALL_ORGANISATIONS), desk=desk, offset=0)
        chosen = subjects()
        for request in (chosen.desk_request, chosen.customer_request):
            deepen(request, events=10, attachments=2, notices=2)
    logged_in = harness.clients({"support": User.objects.get(email=DESK[0]), "customer": chosen.customer})
    measured = probes(chosen)
    harness.measure_small(measured, logged_in)

    started = time.perf_counter()
    with pghistory.context(source="bench"):
        progress(f"big fill: up to {BIG_ORGANISATIONS * DEPLOYMENTS_PER_ORGANISATION} open requests")
        deployments = fill_organisations(start=SMALL_ORGANISATIONS, stop=BIG_ORGANISATIONS)
        fill_requests(deployments, desk=desk, offset=SMALL_ORGANISATIONS * DEPLOYMENTS_PER_ORGANISATION)
        for request in (chosen.desk_request, chosen.customer_request):
            deepen(request, events=50, attachments=10, notices=20, start=10)
        closed_history(chosen.customer.contact.organisation, count=60, desk=desk)
    harness.analyze()
    progress(f"filled in {time.perf_counter() - started:.0f} s; measuring")
    harness.measure_big(measured, logged_in, repeat=repeat, warm_up=warm_up)
    return measured, row_counts()


def main() -> None:
    arguments = harness.arguments(__doc__, per="page")
    with harness.own_database():
        measured, rows = run(repeat=arguments.repeat, warm_up=arguments.warm_up)
    print(table(measured, rows, arguments.repeat))
    print(json.dumps(summary(measured, rows, arguments.repeat)))


if __name__ == "__main__":
    main()
