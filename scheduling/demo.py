"""Demo support regions and engineers: business hours Monday to Friday, engineers in London
and Sydney so that out-of-hours cover exists for each customer (S7)."""

import shutil
from datetime import time, timedelta

import pghistory
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.utils import timezone

from portal.choices import Driver, ServerPlatform, ServerRole
from portal.choices import SupportRegion as RegionCode
from portal.models import Deployment, Organisation, Server, ServerGroup, User
from portal.workflow import WorkflowError
from scheduling.choices import HOLDING_STATES, Cover, WindowState
from scheduling.models import BusinessHours, Engineer, EngineerHours, LowUsageHours, MaintenanceWindow, SupportRegion
from scheduling.plan import plan_window
from scheduling.services.lifecycle import window_released
from upgrades.choices import OPEN_REQUEST_STATES, RequestState
from upgrades.demo import LIVE_DEMO_NAME, LIVE_DEMO_ORGANISATION
from upgrades.fleet import lab_key
from upgrades.models import Release, Run, UpgradeRequest
from upgrades.services.lifecycle import UNDER_WAY
from upgrades.services.plans import run_create

REGIONS = [
    (RegionCode.EUROPE, "Europe/London", "GB", "ENG", (time(8), time(18))),
    (RegionCode.AMERICAS, "America/New_York", "US", "NY", (time(8), time(18))),
    (RegionCode.ASIA_PACIFIC, "Australia/Sydney", "AU", "NSW", (time(8), time(18))),
]
ENGINEERS = [
    ("engineer@vendor.example", RegionCode.EUROPE, "Europe/London", (time(7), time(19))),
    ("engineer.apac@vendor.example", RegionCode.ASIA_PACIFIC, "Australia/Sydney", (time(7), time(19))),
]
WEEKDAYS = range(5)
# Northwind's students are quietest early on weekdays (Northwind's clock).
LOW_USAGE = {"northwind": [(day, time(6), time(9)) for day in WEEKDAYS]}


def seed() -> None:
    with transaction.atomic(), pghistory.context(source="seed_demo"):
        regions = {}
        for code, zone, country, subdivision, (opens, closes) in REGIONS:
            region, created = SupportRegion.objects.get_or_create(
                code=code, defaults={"time_zone": zone, "country": country, "subdivision": subdivision}
            )
            regions[code] = region
            if created:
                BusinessHours.objects.bulk_create(
                    BusinessHours(region=region, weekday=day, starts=opens, ends=closes) for day in WEEKDAYS
                )
        for email, code, zone, (starts, ends) in ENGINEERS:
            user = User.objects.get(email=email)
            engineer, created = Engineer.objects.get_or_create(
                user=user, defaults={"home_region": regions[code], "time_zone": zone}
            )
            if created:
                EngineerHours.objects.bulk_create(
                    EngineerHours(engineer=engineer, weekday=day, starts=starts, ends=ends) for day in WEEKDAYS
                )
        for slug, spans in LOW_USAGE.items():
            organisation = Organisation.objects.filter(slug=slug).first()
            if organisation is not None and not organisation.low_usage_hours.exists():
                LowUsageHours.objects.bulk_create(
                    LowUsageHours(organisation=organisation, weekday=weekday, starts=starts, ends=ends)
                    for weekday, starts, ends in spans
                )


# Today's live upgrade, for `make run` only (the tests' world has no such window) ----------------

LIVE_DEMO_FIRST_PORT = 9111  # its load balancer answers on 9110; Northwind's production on 9100-9104
LIVE_DEMO_RELEASE = "10.0.0"
LIVE_DEMO_VERSIONS = {"cloudpaging": "9.4.2", "openjdk": "17.0.10", "tomcat": "9.0.85"}  # where it starts


def live_demo_deployment():
    organisation = Organisation.objects.get(slug=LIVE_DEMO_ORGANISATION)
    deployment, _ = Deployment.objects.get_or_create(
        organisation=organisation, name=LIVE_DEMO_NAME,
        defaults={
            **{f"{name}_version": version for name, version in LIVE_DEMO_VERSIONS.items()},
            "load_balancer_vendor": "F5", "load_balancer_model": "BIG-IP i4600", "health_checks": True,
            "server_platform": ServerPlatform.VIRTUAL, "service_url": f"http://127.0.0.1:{LIVE_DEMO_FIRST_PORT - 1}",
        },
    )
    for position in (1, 2):
        group, _ = ServerGroup.objects.get_or_create(deployment=deployment, position=position)
        for offset, (role, prefix) in enumerate(((ServerRole.ADMIN_LICENSE, "cpadmin"), (ServerRole.STREAM, "cpstream"))):
            Server.objects.get_or_create(
                deployment=deployment, hostname=f"{prefix}{position:02d}.demo.northwind.example",
                defaults={"group": group, "role": role, "driver": Driver.LAB, "address": "127.0.0.1",
                          "port": LIVE_DEMO_FIRST_PORT + 2 * (position - 1) + offset},
            )
    return deployment


def forget_lab_state(deployment, lab_dir) -> None:
    """The lab fleet, when it is not running, starts the deployment's servers afresh (from the
    deployment's versions) rather than resuming what they ran before."""
    if lab_dir is None:
        return
    key = lab_key(deployment)
    (lab_dir / f"{key}.json").unlink(missing_ok=True)
    shutil.rmtree(lab_dir / f"{key}.logs", ignore_errors=True)


def seed_world() -> None:
    """The whole demo world but its live upgrade, each app's part in the order they stand on one
    another: customers, people and fleets; releases; then the calendar."""
    from portal import demo as portal_demo
    from upgrades import demo as upgrades_demo

    portal_demo.seed()
    upgrades_demo.seed()
    seed()


def seed_live_upgrade(*, lab_dir=None, now=None):
    """Today's live upgrade, made with the demo's first load: a confirmed window on Northwind's
    lab deployment, opened five minutes ago, with its run ready for the engineer to start.
    Loading the demo again changes nothing (the demo stays as people left it: its run finished,
    its deployment upgraded) and answers the demo's latest run; `rearm_live_upgrade` puts it
    back at its start."""
    with transaction.atomic(), pghistory.context(source="seed_demo"):
        deployment = live_demo_deployment()
        if UpgradeRequest.objects.filter(deployment=deployment).exists():
            return Run.objects.filter(deployment=deployment).order_by("-pk").first()
        forget_lab_state(deployment, lab_dir)
        return _arm(deployment, now=now or timezone.now())


def rearm_live_upgrade(*, now=None):
    """The demo back at its start: its windows still held are cancelled (their runs, never
    started, go with them), its open requests withdrawn, its deployment back on 9.4.2, and a new
    approved request with today's window and run made. WorkflowError while its run is under
    way. The caller holds the transaction and the audit context, and resets the lab fleet."""
    now = now or timezone.now()
    deployment = live_demo_deployment()
    Deployment.objects.select_for_update().get(pk=deployment.pk)  # one re-arm at a time
    if Run.objects.filter(deployment=deployment, state__in=UNDER_WAY).exists():
        raise WorkflowError("The demo's upgrade is under way: abort its run (on its live page) first, then re-arm.")
    for window in MaintenanceWindow.objects.filter(request__deployment=deployment, state__in=HOLDING_STATES):
        MaintenanceWindow.objects.filter(pk=window.pk).update(
            state=WindowState.CANCELLED, cancelled_at=now, cancel_reason="The demo was re-armed")
        window_released(window=window)
    UpgradeRequest.objects.filter(deployment=deployment, state__in=OPEN_REQUEST_STATES).update(
        state=RequestState.WITHDRAWN, decision_reason="The demo was re-armed")
    Deployment.objects.filter(pk=deployment.pk).update(**{f"{name}_version": version
                                                          for name, version in LIVE_DEMO_VERSIONS.items()})
    deployment.refresh_from_db()  # what the new request and run start from
    return _arm(deployment, now=now)


def _arm(deployment, *, now):
    release = Release.objects.get(version=LIVE_DEMO_RELEASE)
    lead = User.objects.get(email="lead@northwind.example")
    request = UpgradeRequest.objects.create(
        deployment=deployment, release=release, from_version=deployment.cloudpaging_version, kind=release.kind,
        state=RequestState.APPROVED, requested_by=lead, assignee=User.objects.get(email="support@vendor.example"),
    )
    plan = plan_window(start=(now - timedelta(minutes=5)).replace(second=0, microsecond=0), kind=release.kind,
                       servers=deployment.servers.count(),
                       preparation=timedelta(minutes=settings.SCHEDULING_PREPARATION_MINUTES))
    # Erin Walsh first, as the README says; the next engineer if she is booked already.
    for engineer in [User.objects.get(email=email) for email, *_ in ENGINEERS]:
        try:
            # The engineer may be booked already today (a window booked in an earlier demo):
            # the exclusion constraint says so, and the next engineer takes it.
            with transaction.atomic():
                window = MaintenanceWindow.objects.create(
                    request=request, engineer=engineer, booked_by=lead, cover=Cover.STANDARD,
                    state=WindowState.CONFIRMED, period=DateTimeTZRange(plan.start, plan.end),
                    held=DateTimeTZRange(plan.start, plan.end + timedelta(minutes=settings.SCHEDULING_BUFFER_MINUTES)),
                    downtime=DateTimeTZRange(plan.downtime_start, plan.downtime_end) if plan.downtime_start else None,
                    confirmed_by=engineer, confirmed_at=now,
                )
            return run_create(window=window)
        except IntegrityError:
            continue
    return None
