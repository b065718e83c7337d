"""Changing a booked window: confirm, reschedule, cancel (S3, S7). The moves are listed in
`scheduling.workflow`; each is a guarded write in one transaction, logged on the request's
timeline with its actor and reason, and its notices (calendar update, cancellation) are
written to the outbox in the same transaction.

Who may do what:
- support (and administrators) at any time;
- the customer's own users reschedule or cancel their on-premises window up to
  SCHEDULING_CUSTOMER_CUTOFF_HOURS before it starts; they never confirm (S7) and never touch a
  cloud window (S3: the vendor plans those);
- a cloud window is confirmed only CLOUD_NOTICE_DAYS or more ahead (S3's two weeks' notice).
"""

from datetime import datetime, timedelta

import pghistory
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from portal import access
from portal.models import User
from portal.workflow import WorkflowError
from scheduling import selectors
from scheduling.choices import Cover, Purpose, WindowState
from scheduling.models import MaintenanceWindow
from scheduling.plan import plan_check, plan_window
from scheduling.services import lifecycle, notices
from scheduling.services.booking import NOTE_LENGTH, SlotNotFree, cancel_row, place, preparation
from scheduling.workflow import MOVES, allowed
from upgrades.services.requests import log, request_schedule_check


def cutoff() -> timedelta:
    return timedelta(hours=settings.SCHEDULING_CUSTOMER_CUTOFF_HOURS)


def customer_may_change(window: MaintenanceWindow, *, now: datetime | None = None) -> bool:
    """Whether the customer can still move or cancel this window themselves."""
    now = now or timezone.now()
    return (
        window.purpose == Purpose.UPGRADE and window.is_holding
        and not window.request.deployment.organisation.is_cloud and window.start - now > cutoff()
    )


def require_may_change(window: MaintenanceWindow, by: User) -> None:
    """PermissionDenied, or WorkflowError with the reason, unless `by` may move or cancel it now."""
    if not access.may(by, "window.change", organisation_id=window.request.deployment.organisation_id):
        raise PermissionDenied
    if access.is_desk(by):
        return
    if window.purpose != Purpose.UPGRADE:
        raise PermissionDenied  # the prerequisite check is the desk's appointment
    if window.request.deployment.organisation.is_cloud:
        raise WorkflowError("Your upgrade is planned by the vendor's cloud team: ask support to move it.")
    if window.start - timezone.now() <= cutoff():
        hours = settings.SCHEDULING_CUSTOMER_CUTOFF_HOURS
        raise WorkflowError(
            f"The window starts in less than {hours} hours: it can no longer be changed here. Call support."
        )


def _lock(window: MaintenanceWindow, move: str) -> MaintenanceWindow:
    locked = MaintenanceWindow.objects.select_for_update().select_related(
        "request__deployment__organisation", "request__release", "engineer"
    ).get(pk=window.pk)
    if not allowed(move, locked.state):
        # Somebody moved it first, or the move never applied: say so, change nothing.
        raise WorkflowError(f"This window is {locked.get_state_display().lower()}: it cannot be {MOVES[move].label} now.")
    return locked


def _cloud_notice_ok(start: datetime) -> None:
    days = settings.CLOUD_NOTICE_DAYS
    if start - timezone.now() < timedelta(days=days):
        raise WorkflowError(
            f"A cloud window must be confirmed at least {days} days ahead (S3): "
            f"move it to {timezone.now() + timedelta(days=days):%d %B %Y} or later first."
        )


def window_confirm(*, window: MaintenanceWindow, by: User) -> MaintenanceWindow:
    """Support confirms an out-of-hours request (staff are available, S7) or a cloud proposal."""
    if not access.may(by, "window.confirm", organisation_id=window.request.deployment.organisation_id):
        raise PermissionDenied
    with transaction.atomic(), pghistory.context(user=by.pk):
        _lock_moved_first(window)
        locked = _lock(window, "confirm")
        if locked.move_of_id is not None:
            return _move_confirm(proposal=locked, by=by)
        if locked.request.deployment.organisation.is_cloud:
            _cloud_notice_ok(locked.start)
        MaintenanceWindow.objects.filter(pk=locked.pk).update(
            state=WindowState.CONFIRMED, confirmed_by=by, confirmed_at=timezone.now(),
            # A window that was confirmed once, then moved out of hours, had a CANCEL at the
            # current SEQUENCE: the new invite must carry a higher one to put it back.
            sequence=F("sequence") + 1,
        )
        locked.refresh_from_db()
        log(upgrade=locked.request, by=by, action="window_confirmed", reason=f"{locked.start:%Y-%m-%d %H:%M} UTC")
        notices.window_confirmed(window=locked)
        lifecycle.window_planned(window=locked)
        return locked


def window_reschedule(*, window: MaintenanceWindow, start: datetime, engineer_ids: list[int], cover: str,
                      by: User, reason: str = "") -> MaintenanceWindow:
    """Move the window to another free slot. The row, and so the calendar entry's UID, stays;
    SEQUENCE goes up so calendars replace the entry."""
    with transaction.atomic(), pghistory.context(user=by.pk):
        locked = _lock(window, "reschedule")
        require_may_change(locked, by)
        if locked.move_of_id is not None:
            raise WorkflowError("This is a move waiting for support: confirm or decline it, or move the window itself.")
        lifecycle.require_window_free(locked)
        if start == locked.start:
            return locked  # the same time again (a double click)
        cloud = locked.request.deployment.organisation.is_cloud
        was_confirmed = locked.state == WindowState.CONFIRMED
        if cloud and was_confirmed:
            _cloud_notice_ok(start)
        was = locked.period
        if locked.purpose == Purpose.CHECK:
            plan = plan_check(start=start, length=locked.end - locked.start)
        else:
            plan = plan_window(
                start=start, kind=locked.request.kind, servers=locked.request.deployment.servers.count(),
                preparation=preparation(),
            )
        _withdraw_moves(locked, by=by, reason="The window was moved again before support confirmed this time.")
        if was_confirmed and not cloud and locked.purpose == Purpose.UPGRADE and cover == Cover.OUT_OF_HOURS:
            return _move_request(window=locked, plan=plan, engineer_ids=engineer_ids, by=by, reason=reason)
        locked.cover = cover
        locked.sequence += 1
        if cloud or locked.purpose == Purpose.CHECK:
            pass  # a cloud window keeps its state (S3); a check is support's own appointment
        elif cover == Cover.STANDARD:
            locked.state = WindowState.CONFIRMED
        else:
            locked.state = WindowState.REQUESTED  # S7: out of hours again needs support's yes
        if locked.state == WindowState.CONFIRMED and not was_confirmed:
            locked.confirmed_by, locked.confirmed_at = by, timezone.now()
        place(window=locked, plan=plan, engineer_ids=engineer_ids)
        log(
            upgrade=locked.request, by=by, action="window_rescheduled",
            reason=f"{was.lower:%Y-%m-%d %H:%M} → {locked.start:%Y-%m-%d %H:%M} UTC" + (f": {reason}" if reason else ""),
        )
        lifecycle.window_planned(window=locked, moved=True)
        if locked.purpose == Purpose.CHECK:
            request_schedule_check(upgrade=locked.request, by=by, at=locked.start, engineer=locked.engineer)
        if locked.purpose == Purpose.CHECK or locked.state == WindowState.CONFIRMED:
            notices.window_confirmed(window=locked, was=was)  # a new SEQUENCE: the calendar entry moves
        else:
            notices.window_requested(window=locked)
        return locked


def slot_move(*, window: MaintenanceWindow, start: datetime, by: User, reason: str = "") -> MaintenanceWindow:
    """Move the window to the free slot that starts at `start` (`window_reschedule`); the same
    start again answers the window as it is. SlotNotFree when no slot starts then."""
    if start == window.start:
        return window_reschedule(window=window, start=start, engineer_ids=[window.engineer_id], cover=window.cover,
                                 by=by, reason=reason)
    with transaction.atomic():
        slot = selectors.slot_at(upgrade=window.request, start=start, purpose=window.purpose, exclude_window=window)
        if slot is None:
            raise SlotNotFree("This slot was just taken, or is no longer free.")
        standard = slot.standard or window.purpose == Purpose.CHECK  # a check is support's own appointment
        return window_reschedule(window=window, start=slot.start, engineer_ids=list(slot.engineer_ids),
                                 cover=Cover.STANDARD if standard else Cover.OUT_OF_HOURS, by=by, reason=reason)


def window_cancel(*, window: MaintenanceWindow, by: User, reason: str) -> MaintenanceWindow:
    reason = reason.strip()
    if not reason:
        raise WorkflowError("Say why the window is cancelled: everybody who is told reads it.")
    with transaction.atomic(), pghistory.context(user=by.pk):
        _lock_moved_first(window)
        locked = _lock(window, "cancel")
        require_may_change(locked, by)
        if locked.move_of_id is not None:
            return _move_decline(proposal=locked, by=by, reason=reason)
        lifecycle.require_window_free(locked)
        was_confirmed = locked.state == WindowState.CONFIRMED
        _withdraw_moves(locked, by=by, reason="The window was cancelled.")
        cancel_row(window=locked, by=by, reason=reason)
        lifecycle.window_released(window=locked)
        log(upgrade=locked.request, by=by, action="window_cancelled", reason=reason)
        if was_confirmed:
            notices.window_cancelled(window=locked)
        return locked


# A confirmed window moved out of hours (S7): the confirmed time stays until support says yes. --


def _lock_moved_first(window: MaintenanceWindow) -> None:
    """A move's own window is locked before the move, in the order its reschedule and
    cancellation lock them, so that the two never wait on each other."""
    if window.move_of_id is not None:
        list(MaintenanceWindow.objects.select_for_update().filter(pk=window.move_of_id).values_list("pk"))


def _withdraw_moves(window: MaintenanceWindow, *, by: User, reason: str) -> None:
    """The window moves again or is cancelled: a move still waiting for support is void."""
    for pending in MaintenanceWindow.objects.select_for_update().filter(move_of=window, state=WindowState.REQUESTED):
        cancel_row(window=pending, by=by, reason=reason)


def _move_request(*, window: MaintenanceWindow, plan, engineer_ids: list[int], by: User,
                  reason: str) -> MaintenanceWindow:
    """A confirmed window asked to move out of hours: the new time becomes a requested window
    of its own (holding its engineer), the confirmed one keeps its time, engineer, run and
    calendar entry. Support confirms the move (`_move_confirm`) or declines it (`_move_decline`)."""
    proposal = MaintenanceWindow(
        request=window.request, purpose=window.purpose, booked_by=by, cover=Cover.OUT_OF_HOURS,
        state=WindowState.REQUESTED, move_of=window, note=reason[:NOTE_LENGTH],
    )
    place(window=proposal, plan=plan, engineer_ids=engineer_ids)
    log(
        upgrade=window.request, by=by, action="window_move_requested",
        reason=f"{window.start:%Y-%m-%d %H:%M} → {proposal.start:%Y-%m-%d %H:%M} UTC, out of hours: "
        "the confirmed time stays until support confirms" + (f": {reason}" if reason else ""),
    )
    notices.window_requested(window=proposal)
    return proposal


def _move_confirm(*, proposal: MaintenanceWindow, by: User) -> MaintenanceWindow:
    """Support confirms a requested move: the confirmed window takes the new time (the same row,
    so the calendar entry moves) with the engineer held for it; the request is done with."""
    window = _lock(proposal.move_of, "reschedule")
    lifecycle.require_window_free(window)
    was = window.period
    plan = plan_window(
        start=proposal.start, kind=window.request.kind, servers=window.request.deployment.servers.count(),
        preparation=preparation(),
    )
    # Its engineer's time passes from the request to the window in this one transaction.
    cancel_row(window=proposal, by=by, reason="Confirmed: the window moved to this time.")
    window.cover, window.sequence = Cover.OUT_OF_HOURS, window.sequence + 1
    window.confirmed_by, window.confirmed_at = by, timezone.now()
    place(window=window, plan=plan, engineer_ids=[proposal.engineer_id])
    log(upgrade=window.request, by=by, action="window_rescheduled",
        reason=f"{was.lower:%Y-%m-%d %H:%M} → {window.start:%Y-%m-%d %H:%M} UTC: out of hours, confirmed by support")
    lifecycle.window_planned(window=window, moved=True)
    notices.window_confirmed(window=window, was=was)  # a new SEQUENCE: the calendar entry moves
    return window


def _move_decline(*, proposal: MaintenanceWindow, by: User, reason: str) -> MaintenanceWindow:
    """Support declines a requested move (or its asker withdraws it): the window stays where it
    was confirmed, and the customer's contacts are told so."""
    cancel_row(window=proposal, by=by, reason=reason)
    log(upgrade=proposal.request, by=by, action="window_move_declined",
        reason=f"{proposal.start:%Y-%m-%d %H:%M} UTC: {reason}")
    notices.window_move_declined(window=proposal)
    return proposal
