"""Booking an engineer's time: the upgrade's maintenance window (S7, S8) and the prerequisite
check (S2), both on slots from the same engine.

1. Lock the upgrade request: only an approved request can book its window (a request whose
   check is being scheduled, its check), and one booking at a time per request (a double click
   finds the window the first click made and returns it).
2. Plan the window from the request's kind and the deployment's server count.
3. Take a transaction-level advisory lock per candidate engineer, in id order: bookings that
   share an engineer queue up instead of waiting on each other's uncommitted rows, which
   PostgreSQL could only break as a deadlock. Then try the engineers free for the slot, least
   busy first. PostgreSQL's exclusion constraint on (engineer, held time) decides: an insert
   (or a reschedule's update) that overlaps another booking of the same engineer fails, inside
   a savepoint, and the next engineer is tried.
4. No engineer left: the slot was just taken (SlotTaken), nothing written.

Pages and the API book through `slot_book` (and move through `windows.slot_move`): it finds the
free slot at the start asked for and books it, all under the request's lock.
"""

from collections.abc import Callable
from datetime import datetime, timedelta

import pghistory
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.db.models import Count, F, Q
from django.utils import timezone

from portal import access
from portal.models import User
from portal.workflow import WorkflowError
from scheduling import selectors
from scheduling.choices import HOLDING_STATES, Cover, Purpose, WindowState
from scheduling.models import MaintenanceWindow
from scheduling.plan import WindowPlan, plan_check, plan_window
from scheduling.services import lifecycle, notices
from upgrades.choices import RequestState
from upgrades.models import UpgradeRequest
from upgrades.services.requests import log, request_schedule_check


# The longest note a booking or a move carries (the model's too).
NOTE_LENGTH = 1000


class SlotTaken(Exception):
    """Somebody else booked this time first; nothing was written."""


class SlotNotFree(SlotTaken):
    """No slot starts at the time asked for (any more): not a free slot, or taken since."""


def preparation() -> timedelta:
    return timedelta(minutes=settings.SCHEDULING_PREPARATION_MINUTES)


def buffer() -> timedelta:
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


def place(*, window: MaintenanceWindow, plan: WindowPlan, engineer_ids: list[int]) -> MaintenanceWindow:
    """Put `window` (new, or one being moved) at `plan` with the first engineer free for it.
    The caller holds a transaction; raises SlotTaken when none of them is free any more."""
    _queue_behind_other_bookings(engineer_ids)
    window.period = DateTimeTZRange(plan.start, plan.end)
    window.held = DateTimeTZRange(plan.start, plan.end + buffer())
    window.downtime = DateTimeTZRange(plan.downtime_start, plan.downtime_end) if plan.downtime_start else None
    for engineer_id in _least_busy_first(engineer_ids, plan.start):
        window.engineer_id = engineer_id
        try:
            with transaction.atomic():
                window.save()
        except IntegrityError:
            continue  # that engineer was booked at that time meanwhile: try the next one
        return window
    raise SlotTaken("This slot was just taken. Here are the free slots now.")


def may_book(by: User, upgrade: UpgradeRequest) -> bool:
    return access.may(by, "window.book", organisation_id=upgrade.deployment.organisation_id)


def _lock_request(upgrade: UpgradeRequest) -> UpgradeRequest:
    """The request, locked for this transaction; its deployment and organisation read with it
    but not locked: bookings of one customer's requests do not queue behind one another."""
    return UpgradeRequest.objects.select_for_update(of=("self",)).select_related(
        "deployment__organisation"
    ).get(pk=upgrade.pk)


def _book(*, upgrade: UpgradeRequest, by: User, purpose: str, start: datetime,
          allowed_states: tuple[str, ...], refusal: str,
          plan_of: Callable[[UpgradeRequest], WindowPlan], engineer_ids: list[int], cover: str,
          state: str, note: str = "") -> tuple[UpgradeRequest, MaintenanceWindow, bool]:
    """The common part of booking a window or a check; returns (request, window, created)."""
    locked = _lock_request(upgrade)
    if locked.state not in allowed_states:
        raise WorkflowError(refusal)
    existing = locked.windows.holding().filter(purpose=purpose).first()
    if existing is not None:
        if existing.start == start:
            return locked, existing, False  # the same booking again (a double click)
        raise WorkflowError("This upgrade already has a maintenance window: reschedule it instead.")
    window = MaintenanceWindow(request=locked, purpose=purpose, booked_by=by, cover=cover, state=state, note=note)
    if state == WindowState.CONFIRMED:
        window.confirmed_by, window.confirmed_at = by, timezone.now()
    return locked, place(window=window, plan=plan_of(locked), engineer_ids=engineer_ids), True


def window_book(*, upgrade: UpgradeRequest, start: datetime, engineer_ids: list[int], cover: str,
                by: User, note: str = "") -> MaintenanceWindow:
    """The customer (or support for them) books the upgrade's window on a free slot, with a note
    for support and the engineer if they wrote one."""
    if not may_book(by, upgrade):
        raise PermissionDenied
    if upgrade.deployment.organisation.is_cloud:
        # S3: the vendor plans a cloud customer's window; the customer is told, not asked.
        raise WorkflowError("Cloud-hosted upgrades are planned by the vendor: see your upgrade plan instead.")
    note = note.strip()[:NOTE_LENGTH]
    with transaction.atomic(), pghistory.context(user=by.pk):
        locked, window, created = _book(
            upgrade=upgrade, by=by, purpose=Purpose.UPGRADE, start=start,
            allowed_states=(RequestState.APPROVED,),
            # S8: no date before the prerequisites are approved, however the request was crafted.
            refusal="This upgrade is not approved yet: a window can be booked once support approves it.",
            plan_of=lambda locked: plan_window(
                start=start, kind=locked.kind, servers=locked.deployment.servers.count(), preparation=preparation()
            ),
            engineer_ids=engineer_ids, cover=cover,
            state=WindowState.CONFIRMED if cover == Cover.STANDARD else WindowState.REQUESTED,
            note=note,
        )
        if created:
            log(upgrade=locked, by=by, action="window_booked",
                reason=f"{window.start:%Y-%m-%d %H:%M} UTC" + (f": {note}" if note else ""))
            if window.state == WindowState.CONFIRMED:
                notices.window_confirmed(window=window)
            else:
                notices.window_requested(window=window)
            lifecycle.window_planned(window=window)
        return window


def check_book(*, upgrade: UpgradeRequest, start: datetime, engineer_ids: list[int], by: User) -> MaintenanceWindow:
    """Support books the prerequisite check (S2) on a free slot of the same engine; the
    request moves to "check scheduled". A check booked again replaces the earlier one."""
    if not access.may(by, "check.book", organisation_id=upgrade.deployment.organisation_id):
        raise PermissionDenied
    if start <= timezone.now():
        raise WorkflowError("The check must be in the future.")
    with transaction.atomic(), pghistory.context(user=by.pk):
        locked = UpgradeRequest.objects.select_for_update().get(pk=upgrade.pk)
        earlier = locked.windows.checks().holding().first()
        if earlier is not None and earlier.start != start:
            cancel_row(window=earlier, by=by, reason="The check was booked at another time.")
            notices.window_cancelled(window=earlier)
        _, window, created = _book(
            upgrade=locked, by=by, purpose=Purpose.CHECK, start=start,
            allowed_states=(RequestState.IN_REVIEW, RequestState.CHECK_SCHEDULED),
            refusal="The prerequisite check can be booked while support reviews the request.",
            plan_of=lambda _: plan_check(start=start, length=timedelta(minutes=settings.SCHEDULING_CHECK_MINUTES)),
            engineer_ids=engineer_ids, cover=Cover.STANDARD, state=WindowState.CONFIRMED,
        )
        if created:
            notices.window_confirmed(window=window)
        if locked.check_at != window.start or locked.check_engineer_id != window.engineer_id:
            request_schedule_check(upgrade=locked, by=by, at=window.start, engineer=window.engineer)
        return window


def slot_book(*, upgrade: UpgradeRequest, start: datetime, purpose: str = Purpose.UPGRADE,
              by: User, note: str = "") -> tuple[MaintenanceWindow, bool]:
    """Book the free slot that starts at `start`: the upgrade's window (the customer, or support
    for them) or its prerequisite check (support). Returns (window, created): the same start
    again finds the window the first booking made. SlotNotFree when no slot starts then,
    SlotTaken when its engineers were booked a moment ago; nothing is written either way."""
    if not access.may(by, "check.book" if purpose == Purpose.CHECK else "window.book",
                      organisation_id=upgrade.deployment.organisation_id):
        raise PermissionDenied
    if purpose == Purpose.UPGRADE and selectors.slot_at(upgrade=upgrade, start=start) is None:
        # Not free now: refused without queueing for the request's lock, as most of a race's
        # losers are. Unless the time is this request's own window: a second click whose first
        # has committed, since its window is what made the slot not free, and is read after.
        existing = upgrade.windows.holding().filter(purpose=purpose).first()
        if existing is None:
            raise SlotNotFree("This slot was just taken, or is no longer free.")
        if existing.start == start:
            return existing, False
        raise WorkflowError("This upgrade already has a maintenance window: reschedule it instead.")
    with transaction.atomic():
        # Held from the lookup to the booking: a double submit waits for the first one and then
        # finds its window, instead of racing it for the slot.
        locked = _lock_request(upgrade)
        existing = locked.windows.holding().filter(purpose=purpose).first()
        if existing is not None and existing.start == start:
            return existing, False
        if existing is not None and purpose == Purpose.UPGRADE:
            raise WorkflowError("This upgrade already has a maintenance window: reschedule it instead.")
        slot = selectors.slot_at(upgrade=locked, start=start, purpose=purpose, exclude_window=existing)
        if slot is None:
            raise SlotNotFree("This slot was just taken, or is no longer free.")
        engineer_ids = list(slot.engineer_ids)
        if purpose == Purpose.CHECK:
            return check_book(upgrade=locked, start=slot.start, engineer_ids=engineer_ids, by=by), True
        cover = Cover.STANDARD if slot.standard else Cover.OUT_OF_HOURS
        return window_book(upgrade=locked, start=slot.start, engineer_ids=engineer_ids, cover=cover, by=by,
                           note=note), True


def cancel_row(*, window: MaintenanceWindow, by: User, reason: str) -> None:
    """Mark a holding window cancelled (a guarded UPDATE); the caller logs and notifies."""
    changed = MaintenanceWindow.objects.filter(pk=window.pk, state__in=HOLDING_STATES).update(
        state=WindowState.CANCELLED, cancelled_by=by, cancelled_at=timezone.now(), cancel_reason=reason,
        sequence=F("sequence") + 1,
    )
    if changed != 1:
        # Cancelled by somebody else a moment ago: say so, change nothing.
        raise WorkflowError("This window was changed by somebody else a moment ago. Reload to see it.")
    window.refresh_from_db()
