"""A run's plan: the procedure's steps (S13) with planned times from the window, frozen into Step
rows when the window is confirmed, and following the window while the run has not started.

1. `run_create` makes the confirmed window's run and its steps (once per window).
2. `run_replan` puts a scheduled run's steps on the window's times again, and on the deployment's
   groups as they are now (servers registered since, a window moved).
3. `run_discard` removes a run that never started, with its window's cancellation.
4. `steps_append` adds steps after the last one (a rollback's), numbered on from the last.
"""

from datetime import timedelta

import pghistory
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max

from portal.models import Deployment
from upgrades.choices import RunState, StepProcedure, UpgradeKind
from upgrades.models import Run, Step
from upgrades.procedure import Phase, PlannedStep, procedure, schedule
from upgrades.runflow import RunError
from upgrades.services.events import event_emit

COMPONENTS = ("cloudpaging", "openjdk", "tomcat")


def versions_of(deployment: Deployment) -> dict[str, str]:
    return {name: getattr(deployment, f"{name}_version") for name in COMPONENTS}


def run_for_window(window) -> Run | None:
    return Run.objects.filter(window=window).first()


def group_count(deployment: Deployment) -> int:
    """The groups the procedure acts on: those with registered servers."""
    return deployment.groups.filter(servers__isnull=False).distinct().count()


def _procedure_kind(kind: str) -> str:
    # S4: patches change files and services only, as minor upgrades do, and follow their procedure.
    return UpgradeKind.MAJOR if kind == UpgradeKind.MAJOR else UpgradeKind.MINOR


def _timed_steps(window, kind: str, groups: int) -> list[PlannedStep]:
    """The procedure for `groups` groups on the window's times; RunError when it cannot be planned."""
    kind = _procedure_kind(kind)
    try:
        planned = procedure(kind=kind, groups=groups)
    except ValueError as error:
        raise RunError(str(error)) from None
    preparation = timedelta(minutes=settings.SCHEDULING_PREPARATION_MINUTES)
    at_risk_start = min(window.start + preparation, window.end)
    downtime_start = window.downtime.lower if window.downtime and kind == UpgradeKind.MAJOR else None
    return schedule(planned, start=window.start, at_risk_start=at_risk_start, end=window.end,
                    downtime_start=downtime_start)


def plan_problem(window) -> str:
    """Why the window's upgrade cannot be planned as a run now, or ""."""
    request = window.request
    try:
        _timed_steps(window, request.kind, group_count(request.deployment))
    except RunError as error:
        return str(error)
    return ""


def steps_at(run: Run, planned: list[PlannedStep], procedure_name: str, first_position: int) -> list[Step]:
    """`planned` as the run's steps from `first_position` on (the positions must be free)."""
    return Step.objects.bulk_create([
        Step(run=run, procedure=procedure_name, position=first_position + index, number=step.number, key=step.key,
             action=step.action, kind=step.kind, operation=step.operation, groups=list(step.groups),
             performer=step.performer, phase=step.phase, marks=step.marks,
             planned_start=step.planned_start, planned_end=step.planned_end)
        for index, step in enumerate(planned)
    ])


def _plan_words(kind: str, timed: list[PlannedStep], groups: int) -> str:
    numbered = sum(1 for step in timed if step.number is not None)
    return (f"{numbered} steps of the {_procedure_kind(kind)} procedure for {groups} server groups, "
            "and the functionality tests before them")


def run_create(*, window) -> Run:
    """The window's run, with its plan frozen into steps; the same run if it exists already.
    RunError when the window is not confirmed or the deployment cannot be upgraded by the
    procedure (fewer than two server groups, S5)."""
    existing = run_for_window(window)
    if existing is not None:
        return existing
    if not window.is_confirmed:
        raise RunError("Only a confirmed maintenance window has a run.")
    request = window.request
    # The deployment as it is now, not as a caller's copy of it may remember it.
    deployment = Deployment.objects.get(pk=request.deployment_id)
    release = request.release
    groups = group_count(deployment)
    timed = _timed_steps(window, request.kind, groups)
    try:
        with transaction.atomic(), pghistory.context(window=window.pk):
            run = Run.objects.create(
                window=window, request=request, deployment=deployment, kind=request.kind,
                from_version=request.from_version, to_version=release.version,
                previous_versions=versions_of(deployment),
                target_versions={"cloudpaging": release.version, "openjdk": release.openjdk_version,
                                 "tomcat": release.tomcat_version},
                planned_start=window.start, planned_end=window.end, phase=Phase.PREPARATION,
            )
            steps_at(run, timed, StepProcedure.UPGRADE, 0)
            event_emit(run=run, kind="run", text=f"Plan frozen: {_plan_words(request.kind, timed, groups)}",
                       data={"state": run.state})
    except IntegrityError:
        # Another request made this window's run at the same moment (one run per window): use it.
        found = run_for_window(window)
        if found is None:
            raise
        return found
    return run


def run_replan(*, run: Run, window) -> Run:
    """A scheduled run's steps again, on the window's times and the deployment's groups now. A run
    that has started keeps its plan: the window no longer moves then (lifecycle)."""
    with transaction.atomic(), pghistory.context(window=window.pk, run=run.pk):
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.state != RunState.SCHEDULED:
            raise RunError(f"The run is {locked.get_state_display().lower()}: its plan no longer changes.")
        request = window.request
        deployment = Deployment.objects.get(pk=request.deployment_id)
        groups = group_count(deployment)
        timed = _timed_steps(window, request.kind, groups)
        locked.steps.all().delete()
        steps_at(locked, timed, StepProcedure.UPGRADE, 0)
        Run.objects.filter(pk=locked.pk).update(
            planned_start=window.start, planned_end=window.end, previous_versions=versions_of(deployment),
        )
        event_emit(run=locked, kind="run", text=f"Plan follows the window from {window.start:%Y-%m-%d %H:%M} UTC: "
                   f"{_plan_words(request.kind, timed, groups)}", data={"state": locked.state})
        locked.refresh_from_db()
        return locked


def run_discard(*, run: Run) -> bool:
    """Remove a run that never started (its window was cancelled); False if it had started."""
    deleted, _ = Run.objects.filter(pk=run.pk, state=RunState.SCHEDULED).delete()
    return bool(deleted)


def steps_append(*, run: Run, planned: list[PlannedStep], procedure_name: str) -> list[Step]:
    """`planned` after the run's last step (a rollback's steps)."""
    last = Step.objects.filter(run=run).aggregate(last=Max("position"))["last"]
    return steps_at(run, planned, procedure_name, (last if last is not None else -1) + 1)
