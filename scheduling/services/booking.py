"""Booking a maintenance window (S7, S8).

1. Lock the upgrade request: only an approved request can be booked, and one booking at a
   time per request (a double click finds the window the first click made and returns it).
2. Plan the window from the request's kind and the deployment's server count.
3. Take a transaction-level advisory lock per candidate engineer, in id order: bookings that
   share an engineer queue up instead of waiting on each other's uncommitted rows, which
   PostgreSQL could only break as a deadlock. Then try the engineers free for the slot, least
   busy first. PostgreSQL's exclusion constraint on (engineer, held time) decides: an insert
   that overlaps another booking of the same engineer fails, inside a savepoint, and the next
   engineer is tried.
4. No engineer left: the slot was just taken (SlotTaken), nothing written.
"""

from datetime import datetime, timedelta

import pghistory
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.db.models import Count, Q

from portal.models import User
from scheduling.choices import HOLDING_STATES, Cover, WindowState
from scheduling.models import MaintenanceWindow
from scheduling.plan import plan_window
from upgrades.choices import RequestState
from upgrades.models import UpgradeRequest
from upgrades.services.requests import log
from upgrades.workflow import WorkflowError


class SlotTaken(Exception):
    """Somebody else booked this time first; nothing was written."""


def _preparation() -> timedelta:
    return timedelta(minutes=settings.SCHEDULING_PREPARATION_MINUTES)


def _buffer() -> timedelta:
    return timedelta(minutes=settings.SCHEDULING_BUFFER_MINUTES)


def _least_busy_first(engineer_ids: list[int], around: datetime) -> list[int]:
    week = DateTimeTZRange(around - timedelta(days=3), around + timedelta(days=4))
    load = dict(
        User.objects.filter(pk__in=engineer_ids)
        .annotate(n=Count("windows", filter=Q(windows__state__in=HOLDING_STATES, windows__period__overlap=week)))
        .values_list("pk", "n")
    )
    return sorted(engineer_ids, key=lambda pk: (load.get(pk, 0), pk))


# Namespace of the advisory locks, so they cannot meet other users of pg_advisory_xact_lock.
_LOCK_SPACE = 0x5C4ED


def _queue_behind_other_bookings(engineer_ids: list[int]) -> None:
    with connection.cursor() as cursor:
        for engineer_id in sorted(set(engineer_ids)):
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_SPACE, engineer_id])


def window_book(*, request: UpgradeRequest, start: datetime, engineer_ids: list[int], cover: str,
                by: User) -> MaintenanceWindow:
    customer = by.is_customer and by.organisation_id == request.deployment.organisation_id
    if not (customer or by.is_vendor):
        raise PermissionDenied
    with transaction.atomic(), pghistory.context(user=by.pk):
        locked = UpgradeRequest.objects.select_for_update().select_related("deployment").get(pk=request.pk)
        if locked.state != RequestState.APPROVED:
            # S8: no date before the prerequisites are approved, however the request was crafted.
            raise WorkflowError("This upgrade is not approved yet: a window can be booked once support approves it.")
        existing = locked.windows.filter(state__in=HOLDING_STATES).first()
        if existing is not None:
            if existing.period.lower == start:
                return existing  # the same booking again (a double click)
            raise WorkflowError("This upgrade already has a maintenance window: reschedule it instead.")
        plan = plan_window(
            start=start, kind=locked.kind, servers=locked.deployment.servers.count(), preparation=_preparation()
        )
        _queue_behind_other_bookings(engineer_ids)
        for engineer_id in _least_busy_first(engineer_ids, start):
            window = MaintenanceWindow(
                request=locked, engineer_id=engineer_id, booked_by=by, cover=cover,
                period=DateTimeTZRange(plan.start, plan.end),
                held=DateTimeTZRange(plan.start, plan.end + _buffer()),
                downtime=DateTimeTZRange(plan.downtime_start, plan.downtime_end) if plan.downtime_start else None,
                state=WindowState.CONFIRMED if cover == Cover.STANDARD else WindowState.REQUESTED,
            )
            try:
                with transaction.atomic():
                    window.save()
            except IntegrityError:
                continue  # that engineer was booked at that time meanwhile: try the next one
            log(request=locked, by=by, action="window_booked", reason=f"{plan.start:%Y-%m-%d %H:%M} UTC")
            return window
        raise SlotTaken("This slot was just taken. Here are the free slots now.")
