"""The run engine (S13, S14, S17): a persisted state machine that Celery workers push forward one
step at a time. docs/procedures.md says why it is not a Celery chain.

1. `run_create` freezes the window's plan (`procedure` + `schedule`) into Step rows, once per window.
2. `run_start` moves the run to running, starts the availability prober and, after commit, asks
   `run_advance` for the first step.
3. `run_advance` looks at the steps in order: the first one not succeeded or skipped is sent to a
   worker when it is pending; while it runs, waits for people, or has failed, nothing is sent.
4. `step_execute` (the `upgrades.step_task` task) claims its step with a guarded UPDATE (pending,
   the run running): a duplicated message claims nothing and leaves. It heartbeats from a thread
   while it works, runs the step (driver operations on the group's servers at once, every log line
   an event; the database upgrade; automatic checks), then succeeds (and advances after commit),
   waits for people, or fails and pauses the run. Each end is a guarded move on the claim (state
   running, this worker): a step the sweep took away meanwhile is left as the sweep left it.
5. `steps_sweep` (beat) marks running steps whose heartbeat went stale as interrupted and pauses
   their runs. It never runs anything again: a person decides (services.decisions).
6. `step_confirm` records the people's confirmations of a waiting checks step; `run_sign_off` is
   the customer's verification (S17), which completes the run.
"""

import logging
import threading
import time
import uuid
from datetime import timedelta

import pghistory
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from portal.choices import Role, ServerRole
from portal.dispatch import dispatch
from portal.dispatch import in_flight as dispatch_in_flight
from portal.dispatch import latest as dispatch_latest
from portal.models import Deployment, Server, User
from scheduling.choices import WindowState
from upgrades import drivers
from upgrades.choices import MANUAL_CHECKS, FunctionalityCheck, RollbackState, RunState, StepProcedure, StepState
from upgrades.models import CheckResult, Run, SignOff, Step
from upgrades.procedure import PHASE_WORDS, Performer, Phase, PlannedStep, StepKind
from upgrades.rollback_plan import ServerNow, rollback_procedure
from upgrades.runflow import DONE_STEP_STATES, RUN_MOVES, STEP_MOVES, RunError
from upgrades.services import lifecycle, plans, readiness
from upgrades.services.availability import probe_start, probe_stop
from upgrades.services.checks import check_confirm, checks_run
from upgrades.services.events import event_emit
from upgrades.services.rollback import schema_changed

log = logging.getLogger(__name__)

# Who drives a run and confirms as "the Cloudpaging engineer".
ENGINEERS = (Role.ENGINEER, Role.ADMIN)
# The upgrade's last functionality tests (upgrades.procedure): they also prove the versions.
FINAL_CHECKS = "checks-final"


# -- Who may do what ---------------------------------------------------------------------------


def _is_engineer(user: User) -> bool:
    return user.is_authenticated and user.is_active and user.role in ENGINEERS


def _is_customer_of(user: User, run: Run) -> bool:
    return user.is_authenticated and user.is_customer and user.organisation_id == run.deployment.organisation_id


def _name(user: User) -> str:
    return user.full_name or user.email


# -- Starting a run ---------------------------------------------------------------------------
# (A run is made, and its plan follows its window, in upgrades.services.plans and .lifecycle.)


def run_start(*, run: Run, by: User) -> Run:
    """S13: the engineer starts the run in its window, once what S11 asks for immediately before
    is recorded (readiness); the prober measures the service from now. The versions the
    preflight found on the servers are what a rollback puts back."""
    if not _is_engineer(by):
        raise PermissionDenied
    now = timezone.now()
    window = run.window
    if window.state != WindowState.CONFIRMED:
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


# -- Deciding what comes next ------------------------------------------------------------------


def _send(step: Step) -> None:
    """The step's task, in the outbox of the transaction that decided it is next."""
    dispatch("upgrades.step_task", step.pk, about=f"step:{step.pk}")


def run_advance(*, run: Run) -> None:
    """Send the next step to a worker, or end a finished rollback; nothing while a step runs,
    waits for people or has failed, nor while the run is not running. Called inside the
    transaction of the move that decides it, so that the next step's message is recorded with
    the move (portal.dispatch). Sending twice is harmless: the claim lets one task through."""
    run = Run.objects.get(pk=run.pk)
    if run.state != RunState.RUNNING:
        return
    following = run.steps.exclude(state__in=DONE_STEP_STATES).order_by("position").first()
    if following is None:
        _end_if_rolled_back(run)
    elif following.state == StepState.PENDING:
        _send(following)


def _end_if_rolled_back(run: Run) -> None:
    """Every step is done: with rollback steps among them the run ends rolled back (S15). Its last
    step verified that every server reports the previous versions and that the service passes
    the functionality tests: the deployment records what the servers reported."""
    if not run.steps.filter(procedure=StepProcedure.ROLLBACK).exists():
        return  # an upgrade ends with its sign-off (run_sign_off), nothing else
    move = RUN_MOVES["rolled_back"]
    with transaction.atomic(), pghistory.context(run=run.pk):
        ended = Run.objects.filter(pk=run.pk, state__in=move.sources).update(
            state=move.target, finished_at=timezone.now(), phase=Phase.FULL,
        )
        if ended != 1:
            return  # someone (another advance, an abort) ended it first: nothing more to do
        verified = run.steps.filter(procedure=StepProcedure.ROLLBACK, kind=StepKind.VERIFY).order_by("-position").first()
        reported = (verified.result.get("reported") if verified else None) or run.previous_versions
        _record_versions(run, reported)
        _stop_probe(run)
        lifecycle.run_closed(run=run, by=None, reason="every server reports "
                             f"{reported.get('cloudpaging', run.from_version)} and the service passes its tests")
        event_emit(run=run, kind="phase", text=PHASE_WORDS[Phase.FULL], data={"phase": Phase.FULL, "words": PHASE_WORDS[Phase.FULL]})
        event_emit(run=run, kind="run", text=f"Rolled back: every server reports {reported.get('cloudpaging')} "
                   "again and the service passes the functionality tests", data={"state": move.target})


def _record_versions(run: Run, versions: dict[str, str]) -> None:
    """The deployment's versions, as its servers reported them at the end of the run."""
    Deployment.objects.filter(pk=run.deployment_id).update(
        **{f"{name}_version": version for name, version in versions.items() if name in plans.COMPONENTS and version}
    )


def _stop_probe(run: Run) -> None:
    """The run has ended; the prober samples on until the service answers again (bounded), so
    that the downtime measured is the real one."""
    if run.probe_id:
        probe_stop(probe=run.probe, until_up_within=timedelta(minutes=settings.RUN_PROBE_AFTER_END_MINUTES))


# -- Executing a step --------------------------------------------------------------------------


def _step_event(step: Step, text: str, *, actor: User | None = None, **data) -> None:
    event_emit(run=step.run_id, kind="step", step=step, actor=actor, text=text, data={
        "key": step.key, "number": step.number, "procedure": step.procedure, "state": step.state,
        "attempt": step.attempts, **data,
    })


def _claim(step_id: int, worker: str) -> Step | None:
    """pending -> running, only while the run runs; None when another task has it (a duplicated
    message) or the step is not pending any more."""
    move = STEP_MOVES["claim"]
    now = timezone.now()
    with transaction.atomic(), pghistory.context(worker=worker, step=step_id):
        claimed = Step.objects.filter(pk=step_id, state__in=move.sources, run__state=RunState.RUNNING).update(
            state=move.target, attempts=F("attempts") + 1, started_at=now, heartbeat_at=now, finished_at=None,
            worker=worker, error="",
        )
        if claimed != 1:
            return None  # lost the race, or nothing to do: leave everything as it is
        step = Step.objects.select_related("run", "run__deployment").get(pk=step_id)
        run = step.run
        if step.phase and step.phase != run.phase:
            Run.objects.filter(pk=run.pk).update(phase=step.phase)
            run.phase = step.phase
            words = PHASE_WORDS.get(step.phase, step.phase)
            event_emit(run=run, kind="phase", step=step, text=words, data={"phase": step.phase, "words": words})
        retry = f" (attempt {step.attempts})" if step.attempts > 1 else ""
        _step_event(step, f"{_label(step)} started{retry}")
    return step


def _label(step: Step) -> str:
    return f"Step {step.number}: {step.action}" if step.number else step.action


class _Heartbeat:
    """Renews the claim from a thread while the step works, so that a live worker blocked on a long
    operation is told apart from a dead one. The thread opens a connection only once the first
    beat is due, and closes it when it ends."""

    def __init__(self, step_id: int, worker: str):
        self.step_id, self.worker = step_id, worker
        self.every = settings.RUN_HEARTBEAT_SECONDS
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat step {step_id}", daemon=True)

    def _beat(self) -> None:
        try:
            while not self.stopped.wait(self.every):
                beat = Step.objects.filter(pk=self.step_id, state=StepState.RUNNING, worker=self.worker).update(
                    heartbeat_at=timezone.now(),
                )
                if beat != 1:
                    return  # swept as interrupted: the step is no longer this worker's
        except Exception:  # a lost beat must not kill the step; the sweep judges by the row
            log.exception("step %s: heartbeat failed", self.step_id)
        finally:
            connection.close()

    def __enter__(self) -> "_Heartbeat":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join(timeout=self.every + 5)


class _Outcome:
    """How an attempt ended. `then`: steps the attempt planned (a rollback's, from the survey),
    added after the run's last step in the transaction of its success."""

    def __init__(self, ok: bool, result: dict, error: str = "", wait: bool = False,
                 then: list[PlannedStep] | None = None):
        self.ok, self.result, self.error, self.wait, self.then = ok, result, error, wait, then or []


def step_execute(*, step_id: int, worker: str) -> str:
    """The body of `upgrades.step_task` (see the module's docstring); answers what happened."""
    step = _claim(step_id, worker)
    if step is None:
        return "not claimed"
    try:
        with _Heartbeat(step.pk, worker):
            outcome = _work(step)
    except Exception as error:  # a bug must fail the step (and pause the run), not leave it running
        log.exception("step %s failed unexpectedly", step.pk)
        outcome = _Outcome(False, {}, f"The engine failed unexpectedly: {error.__class__.__name__}: {error}")
    if not outcome.ok:
        return _fail(step, worker, outcome)
    if outcome.wait:
        return _wait(step, worker, outcome)
    return _succeed(step, worker, outcome)


def _finish(step: Step, worker: str, move_name: str, **fields) -> bool:
    move = STEP_MOVES[move_name]
    moved = Step.objects.filter(pk=step.pk, state__in=move.sources, worker=worker).update(state=move.target, **fields)
    if moved != 1:
        # The sweep took the step away (stale heartbeat) while it worked: the interruption
        # stands and a person decides; this attempt's end changes nothing.
        log.warning("step %s: %s by %s lost, the step is no longer this worker's", step.pk, move_name, worker)
        return False
    step.refresh_from_db()
    return True


def _succeed(step: Step, worker: str, outcome: _Outcome) -> str:
    with transaction.atomic(), pghistory.context(worker=worker, step=step.pk):
        if not _finish(step, worker, "succeed", finished_at=timezone.now(), result=outcome.result):
            return "lost"
        _step_event(step, f"{_label(step)} succeeded")
        if outcome.then:
            added = plans.steps_append(run=step.run, planned=outcome.then, procedure_name=step.procedure)
            event_emit(run=step.run_id, kind="rollback", step=step,
                       text=f"Planned from what the servers report: {len(added)} steps",
                       data={"steps": [row.key for row in added]})
        run_advance(run=step.run)
    return "succeeded"


def _wait(step: Step, worker: str, outcome: _Outcome) -> str:
    with transaction.atomic(), pghistory.context(worker=worker, step=step.pk):
        if not _finish(step, worker, "wait", result=outcome.result):
            return "lost"
        if step.kind == StepKind.SIGN_OFF:
            who = "the customer's verification and sign-off"
        elif step.performer == Performer.ENGINEER_AND_ADMIN:
            who = "the engineer and the customer's administrator to confirm"
        else:
            who = "the engineer to confirm"
        _step_event(step, f"{_label(step)}: waiting for {who}")
    return "waiting"


def _fail(step: Step, worker: str, outcome: _Outcome) -> str:
    with transaction.atomic(), pghistory.context(worker=worker, step=step.pk):
        if not _finish(step, worker, "fail", finished_at=timezone.now(), error=outcome.error, result=outcome.result):
            return "lost"
        _step_event(step, f"{_label(step)} failed: {outcome.error}", error=outcome.error)
        _pause(step.run, f"The run is paused: {_label(step)} failed")
    return "failed"


def _pause(run: Run, text: str) -> None:
    move = RUN_MOVES["pause"]
    paused = Run.objects.filter(pk=run.pk, state__in=move.sources).update(state=move.target)
    # A run already paused (by another failure) or aborted stays as it is.
    if paused == 1:
        event_emit(run=run, kind="run", text=text, data={"state": move.target})


def _work(step: Step) -> _Outcome:
    if step.kind == StepKind.OPERATION:
        return _operate(step, step.operation, _servers(step))
    if step.kind == StepKind.DATABASE:
        # The upgrade's database step, or a rollback's restore of the StreamDB (step.operation).
        operation = step.operation or drivers.Operation.UPGRADE_DATABASE.value
        return _operate(step, operation, _servers(step, role=ServerRole.ADMIN_LICENSE))
    if step.kind == StepKind.CHECKS:
        return _checks(step)
    if step.kind == StepKind.SURVEY:
        return _survey(step)
    if step.kind == StepKind.VERIFY:
        return _verify(step)
    # The sign-off and any step a person performs by hand: the people confirm on the live page.
    return _Outcome(True, {}, wait=True)


def _servers(step: Step, *, role: str | None = None) -> list[Server]:
    servers = Server.objects.filter(deployment_id=step.run.deployment_id, group__position__in=step.groups)
    if role is not None:
        servers = servers.filter(role=role)
        # The database upgrade runs once, on the first group's Admin/License server.
        servers = servers.filter(group__position=step.groups[0]) if step.groups else servers
    return list(servers.order_by("group__position", "role", "hostname"))


def _install_versions(step: Step) -> dict[str, str]:
    run = step.run
    if step.procedure == StepProcedure.ROLLBACK:
        return dict(run.previous_versions)
    if step.procedure == StepProcedure.REBUILD:
        # A rebuilt server gets back what its group runs at this point of the plan (S16).
        version = _planned_version(run, step.groups[0]) if step.groups else run.from_version
        return dict(run.target_versions if version == run.to_version else run.previous_versions)
    return dict(run.target_versions)


def _already_done(operation: str, state: dict, params: dict) -> str:
    """Why the operation's change already holds on a server (from its driver's VERSIONS answer),
    or "". A retried step leaves such servers alone, so that nothing is applied twice: the worker
    of an interrupted attempt may have died after the server finished the operation."""
    versions, running, configured = state.get("versions", {}), state.get("running"), state.get("configured")
    if operation == drivers.Operation.STOP and running is False:
        return "already stopped"
    if operation == drivers.Operation.START and running is True:
        return "already running"
    if operation == drivers.Operation.INSTALL and all(versions.get(name) == value for name, value in params.items() if value):
        return f"already runs {params.get('cloudpaging')}"
    if operation == drivers.Operation.CONFIGURE and configured is True and running is True:
        return "already configured"
    return ""


def _operate(step: Step, operation_name: str, servers: list[Server]) -> _Outcome:
    """One driver operation on the servers at once; every log line becomes a live event."""
    try:
        operation = drivers.Operation(operation_name)
    except ValueError:
        return _Outcome(False, {}, f"No driver operation is called {operation_name!r}")
    if not servers:
        return _Outcome(False, {}, f"No registered server in server group(s) {', '.join(map(str, step.groups))}")
    params = _install_versions(step) if operation == drivers.Operation.INSTALL else {}
    timeout = float(settings.RUN_OPERATION_TIMEOUT_SECONDS)
    targets = drivers.targets_of(servers)
    skipped = {}
    # A retry, and every step of a rollback (planned per group, acting per server), leave alone the
    # servers where the change already holds: a server still on the previous version is not
    # reinstalled.
    if step.attempts > 1 or step.procedure == StepProcedure.ROLLBACK:
        for probe in drivers.operate(targets=targets, operation=drivers.Operation.VERSIONS, timeout=timeout):
            done = probe.ok and _already_done(operation, probe.data, params)
            if done:
                skipped[probe.hostname] = done
                event_emit(run=step.run_id, kind="log", step=step, text=f"{probe.hostname}: {operation} {done}: left alone",
                           data={"hostname": probe.hostname, "operation": operation.value})
        targets = [target for target in targets if target.hostname not in skipped]

    def on_line(line: drivers.LogLine) -> None:
        event_emit(run=step.run_id, kind="log", step=step, text=f"{line.hostname}: {line.text}",
                   data={"hostname": line.hostname, "operation": line.operation, "at": line.at.isoformat()})

    started = time.perf_counter()
    results = drivers.operate(targets=targets, operation=operation, params=params, on_line=on_line,
                              timeout=timeout) if targets else []
    seconds = time.perf_counter() - started
    result = {
        "operation": operation.value, "operation_seconds": round(seconds, 4),
        "servers": [{"hostname": r.hostname, "ok": r.ok, "message": r.message, "seconds": round(r.seconds, 3)}
                    for r in results]
        + [{"hostname": hostname, "ok": True, "message": f"{operation} {done}", "seconds": 0.0}
           for hostname, done in skipped.items()],
    }
    if params:
        result["installed"] = params
    failed = [r for r in results if not r.ok]
    if failed:
        return _Outcome(False, result, "; ".join(f"{r.hostname}: {r.message}" for r in failed))
    return _Outcome(True, result)


# -- What the servers report ---------------------------------------------------------------------


def _reported(run: Run) -> tuple[list[ServerNow], list[str]]:
    """Every server of the deployment as its driver reports it now (versions, running,
    configured), and the servers that did not answer."""
    servers = list(Server.objects.filter(deployment_id=run.deployment_id, group__isnull=False)
                   .select_related("group").order_by("group__position", "role", "hostname"))
    answers = drivers.operate(targets=drivers.targets_of(servers), operation=drivers.Operation.VERSIONS,
                              timeout=float(settings.RUN_OPERATION_TIMEOUT_SECONDS))
    found, silent = [], []
    for server, answer in zip(servers, answers, strict=True):
        if not answer.ok:
            silent.append(f"{server.hostname} did not answer: {answer.message}")
            continue
        found.append(ServerNow(hostname=server.hostname, role=server.role, group=server.group.position,
                               versions=dict(answer.data.get("versions", {})), running=answer.data.get("running"),
                               configured=answer.data.get("configured")))
    return found, silent


def _as_rows(found: list[ServerNow]) -> list[dict]:
    return [{"hostname": server.hostname, "group": server.group, "versions": server.versions,
             "running": server.running, "configured": server.configured} for server in found]


COMPONENT_NAMES = {"cloudpaging": "Cloudpaging Server", "openjdk": "OpenJDK", "tomcat": "Apache Tomcat"}


def _mismatches(found: list[ServerNow], expected: dict[str, str]) -> list[str]:
    """Servers that do not report `expected` or do not serve, in words."""
    wrong = []
    for server in found:
        differ = [f"{label} {server.versions.get(name) or 'none'}" for name, label in COMPONENT_NAMES.items()
                  if expected.get(name) and server.versions.get(name) != expected[name]]
        if differ:
            wrong.append(f"{server.hostname} reports {', '.join(differ)} (expected {expected.get('cloudpaging')})")
        elif not (server.running and server.configured):
            wrong.append(f"{server.hostname} is not serving (services stopped or not configured)")
    return wrong


def _survey(step: Step) -> _Outcome:
    """A rollback's first step: ask every server what it runs now, and plan the rollback from that
    (upgrades.rollback_plan), never from the upgrade's plan: each server goes back to the versions
    the preflight found before the run; a server already there is not touched."""
    run = step.run
    decision = run.rollbacks.filter(state=RollbackState.AUTHORISED).order_by("-decided_at").first()
    found, silent = _reported(run)
    result = {"servers": _as_rows(found)}
    if silent:
        return _Outcome(False, result, "; ".join(silent))
    for server in found:
        event_emit(run=run.pk, kind="log", step=step, data={"hostname": server.hostname},
                   text=f"{server.hostname}: runs {server.versions.get('cloudpaging') or 'nothing'}, "
                        f"services {'running' if server.running else 'stopped'}")
    planned = rollback_procedure(
        method=decision.method, servers=found, schema_changed=schema_changed(run),
        previous=dict(run.previous_versions), round_=_rollback_round(run), first_number=(step.number or 0) + 1,
    )
    result["planned"] = [planned_step.key for planned_step in planned]
    return _Outcome(True, result, then=planned)


def _rollback_round(run: Run) -> int:
    return run.rollbacks.filter(state=RollbackState.AUTHORISED).count()


def _verify(step: Step) -> _Outcome:
    """A rollback's last step: every server reports the previous versions and serves, and the
    functionality tests pass through the load balancer. Only then does the run end rolled back;
    otherwise it pauses as failed with what was found, for a person to decide."""
    run = step.run
    expected = dict(run.previous_versions)
    found, silent = _reported(run)
    wrong = silent + _mismatches(found, expected)
    round = uuid.uuid4()
    results = checks_run(deployment=run.deployment, expected_version=expected.get("cloudpaging", run.from_version),
                         stage=_stage(step), round=round)
    rows = [{"kind": r.kind, "passed": r.passed, "detail": r.detail, "duration_ms": r.duration_ms} for r in results]
    failed = [r for r in results if not r.passed]
    event_emit(run=run.pk, kind="check", step=step,
               text=f"Functionality tests after the rollback: {len(results) - len(failed)} of {len(results)} passed",
               data={"round": str(round), "results": rows, "expected_version": expected.get("cloudpaging")})
    result = {"servers": _as_rows(found), "round": str(round), "checks": rows, "expected": expected}
    problems = wrong + [f"{FunctionalityCheck(r.kind).label}: {r.detail}" for r in failed]
    if problems:
        return _Outcome(False, result, "Not rolled back yet: " + "; ".join(problems))
    result["reported"] = expected
    return _Outcome(True, result)


# -- Functionality tests (S12) -----------------------------------------------------------------


def _planned_version(run: Run, group: int) -> str:
    """The Cloudpaging version a group runs at this point: the last succeeded install on it."""
    version = run.from_version
    installs = run.steps.filter(state=StepState.SUCCEEDED, operation=drivers.Operation.INSTALL.value).order_by("position")
    for install in installs:
        if group in install.groups:
            fallback = run.to_version if install.procedure == StepProcedure.UPGRADE else run.from_version
            version = install.result.get("installed", {}).get("cloudpaging") or fallback
    return version


def _checks(step: Step) -> _Outcome:
    """The automatic tests through the load balancer, then people confirm (the step waits)."""
    run = step.run
    versions = {_planned_version(run, group) for group in step.groups} or {run.from_version}
    # While groups on two versions serve together (a minor upgrade of three groups or more), the
    # admin interface answers from either: both are right.
    expected = run.to_version if run.to_version in versions else next(iter(versions))
    round = uuid.uuid4()
    results = checks_run(deployment=run.deployment, expected_version=expected, stage=_stage(step), round=round)
    rows = [{"kind": r.kind, "passed": r.passed, "detail": r.detail, "duration_ms": r.duration_ms} for r in results]
    failed = [r for r in results if not r.passed and not _other_version_reported(r, versions - {expected})]
    passed = len(results) - len(failed)
    event_emit(run=run.pk, kind="check", step=step,
               text=f"Functionality tests against {_groups_words(step.groups)}: {passed} of {len(results)} passed",
               data={"round": str(round), "results": rows, "expected_version": expected})
    result = {"round": str(round), "expected_version": expected, "checks": rows}
    problems = [f"{FunctionalityCheck(r.kind).label}: {r.detail}" for r in failed]
    if step.key == FINAL_CHECKS and step.procedure == StepProcedure.UPGRADE:
        # The proof that closes the upgrade: every server reports the release's versions.
        found, silent = _reported(run)
        result["servers"] = _as_rows(found)
        wrong = silent + _mismatches(found, dict(run.target_versions))
        problems += wrong
        if not wrong:
            result["reported"] = dict(run.target_versions)
    if problems:
        return _Outcome(False, result, "; ".join(problems))
    return _Outcome(True, result, wait=True)


def _stage(step: Step) -> str:
    """When the tests ran, in a few words (CheckResult.stage)."""
    if step.phase == Phase.PREPARATION:
        return "Before the upgrade"
    return f"Step {step.number or '-'}: {_groups_words(step.groups)} serving"[:120]


def _other_version_reported(result: CheckResult, others: set[str]) -> bool:
    return result.kind == FunctionalityCheck.ADMIN_VERSION and any(f"reports {v}," in result.detail for v in others)


def _groups_words(groups: list[int]) -> str:
    if len(groups) == 1:
        return f"server group {groups[0]}"
    return "server groups " + ", ".join(map(str, groups[:-1])) + f" and {groups[-1]}"


# -- People: confirmations and the sign-off ----------------------------------------------------


def step_confirm(*, step: Step, by: User, passed: bool = True, note: str = "") -> Step:
    """A person's confirmation of a waiting step (S12): the engineer, and for the tests the
    customer's administrator beside them. The manual checks (the test machine; before the upgrade
    also the requirements) are recorded in the step's round. The step succeeds once everyone
    needed has confirmed; `passed=False` fails it and pauses the run."""
    run = step.run
    as_engineer, as_customer = _is_engineer(by), _is_customer_of(by, run)
    if not (as_engineer or (as_customer and step.performer == Performer.ENGINEER_AND_ADMIN)):
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
            _step_event(locked, f"{_label(locked)} failed: {_name(by)} reports a problem" + (f": {note}" if note else ""),
                        actor=by, error=locked.error)
            _pause(locked.run, f"The run is paused: {_label(locked)} failed")
            return locked
        Step.objects.filter(pk=locked.pk).update(**{side: by})
        setattr(locked, side, by)
        needed = locked.performer == Performer.ENGINEER_AND_ADMIN
        if needed and not (locked.confirmed_by_engineer_id and locked.confirmed_by_customer_id):
            _step_event(locked, f"{_name(by)} confirmed “{locked.action}”" + (f": {note}" if note else ""), actor=by,
                        confirmed=side)
            return locked
        confirm = STEP_MOVES["confirm"]
        confirmed = Step.objects.filter(pk=locked.pk, state__in=confirm.sources).update(
            state=confirm.target, finished_at=timezone.now(),
        )
        if confirmed != 1:
            raise RunError("The step moved on meanwhile: refresh the page.")
        locked.refresh_from_db()
        _step_event(locked, f"{_name(by)} confirmed “{locked.action}”: {_label(locked)} succeeded", actor=by,
                    confirmed=side)
        run_advance(run=locked.run)
    return locked


def _record_manual_checks(step: Step, *, by: User, passed: bool, note: str) -> None:
    if step.kind != StepKind.CHECKS:
        return
    kinds = MANUAL_CHECKS if step.phase == Phase.PREPARATION else (FunctionalityCheck.TEST_MACHINE,)
    round = uuid.UUID(step.result["round"]) if step.result.get("round") else None
    for kind in kinds:
        check_confirm(deployment=step.run.deployment, kind=kind, passed=passed, by=by, note=note, stage=_stage(step),
                      round=round)


def run_sign_off(*, run: Run, by: User, name: str, comment: str = "") -> SignOff:
    """S17: the customer's verification and sign-off, with the final tests' results attached. The
    run completes and closes its request and window (lifecycle); the prober samples on until the
    service answers; the deployment records the versions its servers reported in the final tests."""
    if not _is_customer_of(by, run):
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
        _record_versions(run, (final.result.get("reported") if final else None) or dict(run.target_versions))
        _stop_probe(run)
        lifecycle.run_closed(run=run, by=by, reason=f"signed off by {name}")
        step.refresh_from_db()
        _step_event(step, f"{name} signed off" + (f": {comment}" if comment else ""), actor=by)
        event_emit(run=run, kind="phase", actor=by, text=PHASE_WORDS[Phase.FULL],
                   data={"phase": Phase.FULL, "words": PHASE_WORDS[Phase.FULL]})
        event_emit(run=run, kind="run", actor=by, text=f"Completed: {run.deployment} runs {run.to_version}",
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


# -- The sweep (beat) --------------------------------------------------------------------------


def stale_limit() -> timedelta:
    """How old a heartbeat must be for its worker to count as dead: the sweep runs every
    RUN_SWEEP_SECONDS, so a step is interrupted at most RUN_STALE_AFTER_SECONDS after its last
    heartbeat, and a worker's death is never later than its last heartbeat."""
    return timedelta(seconds=settings.RUN_STALE_AFTER_SECONDS - settings.RUN_SWEEP_SECONDS)


def steps_sweep(*, stale_after: timedelta | None = None) -> int:
    """The dispatcher, every RUN_SWEEP_SECONDS: running steps whose heartbeat is stale belong to a
    worker that died: interrupted, and their runs paused. Nothing runs again by itself (S14: a
    person retries). Answers how many."""
    stale_after = stale_after or stale_limit()
    cutoff = timezone.now() - stale_after
    move = STEP_MOVES["interrupt"]
    swept = 0
    # The partial index upgrades_step_running serves this query.
    for step in Step.objects.filter(state=StepState.RUNNING, heartbeat_at__lt=cutoff).select_related("run"):
        with transaction.atomic(), pghistory.context(sweep=True, step=step.pk):
            interrupted = Step.objects.filter(pk=step.pk, state__in=move.sources, heartbeat_at__lt=cutoff).update(
                state=move.target, finished_at=timezone.now(),
                error=f"The worker ({step.worker}) stopped answering: no heartbeat since "
                      f"{step.heartbeat_at:%H:%M:%S} UTC. Check the servers, then retry or mark as fixed.",
            )
            if interrupted != 1:
                continue  # it finished or beat meanwhile: not a dead worker after all
            step.refresh_from_db()
            _step_event(step, f"{_label(step)} was interrupted: {step.error}", error=step.error)
            _pause(step.run, f"The run is paused: {_label(step)} was interrupted")
            swept += 1
    return swept


# -- Runs that stand still ---------------------------------------------------------------------

# A step's message received by a worker that died before claiming it is sent again after this.
RECEIVED_UNCLAIMED = timedelta(seconds=10)


def stranded(run: Run) -> Step | None:
    """The running run's next step when it is pending with nobody on it: no message on its way
    (portal.dispatch), and none received in the last moments by a worker that may be claiming it."""
    if run.state != RunState.RUNNING:
        return None
    following = run.steps.exclude(state__in=DONE_STEP_STATES).order_by("position").first()
    if following is None or following.state != StepState.PENDING:
        return None
    about = f"step:{following.pk}"
    if dispatch_in_flight(about) is not None:
        return None
    last = dispatch_latest(about)
    if last is not None and last.received_at and last.received_at > timezone.now() - RECEIVED_UNCLAIMED:
        return None
    return following


def runs_resend() -> int:
    """The dispatcher, every RUN_SWEEP_SECONDS: a running run whose next step is pending with
    nobody working on it and no message on its way (lost, or received by a worker that died
    before its claim) has that step sent again; the claim keeps a duplicate from doing anything.
    Answers how many."""
    sent = 0
    for run in Run.objects.filter(state=RunState.RUNNING):
        with transaction.atomic(), pghistory.context(sweep=True, run=run.pk):
            step = stranded(Run.objects.select_for_update().get(pk=run.pk))
            if step is not None:
                log.warning("run %s: step %s was pending with nobody on it: sent again", run.pk, step.pk)
                _send(step)
                sent += 1
    return sent


def run_continue(*, run: Run, by: User) -> Step:
    """The engineer moves a still run on: what is due is sent again (the claim keeps a duplicate
    from doing anything), and the page's timeline says who did it."""
    if not _is_engineer(by):
        raise PermissionDenied
    with transaction.atomic(), pghistory.context(user=by.pk, run=run.pk):
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.state != RunState.RUNNING:
            raise RunError(f"The run is {locked.get_state_display().lower()}: there is nothing to continue.")
        following = locked.steps.exclude(state__in=DONE_STEP_STATES).order_by("position").first()
        if following is None or following.state != StepState.PENDING:
            raise RunError("The run is moving: nothing is waiting to be sent.")
        _send(following)
        event_emit(run=locked, kind="decision", step=following, actor=by,
                   text=f"{_name(by)} continued the run: {_label(following)} sent to a worker again",
                   data={"decision": "continue", "step_key": following.key})
    return following


def _queued_step(dispatch) -> Step | None:
    if not dispatch.about.startswith("step:"):
        return None
    return Step.objects.filter(pk=int(dispatch.about.removeprefix("step:"))).select_related("run").first()


def step_send_failed(*, dispatch, **kwargs) -> None:
    """The next step's message could not be sent (Redis away): the live page says the run waits
    for the queue, rather than that nothing is to be done."""
    step = _queued_step(dispatch)
    if step is not None and step.state == StepState.PENDING:
        event_emit(run=step.run_id, kind="run", step=step, data={"queue": "down"},
                   text=f"Waiting for the task queue: {_label(step)} starts as soon as it answers again")


def step_sent_late(*, dispatch, **kwargs) -> None:
    step = _queued_step(dispatch)
    if step is not None:
        event_emit(run=step.run_id, kind="run", step=step, data={"queue": "up"},
                   text=f"The task queue answers again: {_label(step)} is on its way to a worker")
