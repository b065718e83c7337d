"""People's moves on a run (S13, S17): the engineer starts it, the engineer and the customer's
administrator confirm the functionality tests, the customer signs off, the engineer continues a
still run. The worker's side is `services.engine`; failures are decided in `services.decisions`.
`run_create` and the plan that follows its window are in `services.plans` and `.lifecycle`.
"""

import logging
import uuid

import pghistory
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from portal.models import User
from upgrades.choices import MANUAL_CHECKS, FunctionalityCheck, RunState, StepProcedure, StepState
from upgrades.models import CheckResult, Run, SignOff, Step
from upgrades.procedure import PHASE_WORDS, Performer, Phase, StepKind
from upgrades.runflow import RUN_MOVES, STEP_MOVES, RunError
from upgrades.selectors import step_pending
from upgrades.services import lifecycle, plans, readiness
from upgrades.services.availability import probe_start
from upgrades.services.checks import check_confirm
from upgrades.services.engine import (
    FINAL_CHECKS, label, pause, record_versions, run_advance, send_step, stage, step_event, stop_probe,
)
from upgrades.services.events import event_emit
log = logging.getLogger(__name__)

# -- Who may do what ---------------------------------------------------------------------------


def _name(user: User) -> str:
    return user.full_name or user.email


# -- Starting a run ---------------------------------------------------------------------------
# (A run is made, and its plan follows its window, in upgrades.services.plans and .lifecycle.)


def run_start(*, run: Run, by: User) -> Run:
    """S13: the engineer starts the run in its window, once what S11 asks for immediately before
    is recorded (readiness); the prober measures the service from now. The versions the
    preflight found on the servers are what a rollback puts back."""
    if not run.may(by, "run.start"):
        raise PermissionDenied
    now = timezone.now()
    window = run.window
    if not window.is_confirmed:
        raise RunError("The window is not confirmed: the run cannot start.")
    if now < window.start:
        raise RunError(f"The window opens at {window.start:%H:%M} UTC: the run cannot start before it.")
    if now >= window.end:
        raise RunError("The window is over: book a new one.")
    missing = readiness.readiness_missing(run, now=now)
    if missing:
        raise RunError("Not ready to start (S11): " + " ".join(missing))
    if plans.group_count(run.deployment) != _planned_groups(run):
        # Servers were registered or removed since the plan was made: plan again, on the window.
        run = plans.run_replan(run=run, window=window)
    move = RUN_MOVES["start"]
    with transaction.atomic(), pghistory.context(user=by.pk, run=run.pk):
        started = Run.objects.filter(pk=run.pk, state__in=move.sources).update(
            state=move.target, started_at=now, started_by=by,
            previous_versions=readiness.preflight_versions(run) or run.previous_versions,
        )
        if started != 1:
            # Someone started (or aborted) it first: say so, change nothing.
            current = Run.objects.get(pk=run.pk)
            raise RunError(f"The run is {current.get_state_display().lower()} already.")
        event_emit(run=run, kind="run", actor=by, text=f"{_name(by)} started the run", data={"state": move.target})
        lifecycle.run_started(run=run, by=by)
        deployment = run.deployment
        if deployment.service_url:
            probe = probe_start(deployment=deployment)
            Run.objects.filter(pk=run.pk).update(probe=probe)
        else:
            event_emit(run=run, kind="run", text="No service address: the availability is not measured")
        run_advance(run=run)
    run.refresh_from_db()
    return run


def _planned_groups(run: Run) -> int:
    return len({group for groups in run.steps.filter(procedure=StepProcedure.UPGRADE).values_list("groups", flat=True)
                for group in groups})


# -- People: confirmations and the sign-off ----------------------------------------------------


def step_confirm(*, step: Step, by: User, passed: bool = True, note: str = "") -> Step:
    """A person's confirmation of a waiting step (S12): the engineer, and for the tests the
    customer's administrator beside them. The manual checks (the test machine; before the upgrade
    also the requirements) are recorded in the step's round. The step succeeds once everyone
    needed has confirmed; `passed=False` fails it and pauses the run."""
    run = step.run
    as_engineer = run.may(by, "run.confirm_as_engineer")
    as_customer = run.may(by, "run.confirm_as_customer") and step.performer == Performer.ENGINEER_AND_ADMIN
    if not (as_engineer or as_customer):
        raise PermissionDenied
    if step.kind == StepKind.SIGN_OFF:
        raise RunError("The customer signs off with their name and comment (the sign-off form).")
    with transaction.atomic(), pghistory.context(user=by.pk, step=step.pk):
        # The row lock orders the engineer's and the customer's confirmations of one step.
        locked = Step.objects.select_for_update().select_related("run", "run__deployment").get(pk=step.pk)
        if locked.state != StepState.WAITING:
            raise RunError(f"“{locked.action}” is {locked.get_state_display().lower()}: there is nothing to confirm.")
        side = "confirmed_by_engineer" if as_engineer else "confirmed_by_customer"
        if getattr(locked, f"{side}_id") is not None:
            raise RunError(f"{'The engineer' if as_engineer else 'The customer'} has confirmed this step already.")
        _record_manual_checks(locked, by=by, passed=passed, note=note)
        if not passed:
            setattr(locked, side, by)
            fail = STEP_MOVES["fail"]
            failed = Step.objects.filter(pk=locked.pk, state__in=fail.sources).update(
                state=fail.target, finished_at=timezone.now(), error=f"{_name(by)}: {note or 'the tests did not pass'}",
                **{side: by},
            )
            if failed != 1:
                raise RunError("The step moved on meanwhile: refresh the page.")
            locked.refresh_from_db()
            step_event(locked, f"{label(locked)} failed: {_name(by)} reports a problem" + (f": {note}" if note else ""),
                        actor=by, error=locked.error)
            pause(locked.run, f"The run is paused: {label(locked)} failed")
            return locked
        Step.objects.filter(pk=locked.pk).update(**{side: by})
        setattr(locked, side, by)
        needed = locked.performer == Performer.ENGINEER_AND_ADMIN
        if needed and not (locked.confirmed_by_engineer_id and locked.confirmed_by_customer_id):
            step_event(locked, f"{_name(by)} confirmed “{locked.action}”" + (f": {note}" if note else ""), actor=by,
                        confirmed=side)
            return locked
        confirm = STEP_MOVES["confirm"]
        moved = {"state": confirm.target, "finished_at": timezone.now()}
        confirmed = Step.objects.filter(pk=locked.pk, state__in=confirm.sources).update(**moved)
        if confirmed != 1:
            raise RunError("The step moved on meanwhile: refresh the page.")
        # The row is as this UPDATE left it, under the lock: no need to read it back.
        for name, value in moved.items():
            setattr(locked, name, value)
        step_event(locked, f"{_name(by)} confirmed “{locked.action}”: {label(locked)} succeeded", actor=by,
                    confirmed=side)
        run_advance(run=locked.run)
    return locked


def _record_manual_checks(step: Step, *, by: User, passed: bool, note: str) -> None:
    if step.kind != StepKind.CHECKS:
        return
    kinds = MANUAL_CHECKS if step.phase == Phase.PREPARATION else (FunctionalityCheck.TEST_MACHINE,)
    round = uuid.UUID(step.result["round"]) if step.result.get("round") else None
    for kind in kinds:
        check_confirm(deployment=step.run.deployment, kind=kind, passed=passed, by=by, note=note, stage=stage(step),
                      round=round)


def run_sign_off(*, run: Run, by: User, name: str, comment: str = "") -> SignOff:
    """S17: the customer's verification and sign-off, with the final tests' results attached. The
    run completes and closes its request and window (lifecycle); the prober samples on until the
    service answers; the deployment records the versions its servers reported in the final tests."""
    if not run.may(by, "run.sign_off"):
        raise PermissionDenied
    name = (name or "").strip()
    if not name:
        raise RunError("Sign with your name.")
    with transaction.atomic(), pghistory.context(user=by.pk, run=run.pk):
        step = run.steps.filter(procedure=StepProcedure.UPGRADE, kind=StepKind.SIGN_OFF).first()
        confirm = STEP_MOVES["confirm"]
        signed = Step.objects.filter(pk=step.pk, state__in=confirm.sources).update(
            state=confirm.target, finished_at=timezone.now(), confirmed_by_customer=by,
        ) if step else 0
        if signed != 1:
            raise RunError("The run is not waiting for the sign-off.")
        complete = RUN_MOVES["complete"]
        completed = Run.objects.filter(pk=run.pk, state__in=complete.sources).update(
            state=complete.target, finished_at=timezone.now(), phase=Phase.FULL,
        )
        if completed != 1:
            # The run was paused or aborted meanwhile: the transaction undoes the step's move too.
            raise RunError("The run is not running any more: it cannot be signed off.")
        sign_off = SignOff.objects.create(run=run, name=name, comment=comment, checks=_final_checks(run), signed_by=by)
        final = run.steps.filter(procedure=StepProcedure.UPGRADE, key=FINAL_CHECKS).first()
        # The final tests read every server's versions; marked as fixed by hand, they read none,
        # and the engineer's word for the release's versions stands.
        record_versions(run, (final.result.get("reported") if final else None) or dict(run.target_versions))
        stop_probe(run)
        lifecycle.run_closed(run=run, by=by, reason=f"signed off by {name}")
        step.refresh_from_db()
        step_event(step, f"{name} signed off" + (f": {comment}" if comment else ""), actor=by)
        event_emit(run=run, kind="phase", actor=by, text=PHASE_WORDS[Phase.FULL],
                   data={"phase": Phase.FULL, "words": PHASE_WORDS[Phase.FULL]})
        event_emit(run=run, kind="run", actor=by, text=f"Completed: {run.deployment} upgraded to {run.to_version}",
                   data={"state": complete.target})
    run.refresh_from_db()
    return sign_off


def _final_checks(run: Run) -> list[dict]:
    """The results of the last functionality tests, automatic and confirmed, as signed."""
    last = run.steps.filter(kind=StepKind.CHECKS, state=StepState.SUCCEEDED).order_by("-position").first()
    if last is None or not last.result.get("round"):
        return []
    rows = CheckResult.objects.filter(deployment_id=run.deployment_id, round=last.result["round"]).select_related(
        "recorded_by")
    return [{"kind": row.kind, "passed": row.passed, "detail": row.detail, "duration_ms": row.duration_ms,
             "recorded_by": _name(row.recorded_by) if row.recorded_by else None, "at": row.recorded_at.isoformat()}
            for row in rows]


def run_continue(*, run: Run, by: User) -> Step:
    """The engineer moves a still run on: what is due is sent again (the claim keeps a duplicate
    from doing anything), and the page's timeline says who did it."""
    with transaction.atomic(), pghistory.context(user=by.pk, run=run.pk):
        locked = Run.objects.select_for_update(of=("self",)).select_related("window", "driver").get(pk=run.pk)
        if not locked.may(by, "run.continue"):
            raise PermissionDenied
        if locked.state != RunState.RUNNING:
            raise RunError(f"The run is {locked.get_state_display().lower()}: there is nothing to continue.")
        following = step_pending(locked)
        if following is None:
            raise RunError("The run is moving: nothing is waiting to be sent.")
        send_step(following)
        event_emit(run=locked, kind="decision", step=following, actor=by,
                   text=f"{_name(by)} continued the run: {label(following)} sent to a worker again",
                   data={"decision": "continue", "step_key": following.key})
    return following


