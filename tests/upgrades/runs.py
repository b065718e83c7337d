"""What the run stories share: a run written directly as rows (window, run, steps from the
planner) for the page and report tests, which are about what people see; and, for the engine's
stories, a lab deployment on loopback, a confirmed window open now, the people playing their
part on the live page, and the lab journal read back."""

import time
from datetime import timedelta

from django.conf import settings
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.utils import timezone

from portal.choices import Driver, ServerPlatform, ServerRole
from portal.models import Deployment, Organisation, Server, ServerGroup, User
from scheduling.models import MaintenanceWindow
from scheduling.plan import plan_window
from tests.conftest import wait_for
from tests.upgrades.conftest import VERSION_9_4, Lab
from upgrades.choices import ReadinessKind, RequestState, RunState, StepState, UpgradeKind
from upgrades.fleet import lab_specs
from upgrades.models import Release, Run, Step, UpgradeRequest
from upgrades.procedure import StepKind, procedure, schedule
from upgrades.runflow import FINISHED_RUN_STATES
from upgrades.services import requests
from upgrades.services.readiness import preflight_run, readiness_confirm, readiness_needed
from upgrades.services.runs import run_sign_off, run_start, step_confirm


def window_for(*, deployment: Deployment, release, by: User, start=None, hours: int = 2) -> MaintenanceWindow:
    request = requests.request_create(deployment=deployment, release=release, by=by)
    start = start or timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    end = start + timedelta(hours=hours)
    downtime = (start + timedelta(minutes=45), start + timedelta(minutes=60)) if request.kind == UpgradeKind.MAJOR else None
    return MaintenanceWindow.objects.create(
        request=request, engineer=User.objects.get(email="engineer@vendor.example"), booked_by=by,
        period=DateTimeTZRange(start, end), held=DateTimeTZRange(start, end + timedelta(minutes=30)),
        downtime=DateTimeTZRange(*downtime) if downtime else None, cover="standard", state="confirmed",
    )


def run_rows(*, window: MaintenanceWindow) -> Run:
    """The run of `window` with its frozen plan, as `run_create` makes it."""
    request = window.request
    deployment = request.deployment
    run = Run.objects.create(
        window=window, request=request, deployment=deployment, kind=request.kind,
        from_version=request.from_version, to_version=request.release.version,
        planned_start=window.start, planned_end=window.end,
    )
    planned = schedule(
        procedure(kind=request.kind, groups=deployment.groups.count()), start=window.start,
        at_risk_start=window.start + timedelta(minutes=30), end=window.end,
        downtime_start=window.downtime.lower if window.downtime else None,
    )
    Step.objects.bulk_create(
        Step(run=run, position=position, number=step.number, key=step.key, action=step.action, kind=step.kind,
             operation=step.operation, groups=list(step.groups), performer=step.performer, phase=step.phase,
             marks=step.marks, planned_start=step.planned_start, planned_end=step.planned_end)
        for position, step in enumerate(planned)
    )
    return run


def lab_deployment(start_lab, organisation: Organisation, *, groups: int, name: str, op_seconds: float = 0.0,
                   health_checks: bool = True) -> tuple[Deployment, Lab]:
    """A registered deployment of `groups` groups whose servers are lab servers on free ports,
    behind a lab load balancer that its service address points at."""
    deployment = Deployment.objects.create(
        organisation=organisation, name=name, load_balancer_vendor="F5", load_balancer_model="BIG-IP",
        health_checks=health_checks, server_platform=ServerPlatform.VIRTUAL, service_url="http://127.0.0.1:1",
        **{f"{component}_version": version for component, version in VERSION_9_4.items()},
    )
    slug = name.lower().replace(" ", "-")
    for position in range(1, groups + 1):
        group = ServerGroup.objects.create(deployment=deployment, position=position)
        for role, prefix in ((ServerRole.ADMIN_LICENSE, "cpadmin"), (ServerRole.STREAM, "cpstream")):
            Server.objects.create(deployment=deployment, group=group, role=role, driver=Driver.LAB,
                                  hostname=f"{prefix}{position:02d}.{slug}.example", address="127.0.0.1", port=1)
    # A health check may take a second and must fail twice: a loaded test machine is not an outage.
    [spec] = lab_specs(deployment_ids=[deployment.pk], check_interval=0.05, check_timeout=1.0, rise=1, fall=2,
                       op_seconds=op_seconds)
    spec.lb_port = 0
    for server in spec.servers:
        server.port = 0
    lab = start_lab(spec=spec)
    for server in spec.servers:
        Server.objects.filter(deployment=deployment, hostname=server.hostname).update(port=server.port)
    Deployment.objects.filter(pk=deployment.pk).update(service_url=lab.url)
    deployment.refresh_from_db()
    wait_for(lambda: all(member["in_pool"] for member in lab.control.status()["members"]))
    return deployment, lab


def confirmed_window(deployment: Deployment, release: Release, *, engineer, customer) -> MaintenanceWindow:
    """An approved request and its confirmed window, open since a minute ago (booking has tests
    of its own)."""
    request = UpgradeRequest.objects.create(
        deployment=deployment, release=release, from_version=deployment.cloudpaging_version, kind=release.kind,
        state=RequestState.APPROVED, requested_by=customer,
    )
    plan = plan_window(start=timezone.now() - timedelta(minutes=1), kind=release.kind,
                       servers=deployment.servers.count(),
                       preparation=timedelta(minutes=settings.SCHEDULING_PREPARATION_MINUTES))
    return MaintenanceWindow.objects.create(
        request=request, engineer=engineer, booked_by=customer, cover="standard", state="confirmed",
        period=DateTimeTZRange(plan.start, plan.end), held=DateTimeTZRange(plan.start, plan.end + timedelta(minutes=30)),
        downtime=DateTimeTZRange(plan.downtime_start, plan.downtime_end) if plan.downtime_start else None,
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
