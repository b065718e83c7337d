"""The window's side of an upgrade's life (the run's side is upgrades.services.lifecycle). Called
inside the transaction of the window's move, so window and run never disagree:

1. A window is confirmed (booked within hours, confirmed by support, moved): its run is planned,
   or its plan follows the window (`window_planned`). What was confirmed for the old time (the VM
   snapshots, the backup, the preflight) no longer counts.
2. A window is cancelled: its run, never started, goes with it (`window_released`).
3. A window whose run has started neither moves nor is cancelled (`require_window_free`): the
   run is aborted instead.
4. A run ends (`upgrades.signals.run_ended`, in the run's closing transaction): its window is
   completed (`run_closed`).
"""

import logging

import pghistory
from django.core.exceptions import PermissionDenied
from django.db import transaction

from portal.models import User
from portal.workflow import WorkflowError
from scheduling.choices import Purpose, WindowState
from scheduling.models import MaintenanceWindow
from scheduling.workflow import MOVES
from upgrades.choices import RunState
from upgrades.models import Readiness, Run
from upgrades.runflow import RunError
from upgrades.services import plans
from upgrades.services.lifecycle import UNDER_WAY

logger = logging.getLogger(__name__)


def window_planned(*, window: MaintenanceWindow, moved: bool = False) -> Run | None:
    """The window was booked, confirmed or moved: a confirmed upgrade window gets its run, a
    scheduled run's plan follows its window. None when there is no run: the window is not
    confirmed yet, or the deployment cannot be planned (`plans.plan_problem` says why)."""
    if window.purpose != Purpose.UPGRADE:
        return None
    run = plans.run_for_window(window)
    if run is None:
        if window.state != WindowState.CONFIRMED:
            return None
        try:
            return plans.run_create(window=window)
        except RunError as problem:
            # The window stands; its page says why there is no run yet (fewer than two groups).
            logger.info("window %s: no run planned: %s", window.pk, problem)
            return None
    if run.state != RunState.SCHEDULED:
        return run
    if moved:
        # Snapshots, a backup and a preflight are "immediately before" the upgrade (S11): for the
        # old time, they say nothing of the new one.
        Readiness.objects.filter(run=run).delete()
    try:
        return plans.run_replan(run=run, window=window)
    except RunError as problem:
        logger.info("window %s: run %s keeps its plan: %s", window.pk, run.pk, problem)
        return run


def window_plan(*, window: MaintenanceWindow, by: User) -> Run:
    """Vendor staff plan the run of a confirmed window that has none yet (the deployment's servers
    were registered after the window was confirmed)."""
    if not by.is_vendor:
        raise PermissionDenied
    with transaction.atomic(), pghistory.context(user=by.pk):
        locked = MaintenanceWindow.objects.select_for_update().select_related("request__deployment").get(pk=window.pk)
        if locked.purpose != Purpose.UPGRADE or locked.state != WindowState.CONFIRMED:
            raise WorkflowError("Only a confirmed upgrade window has a run.")
        try:
            return plans.run_create(window=locked)
        except RunError as problem:
            raise WorkflowError(str(problem)) from None


def window_released(*, window: MaintenanceWindow) -> None:
    """The window was cancelled: its run, which never started, goes with it."""
    run = plans.run_for_window(window)
    if run is not None and not plans.run_discard(run=run):
        # require_window_free refuses the cancellation first; a run that started meanwhile is
        # the engine's race won: say so, and the caller's transaction undoes the cancellation.
        raise WorkflowError("The upgrade in this window has just started: abort the run instead.")


def require_window_free(window: MaintenanceWindow) -> None:
    """WorkflowError unless the window can still be moved or cancelled: its run has not started."""
    run = plans.run_for_window(window)
    if run is not None and run.state in UNDER_WAY:
        raise WorkflowError(
            "The upgrade in this window is under way: the window can no longer be moved or cancelled. "
            "If it must stop, the engineer or support aborts the run."
        )


def run_closed(*, run: Run, **kwargs) -> None:
    """Receives `upgrades.signals.run_ended`: the run's window is completed."""
    completed = MaintenanceWindow.objects.filter(
        pk=run.window_id, state__in=MOVES["complete"].sources,
    ).update(state=WindowState.COMPLETED)
    if completed != 1:
        # A run starts only in a confirmed window, and a window under way does not move: this
        # would be a bug, not a race. The run's end stands; the window says what it says.
        logger.error("run %s ended but its window %s was not confirmed", run.pk, run.window_id)
