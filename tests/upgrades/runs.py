"""What the run stories share: the run of a window open now, planned by the service, for the page
and report tests, which are about what people see; and, for the engine's stories, a lab
deployment on loopback, a confirmed window open now, the people playing their part on the live
page, and the lab's journal and record of its pools read back."""

import time
from datetime import datetime, timedelta

from django.utils import timezone

from portal.choices import ServerPlatform, ServerRole
from portal.models import Deployment, Organisation, Server, User
from scheduling.models import MaintenanceWindow
from tests.conftest import wait_for
from tests.factories import DeploymentFactory, MaintenanceWindowFactory, RunFactory
from tests.upgrades.conftest import QUICK_HEALTH_CHECKS, VERSION_9_4, Lab, on_the_lab
from upgrades.choices import ReadinessKind, RunState, StepState
from upgrades.models import LiveEvent, Release, Run
from upgrades.procedure import StepKind
from upgrades.runflow import FINISHED_RUN_STATES
from upgrades.services.readiness import preflight_run, readiness_confirm, readiness_needed
from upgrades.services.runs import run_sign_off, run_start, step_confirm


def open_run(*, deployment: Deployment, release: Release, by: User, hours: float = 2, **fields) -> Run:
    """The run of a confirmed window of `deployment`'s upgrade to `release` (requested by `by`,
    Erin Walsh its engineer) that opened five minutes ago, planned as `run_create` plans it;
    `fields` go to RunFactory."""
    return RunFactory(
        window__request__deployment=deployment, window__request__release=release, window__request__requested_by=by,
        window__engineer=User.objects.get(email="engineer@vendor.example"), window__length=timedelta(hours=hours),
        **fields,
    )


def print_lines(run: Run, count: int, *, text: str = "line {n:05d}", step=None, special: dict | None = None) -> None:
    """`count` log lines after the run's last event, numbered as the engine numbers them, written
    at once (the engine's event_emit has its own tests); `special` puts other words on some."""
    run.refresh_from_db()
    first = run.next_seq
    at = timezone.now() - timedelta(hours=1)
    LiveEvent.objects.bulk_create(
        LiveEvent(run=run, seq=first + n, at=at + timedelta(milliseconds=n), kind="log", step=step,
                  text=(special or {}).get(n + 1, text.format(n=n + 1)))
        for n in range(count)
    )
    Run.objects.filter(pk=run.pk).update(next_seq=first + count)
    run.refresh_from_db()


def lab_deployment(start_lab, organisation: Organisation, *, groups: int, name: str, op_seconds: float = 0.0,
                   health_checks: bool = True, timing: dict = QUICK_HEALTH_CHECKS) -> tuple[Deployment, Lab]:
    """A registered deployment of `groups` groups whose servers are lab servers on free ports,
    behind a lab load balancer that its service address points at (its health checks' `timing`:
    on_the_lab's)."""
    deployment = DeploymentFactory(
        organisation=organisation, name=name, load_balancer_model="BIG-IP", health_checks=health_checks,
        server_platform=ServerPlatform.VIRTUAL, service_url="http://127.0.0.1:1",
        **{f"{component}_version": version for component, version in VERSION_9_4.items()},
        server_groups=groups, server_groups__servers__port=1,
    )
    lab = on_the_lab(start_lab, deployment, op_seconds=op_seconds, health_checks=timing)
    wait_for(lambda: all(member["in_pool"] for member in lab.control.status()["members"]))
    return deployment, lab


def confirmed_window(deployment: Deployment, release: Release, *, engineer, customer) -> MaintenanceWindow:
    """An approved request and its confirmed window, open since a minute ago (booking has tests
    of its own)."""
    return MaintenanceWindowFactory(
        request__deployment=deployment, request__release=release, request__requested_by=customer, engineer=engineer,
        start=timezone.now() - timedelta(minutes=1),
    )


def make_ready(run: Run, *, customer, engineer) -> None:
    """What S11 asks for immediately before the upgrade, recorded as the people and the preflight
    record it: the customer's snapshots, the engineer's StreamDB backup, the preflight through the
    drivers (the deployment's servers must answer)."""
    needed = readiness_needed(run)
    if ReadinessKind.SNAPSHOTS in needed:
        readiness_confirm(run=run, kind=ReadinessKind.SNAPSHOTS, by=customer, note="Snapshots in vCenter, 08:55")
    if ReadinessKind.BACKUP in needed:
        readiness_confirm(run=run, kind=ReadinessKind.BACKUP, by=engineer, note="streamdb-full.bak on the share")
    assert preflight_run(run_id=run.pk, by_id=engineer.pk), run.readiness.get(kind=ReadinessKind.PREFLIGHT).note


def start(run: Run, *, engineer, customer) -> Run:
    """The engineer starts the run once it is ready."""
    make_ready(run, customer=customer, engineer=engineer)
    return run_start(run=run, by=engineer)


def drive(run: Run, *, engineer, administrator, lead, timeout: float = 90.0) -> Run:
    """Play the people on the live page: the engineer and the customer's administrator confirm
    each functionality test as it waits; the lead contact signs off at the end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.state in FINISHED_RUN_STATES:
            return run
        if run.state == RunState.PAUSED:
            failed = run.steps.filter(state__in=[StepState.FAILED, StepState.INTERRUPTED]).first()
            raise AssertionError(f"the run paused on {failed}: {failed.error if failed else '?'}")
        waiting = run.steps.filter(state=StepState.WAITING).first()
        if waiting is None:
            time.sleep(0.05)
        elif waiting.kind == StepKind.SIGN_OFF:
            run_sign_off(run=run, by=lead, name=lead.full_name, comment="Tested from the library PCs: all good.")
        else:
            step_confirm(step=waiting, by=engineer)
            step_confirm(step=waiting, by=administrator, note="The test machine launches Adobe Reader")
    raise AssertionError(f"the run did not end within {timeout} s")


def versions_on_the_lab(lab: Lab) -> set[str]:
    return {member["versions"]["cloudpaging"] for member in lab.control.status()["members"]}


def applied(lab: Lab) -> dict[tuple[str, str], int]:
    """How many times the lab servers applied each operation (the journal's ok entries)."""
    counts: dict[tuple[str, str], int] = {}
    for entry in lab.control.journal():
        if entry["outcome"] == "ok":
            key = (entry["hostname"], entry["operation"])
            counts[key] = counts.get(key, 0) + 1
    return counts


def planned_operations(run: Run) -> dict[tuple[str, str], int]:
    """How many times the run's steps ask each server for each operation."""
    counts: dict[tuple[str, str], int] = {}
    for step in run.steps.filter(kind__in=[StepKind.OPERATION, StepKind.DATABASE]):
        servers = Server.objects.filter(deployment=run.deployment, group__position__in=step.groups)
        if step.kind == StepKind.DATABASE:
            servers = servers.filter(role=ServerRole.ADMIN_LICENSE, group__position=step.groups[0])
        operation = step.operation or "upgrade-database"
        for server in servers:
            counts[(server.hostname, operation)] = counts.get((server.hostname, operation), 0) + 1
    return counts


def empty_pools(lab: Lab) -> list[tuple[str, datetime, datetime | None]]:
    """When the lab's load balancer had nobody in a pool, from its own record of the pools: each
    stretch (role, emptied at, filled again at or None) after the pool first had a member."""
    members: dict[str, set[str]] = {}
    emptied: dict[str, datetime] = {}
    stretches = []
    for change in lab.control.pool_changes():
        role, at = change["role"], datetime.fromisoformat(change["at"])
        filled = role in members and bool(members[role])
        pool = members.setdefault(role, set())
        (pool.add if change["in_pool"] else pool.discard)(change["hostname"])
        if filled and not pool:
            emptied[role] = at
        elif pool and role in emptied:
            stretches.append((role, emptied.pop(role), at))
    return stretches + [(role, at, None) for role, at in emptied.items()]
