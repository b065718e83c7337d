"""What people decide when a run stops on a failure (S14): take it, retry the step, mark it fixed,
skip it, or abort the run. (The rollback and the rebuild are in `services.rollback`.)

1. A failed or interrupted step pauses the run. One engineer takes the failure ("assign to me")
   before acting, so two people never act on one failure at once: the others are told who owns
   it and change nothing. Taking over someone else's failure is an explicit `force`.
2. Each decision is a guarded move of `upgrades.runflow` (step, then run), in one transaction,
   under the actor's audit context (pghistory), with a live event of kind "decision" that
   names the actor and the reason.
3. The run resumes (paused -> running) once no step is failed or interrupted any more; its
   failure owner is cleared (the next failure is a new one to take), and the engine decides what
   runs next in the same transaction (`engine.run_advance`: its message goes through the outbox).
"""

from datetime import timedelta

import pghistory
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from portal import access
from portal.models import User
from upgrades.choices import RunState, StepState
from upgrades.models import Run, Step
from upgrades.procedure import StepKind
from upgrades.runflow import FINISHED_RUN_STATES, RUN_MOVES, STEP_MOVES, RunError
from upgrades.services import lifecycle
from upgrades.services.availability import probe_stop
from upgrades.services.engine import run_advance
from upgrades.services.events import event_emit

PROBLEM_STATES = (StepState.FAILED, StepState.INTERRUPTED)
VERBS = {"retry": "retried", "mark_fixed": "marked as fixed", "skip": "skipped"}


def _name(user: User | None) -> str:
    return (user.full_name or user.email) if user else "nobody"


def _locked(run: Run) -> Run:
    return (Run.objects.select_for_update(of=("self",)).select_related("failure_owner", "driver", "window__engineer")
            .get(pk=run.pk))


def require_owner(run: Run, by: User) -> Run:
    """The run, locked, if `by` owns its failure; else a RunError naming who does."""
    locked = _locked(run)
    if not locked.may(by, "run.take_failure"):  # who drives it as stored: a take-over may have just happened
        raise PermissionDenied
    if locked.state != RunState.PAUSED:
        raise RunError(f"The run is {locked.get_state_display().lower()}: there is no failure to act on.")
    if locked.failure_owner_id is None:
        raise RunError("Take the failure first (\"assign to me\"), then decide.")
    if locked.failure_owner_id != by.pk:
        raise RunError(f"{_name(locked.failure_owner)} has taken this failure: only they can act on it now.")
    return locked


def decision_event(*, run: Run, by: User, decision: str, text: str, reason: str = "", step: Step | None = None,
                   **data) -> None:
    event_emit(run=run, kind="decision", step=step, actor=by, text=text,
               data={"decision": decision, "reason": reason, **({"step_key": step.key} if step else {}), **data})


def resume(*, run: Run, by: User) -> bool:
    """paused -> running once no step is failed or interrupted; the engine goes on after commit.
    False when a problem remains (the run stays paused)."""
    if Step.objects.filter(run_id=run.pk, state__in=PROBLEM_STATES).exists():
        return False
    move = RUN_MOVES["resume"]
    moved = Run.objects.filter(pk=run.pk, state__in=move.sources).update(state=move.target, failure_owner=None)
    if moved != 1:
        # The run left "paused" under us (aborted by the desk): nothing resumes.
        raise RunError("The run is no longer paused: refresh the page.")
    event_emit(run=run, kind="run", actor=by, text="The run resumes", data={"state": move.target})
    _advance(run.pk)
    return True


def _advance(run_id: int) -> None:
    """The next step, sent in the transaction of the decision (portal.dispatch)."""
    run_advance(run=Run.objects.get(pk=run_id))


def _move_step(step: Step, move_name: str, **fields) -> Step:
    move = STEP_MOVES[move_name]
    moved = Step.objects.filter(pk=step.pk, state__in=move.sources).update(state=move.target, **fields)
    if moved != 1:
        # Someone moved the step first (another decision, the engine): say so, change nothing.
        current = Step.objects.get(pk=step.pk)
        raise RunError(f"Step “{current.action}” is {current.get_state_display().lower()} now: "
                       f"it cannot be {VERBS.get(move_name, move_name)}.")
    return Step.objects.get(pk=step.pk)


def _step_of(run: Run, step: Step) -> None:
    if step.run_id != run.pk:
        raise RunError("This step belongs to another run.")


def reason_required(reason: str, why: str = "Give a reason: it is recorded with the decision.") -> str:
    """The reason a decision is recorded with, trimmed; a RunError saying `why` when there is none."""
    reason = (reason or "").strip()
    if not reason:
        raise RunError(why)
    return reason


def failure_take(*, run: Run, by: User, force: bool = False) -> Run:
    """'Assign to me': `by` owns the run's failure. Someone else's is taken over only with `force`."""
    with transaction.atomic(), pghistory.context(user=by.pk, decision="failure_take"):
        locked = _locked(run)
        if not locked.may(by, "run.take_failure"):
            raise PermissionDenied
        if locked.state != RunState.PAUSED:
            raise RunError(f"The run is {locked.get_state_display().lower()}: there is no failure to take.")
        previous = locked.failure_owner
        if previous is not None and previous.pk == by.pk:
            return locked  # already theirs (a double click)
        if previous is not None and not force:
            raise RunError(f"{_name(previous)} has taken this failure already.")
        owner_filter = Q(failure_owner__isnull=True) if previous is None else Q(failure_owner=previous)
        taken = Run.objects.filter(owner_filter, pk=locked.pk, state=RunState.PAUSED).update(failure_owner=by)
        if taken != 1:
            # Cannot happen under the row lock; kept so a lost race can never pass silently.
            raise RunError("Someone else took the failure at the same moment: refresh the page.")
        text = f"{_name(by)} took the failure" + (f" over from {_name(previous)}" if previous else "")
        decision_event(run=locked, by=by, decision="take", text=text,
                       **({"taken_from": previous.pk} if previous else {}))
        locked.refresh_from_db()
        return locked


def run_take_over(*, run: Run, by: User, reason: str) -> Run:
    """Another engineer takes the run over from the one who drives it (away, ill, at the end of a
    shift): from now on they drive it, and a failure their colleague had taken is theirs. Recorded
    with the reason on the run's timeline."""
    reason = reason_required(reason)
    if not run.may(by, "run.take_over"):
        raise PermissionDenied
    with transaction.atomic(), pghistory.context(user=by.pk, decision="take_over", reason=reason):
        locked = _locked(run)
        if locked.state in FINISHED_RUN_STATES:
            raise RunError(f"The run is {locked.get_state_display().lower()}: there is nothing to take over.")
        previous = locked.driven_by
        if previous.pk == by.pk:
            raise RunError("You drive this run already.")
        owner = by if locked.failure_owner_id == previous.pk else locked.failure_owner
        Run.objects.filter(pk=locked.pk).update(driver=by, failure_owner=owner)
        decision_event(run=locked, by=by, decision="take_over", reason=reason, taken_from=previous.pk,
                       text=f"{_name(by)} took the run over from {_name(previous)}: {reason}")
        locked.refresh_from_db()
        return locked


def step_retry(*, step: Step, by: User, reason: str = "") -> Step:
    """S14 'Re-initiate': the failed or interrupted step runs again (a new attempt)."""
    return _decide_step(step, by=by, decision="retry", reason=reason, done="retried “{}”",
                        error="", worker="", heartbeat_at=None, finished_at=None)


def _decide_step(step: Step, *, by: User, decision: str, reason: str, done: str, **fields) -> Step:
    """A decision on one step of the paused run (steps 2 and 3 above): the failure's owner moves
    the step by the move named `decision`, setting `fields`; the event says what was `done` to
    it ("{}" standing for the step's action) and why; the run resumes if nothing else failed."""
    with transaction.atomic(), pghistory.context(user=by.pk, decision=decision, reason=reason):
        run = require_owner(step.run, by)
        _step_of(run, step)
        moved = _move_step(step, decision, **fields)
        decision_event(run=run, by=by, decision=decision, step=moved, reason=reason,
                       text=f"{_name(by)} {done.format(moved.action)}" + (f": {reason}" if reason else ""))
        resume(run=run, by=by)
        return moved


def _not_the_proof(step: Step, verb: str) -> None:
    """A rollback's verification is what lets the run say "rolled back": it passes, or it is tried
    again; nobody's word replaces it."""
    if step.kind == StepKind.VERIFY:
        raise RunError(f"The rollback's verification cannot be {verb}: put the servers right, then retry it "
                       "(or abort the run, which says the service was not verified).")


def step_mark_fixed(*, step: Step, by: User, reason: str) -> Step:
    """S14 'Complete the procedure by hand': the cause was corrected outside the portal; the step
    counts as succeeded and the run goes on."""
    reason = reason_required(reason)
    _not_the_proof(step, "marked as fixed")
    return _decide_step(step, by=by, decision="mark_fixed", reason=reason, done="marked “{}” as fixed",
                        finished_at=timezone.now(), result={**step.result, "fixed_by_hand": reason})


def step_skip(*, step: Step, by: User, reason: str) -> Step:
    """Leave a step out, with a reason. The customer's sign-off is never skipped (S17)."""
    reason = reason_required(reason)
    if step.kind == StepKind.SIGN_OFF:
        raise RunError("The customer's verification and sign-off cannot be skipped (S17).")
    _not_the_proof(step, "skipped")
    return _decide_step(step, by=by, decision="skip", reason=reason, done="skipped “{}”",
                        finished_at=timezone.now(), result={**step.result, "skipped": reason})


def run_abort(*, run: Run, by: User, reason: str) -> Run:
    """Stop the run for good. The failure's owner aborts a paused run; support and administrators
    may abort any run under way. A step still running ends on its own; nothing follows it. The
    request ends aborted and the window completed (lifecycle): the customer may request again."""
    reason = reason_required(reason)
    with transaction.atomic(), pghistory.context(user=by.pk, decision="abort", reason=reason):
        locked = _locked(run)
        if not locked.may(by, "run.abort"):
            raise PermissionDenied
        if locked.state in FINISHED_RUN_STATES:
            raise RunError(f"The run is {locked.get_state_display().lower()} already.")
        if locked.state == RunState.SCHEDULED:
            raise RunError("The run has not started: cancel its window instead.")
        if not access.is_desk(by):
            require_owner(locked, by)
        move = RUN_MOVES["abort"]
        moved = Run.objects.filter(pk=locked.pk, state__in=move.sources).update(
            state=move.target, finished_at=timezone.now(), failure_owner=None,
        )
        if moved != 1:
            raise RunError("The run moved on meanwhile: refresh the page.")
        decision_event(run=locked, by=by, decision="abort", reason=reason, text=f"{_name(by)} aborted the run: {reason}")
        event_emit(run=locked, kind="run", actor=by, text="The run was aborted", data={"state": move.target})
        if locked.probe_id:
            # The service may be down: measure on until it answers (bounded), as at any end.
            probe_stop(probe=locked.probe, until_up_within=timedelta(minutes=settings.RUN_PROBE_AFTER_END_MINUTES))
        lifecycle.run_closed(run=locked, by=by, reason=reason)
        locked.refresh_from_db()
        return locked
