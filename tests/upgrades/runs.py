"""A run of Northwind's major upgrade written directly as rows (window, run, steps from the
planner): for the page and report tests, which are about what people see, not the engine."""

from datetime import timedelta

from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.utils import timezone

from portal.models import Deployment, User
from scheduling.models import MaintenanceWindow
from upgrades.choices import UpgradeKind
from upgrades.models import Run, Step
from upgrades.procedure import procedure, schedule
from upgrades.services import requests


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
