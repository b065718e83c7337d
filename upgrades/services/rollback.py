"""Rollback (S15) and rebuild (S16) of a run, as steps of their own that the engine executes
through the drivers like any other (`upgrades.rollback_plan` says which).

1. The engineer who owns the failure asks for a rollback, with a method that applies and a
   reason; the customer's lead contact is mailed to decide. The page advises it when a
   problem remains and less than an hour of the window is left.
2. The lead contact authorises or refuses it, with a reason, on the live page; both sides are
   mailed. Authorised: the upgrade's remaining steps are skipped, the rollback's survey is added
   after them, the run resumes. Refused: the run stays paused for the engineer's next decision.
3. The survey asks every server what it runs and plans the rest from that (`rollback_plan`);
   the rollback's last step verifies every server and the service. Then, and only then, the
   engine ends the run rolled back, the deployment on the versions its servers reported
   (`engine.run_advance`).
4. A rebuild of one group is put before the step that failed, which is then tried again: the
   group is rebuilt, then the procedure goes on (S14's "re-initiate").
"""

from datetime import datetime, timedelta

import pghistory
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from portal import recipients
from portal.choices import NoticeKind
from portal.models import User
from portal.notices import notice_enqueue
from upgrades.choices import RollbackMethod, RollbackState, RunState, StepProcedure, StepState
from upgrades.models import RollbackDecision, Run, Step
from upgrades.procedure import PlannedStep
from upgrades.rollback_plan import rebuild_procedure, survey_step
from upgrades.runflow import STEP_MOVES, RunError
from upgrades.services import plans
from upgrades.services.decisions import PROBLEM_STATES, decision_event, reason_required, require_owner, resume
from upgrades.services.engine import schema_changed
from upgrades.services.events import event_emit

ADVISED_WITHIN = timedelta(hours=1)  # S15: less than one hour of the window left


# -- What applies -------------------------------------------------------------------------


def rollback_methods(run: Run) -> list[str]:
    """The methods that apply, in the seed's order: the database restore only when the schema
    changed, the snapshots only for virtual servers, the reinstall always."""
    methods = []
    if schema_changed(run):
        methods.append(RollbackMethod.RESTORE_DATABASE.value)
    if run.deployment.is_virtual:
        methods.append(RollbackMethod.RESTORE_SNAPSHOTS.value)
    methods.append(RollbackMethod.REINSTALL_PREVIOUS.value)
    return methods


def rollback_advised(run: Run, now: datetime | None = None) -> bool:
    """S15: a problem remains (the run is paused on it) and less than an hour of the window is
    left, and no rollback is already asked for or under way."""
    now = now or timezone.now()
    if run.state != RunState.PAUSED or run.planned_end - now >= ADVISED_WITHIN:
        return False
    return not run.rollbacks.filter(state__in=(RollbackState.REQUESTED, RollbackState.AUTHORISED)).exists()


# -- Mail ---------------------------------------------------------------------------------


def _link(run: Run) -> str:
    try:
        path = reverse("run-live", args=[run.pk])
    except NoReverseMatch:  # the live page's URL is not there (a portal without the pages)
        path = reverse("request-detail", args=[run.request_id])
    return settings.SITE_URL.rstrip("/") + path


def lead_addresses(run: Run) -> list[str]:
    """The customer's contacts who authorise or refuse a rollback (the lead, S15)."""
    return list(recipients.contacts_who_may("run.decide_rollback", organisation_id=run.deployment.organisation_id))


def _engineers(run: Run, *people: User | None) -> list[str]:
    """The window's engineer and `people`, each at their own address (a lead at their contact's)."""
    return list(recipients.of_users([run.window.engineer, *(person for person in people if person is not None)]))


def _mail(*, run: Run, key: str, to: list[str], subject: str, lines: list[str]) -> None:
    body = "\n\n".join([
        *lines,
        f"Deployment: {run.deployment}\nUpgrade: {run.from_version} to {run.to_version} ({run.get_kind_display().lower()})",
        f"Follow it live: {_link(run)}",
    ])
    # Who chose not to hear of rollbacks, where their role lets them (the lead contact must).
    to = list(recipients.wanting({address.strip().lower(): "" for address in to}, NoticeKind.ROLLBACK))
    notice_enqueue(key=key, topic=f"upgrades.run:{run.pk}", recipients=to,
                   subject=f"[{run.deployment.organisation.name}] {subject}", body=body)


# -- Steps added to a run -----------------------------------------------------------------


def _insert_before(run: Run, position: int, planned: list[PlannedStep], procedure: str) -> list[Step]:
    """The planned steps at `position`, the steps from there on moved after them. Positions are
    unique per run and checked row by row, so the later steps go out of the way first."""
    later = Step.objects.filter(run=run, position__gte=position)
    later.update(position=F("position") + 10_000)
    later_again = Step.objects.filter(run=run, position__gte=10_000)
    later_again.update(position=F("position") - 10_000 + len(planned))
    return plans.steps_at(run, planned, procedure, position)


def _rebuild_round(run: Run, group: int) -> int:
    """Which rebuild of this group in this run this is (1 for the first): keys stay unique."""
    return Step.objects.filter(run=run, procedure=StepProcedure.REBUILD,
                               key__regex=rf"^uninstall-g{group}(-r[0-9]+)?$").count() + 1


# -- Rollback -----------------------------------------------------------------------------


def rollback_request(*, run: Run, by: User, method: str, reason: str) -> RollbackDecision:
    """The failure's owner asks the customer's lead contact to authorise a rollback (S15)."""
    reason = reason_required(reason, "Say why a rollback is needed: the customer reads it before authorising.")
    with transaction.atomic(), pghistory.context(user=by.pk, decision="rollback_request", reason=reason):
        locked = require_owner(run, by)
        if method not in rollback_methods(locked):
            raise RunError(f"{RollbackMethod(method).label if method in RollbackMethod.values else method!r} "
                           "does not apply to this upgrade.")
        try:
            with transaction.atomic():
                decision = RollbackDecision.objects.create(run=locked, method=method, reason=reason, requested_by=by)
        except IntegrityError:
            # The one-open-rollback constraint: another request was made first.
            raise RunError("A rollback is already waiting for the customer's decision.") from None
        label = decision.get_method_display()
        decision_event(run=locked, by=by, decision="rollback_requested", reason=reason, method=method,
                       rollback=decision.pk,
                       text=f"{by.full_name} asks the customer to authorise a rollback ({label.lower()}): {reason}")
        _mail(run=locked, key=f"rollback:{decision.pk}:requested", to=lead_addresses(locked),
              subject="A rollback of your upgrade needs your authorisation",
              lines=[f"{by.full_name} asks for a rollback of the upgrade now in progress.",
                     f"Method: {label}\nReason: {reason}",
                     "The lead contact authorises or refuses it on the live page, with a reason."])
        return decision


def rollback_decide(*, decision: RollbackDecision, by: User, authorise: bool, reason: str) -> RollbackDecision:
    """The customer's lead contact authorises (the rollback starts) or refuses (the run stays
    paused for the engineer's next decision), with a reason."""
    reason = reason_required(reason, "Give a reason: it is recorded with your decision.")
    run = decision.run
    if not run.may(by, "run.decide_rollback"):
        raise PermissionDenied("Only the customer's lead contact can authorise or refuse a rollback.")
    state = RollbackState.AUTHORISED if authorise else RollbackState.REFUSED
    with transaction.atomic(), pghistory.context(user=by.pk, decision=f"rollback_{state}", reason=reason):
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if authorise and locked.state != RunState.PAUSED:
            raise RunError(f"The run is {locked.get_state_display().lower()}: the rollback cannot start now.")
        decided = RollbackDecision.objects.filter(pk=decision.pk, state=RollbackState.REQUESTED).update(
            state=state, decided_by=by, decided_at=timezone.now(), decision_reason=reason,
        )
        if decided != 1:
            # Decided already (a colleague, another tab): the first decision stands.
            raise RunError("This rollback has been decided already.")
        decision.refresh_from_db()
        word = "authorised" if authorise else "refused"
        decision_event(run=locked, by=by, decision=f"rollback_{word}", reason=reason, rollback=decision.pk,
                       method=decision.method, text=f"{by.full_name} {word} the rollback: {reason}")
        if authorise:
            _rollback_start(locked, decision, by)
        _mail(run=locked, key=f"rollback:{decision.pk}:{word}",
              to=[*lead_addresses(locked), *_engineers(locked, decision.requested_by, by)],
              subject=f"Rollback {word}",
              lines=[f"{by.full_name} {word} the rollback ({decision.get_method_display().lower()}).",
                     f"Reason: {reason}",
                     "The servers are now put back to the previous version; you can follow it live."
                     if authorise else "The upgrade stays paused; the engineer decides what happens next."])
        return decision


def _rollback_start(run: Run, decision: RollbackDecision, by: User) -> None:
    if run.steps.filter(state__in=(StepState.RUNNING, StepState.WAITING)).exists():
        raise RunError("A step is still running: the rollback starts when it has ended.")
    skip = STEP_MOVES["skip"]
    now = timezone.now()
    # The rest of the upgrade (and of any rebuild or earlier rollback) will not happen; the failed
    # step stays on record as skipped.
    Step.objects.filter(run=run, state__in=skip.sources).update(
        state=skip.target, finished_at=now,
    )
    # What the rollback does is planned by its first step, from what the servers report then.
    planned = [survey_step(round_=run.rollbacks.filter(state=RollbackState.AUTHORISED).count(), phase=run.phase)]
    plans.steps_append(run=run, planned=planned, procedure_name=StepProcedure.ROLLBACK)
    event_emit(run=run, kind="rollback", actor=by, text=f"Rollback started: {decision.get_method_display().lower()}",
               data={"rollback": decision.pk, "method": decision.method, "steps": [step.key for step in planned]})
    if not resume(run=run, by=by):
        raise RunError("A failed step remains outside the upgrade: decide on it first.")


# -- Rebuild ------------------------------------------------------------------------------


def rebuild_request(*, run: Run, server_group: int, by: User, reason: str) -> list[Step]:
    """S16: rebuild one group from scratch (uninstall, reboot, reinstall, reconnect) before the
    step that failed, which then runs again. The failure's owner decides it."""
    reason = reason_required(reason, "Say why the group is rebuilt: it is recorded with the decision.")
    with transaction.atomic(), pghistory.context(user=by.pk, decision="rebuild", reason=reason):
        locked = require_owner(run, by)
        if not locked.deployment.groups.filter(position=server_group).exists():
            raise RunError(f"The deployment has no server group {server_group}.")
        problem = locked.steps.filter(state__in=PROBLEM_STATES).order_by("position").first()
        following = problem or locked.steps.filter(state=StepState.PENDING).order_by("position").first()
        if following is None:
            raise RunError("Nothing is left to run after a rebuild.")
        planned = rebuild_procedure(group=server_group, round_=_rebuild_round(locked, server_group))
        rows = _insert_before(locked, following.position, planned, StepProcedure.REBUILD)
        if problem is not None:
            retry = STEP_MOVES["retry"]
            moved = Step.objects.filter(pk=problem.pk, state__in=retry.sources).update(
                state=retry.target, error="", worker="", heartbeat_at=None, finished_at=None,
            )
            if moved != 1:
                raise RunError("The failed step moved meanwhile: refresh the page.")
        decision_event(run=locked, by=by, decision="rebuild", reason=reason, group=server_group,
                       text=f"{by.full_name} rebuilds server group {server_group}: {reason}"
                       + (f"; then “{problem.action}” runs again" if problem else ""))
        resume(run=locked, by=by)
        return rows
