"""The run engine (S13, S14, S17): the worker's side of a run, a persisted state machine that
Celery workers push forward one step at a time. docs/procedures.md says why it is not a Celery
chain. (People's moves are in `services.runs` and `services.decisions`.)

1. `run_advance` looks at the steps in order: the first one not succeeded or skipped is sent to a
   worker when it is pending (through the task outbox, in the transaction of the move that
   decides it); while it runs, waits for people, or has failed, nothing is sent.
2. `step_execute` (the `upgrades.step_task` task) claims its step with a guarded UPDATE (pending,
   the run running): a duplicated message claims nothing and leaves. It heartbeats from a thread
   while it works, runs the step (driver operations on the group's servers at once, every log line
   an event, a group leaving service only once the load balancer has the groups that keep serving
   in its pool; the database upgrade; automatic checks), then succeeds (and advances), waits for
   people, or fails and pauses the run. Each end is a guarded move on the claim (state running,
   this worker): a step the sweep took away meanwhile is left as the sweep left it. A step that
   succeeds hands the run's next one to its own worker, claimed in the transaction of the
   success: no hand-over through the broker or the outbox between automated steps, and a worker
   that dies after it leaves a running step whose heartbeat stops, as in any step.
3. `steps_sweep` (the dispatcher) marks running steps whose heartbeat went stale as interrupted and
   pauses their runs. It never runs anything again: a person decides (services.decisions).
   `runs_resend` sends again a stranded run's next step.
"""

import logging
import threading
import time
import uuid
from datetime import timedelta

import pghistory
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from portal.choices import ServerRole
from portal.dispatch import dispatch
from portal.dispatch import in_flight as dispatch_in_flight
from portal.dispatch import latest as dispatch_latest
from portal.models import Deployment, Dispatch, Server, User
from upgrades import drivers
from upgrades.choices import FunctionalityCheck, RollbackState, RunState, StepProcedure, StepState, UpgradeKind
from upgrades.models import CheckResult, Run, Step
from upgrades.procedure import PHASE_WORDS, Performer, Phase, PlannedStep, StepKind
from upgrades.rollback_plan import ServerNow, rollback_procedure
from upgrades.runflow import RUN_MOVES, STEP_MOVES
from upgrades.selectors import step_next, step_pending
from upgrades.services import lifecycle, plans, run_notices
from upgrades.services.availability import probe_stop
from upgrades.services.checks import checks_run
from upgrades.services.events import event_emit, log_lines_emit
from upgrades.signals import run_paused

log = logging.getLogger(__name__)

# The upgrade's last functionality tests (upgrades.procedure): they also prove the versions.
FINAL_CHECKS = "checks-final"


# -- Deciding what comes next ------------------------------------------------------------------


def send_step(step: Step) -> Dispatch:
    """The step's task, in the outbox of the transaction that decided it is next: sent to a
    worker after commit."""
    return dispatch("upgrades.step_task", step.pk, about=f"step:{step.pk}")


def run_advance(*, run: Run) -> Dispatch | None:
    """Send the next step to a worker, or end a finished rollback; nothing while a step runs,
    waits for people or has failed, nor while the run is not running. Called inside the
    transaction of the move that decides it, so that the next step's message is recorded with
    the move (portal.dispatch). Sending twice is harmless: the claim lets one task through."""
    following = _next_to_run(run)
    return send_step(following) if following is not None else None


def _next_to_run(run: Run) -> Step | None:
    """The run's next step if it is pending and the run runs; ends a finished rollback."""
    # The next step and the run's state as they stand, in one read.
    following = step_next(run, with_run=True)
    if following is None:
        run = Run.objects.get(pk=run.pk)
        if run.state == RunState.RUNNING:
            _end_if_rolled_back(run)
    elif following.run.state == RunState.RUNNING and following.state == StepState.PENDING:
        return following
    return None


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
        record_versions(run, reported)
        stop_probe(run)
        lifecycle.run_closed(run=run, by=None, reason="every server reported "
                             f"{reported.get('cloudpaging', run.from_version)} and the service passed its tests")
        event_emit(run=run, kind="phase", text=PHASE_WORDS[Phase.FULL], data={"phase": Phase.FULL, "words": PHASE_WORDS[Phase.FULL]})
        event_emit(run=run, kind="run", text=f"Rolled back: every server reported {reported.get('cloudpaging')} "
                   "again and the service passed the functionality tests", data={"state": move.target})


def record_versions(run: Run, versions: dict[str, str]) -> None:
    """The deployment's versions, as its servers reported them at the end of the run."""
    Deployment.objects.filter(pk=run.deployment_id).update(
        **{f"{name}_version": version for name, version in versions.items() if name in plans.COMPONENTS and version}
    )


def stop_probe(run: Run) -> None:
    """The run has ended; the prober samples on until the service answers again (bounded), so
    that the downtime measured is the real one."""
    if run.probe_id:
        probe_stop(probe=run.probe, until_up_within=timedelta(minutes=settings.RUN_PROBE_AFTER_END_MINUTES))


# -- Executing a step --------------------------------------------------------------------------


def step_event(step: Step, text: str, *, actor: User | None = None, **data) -> None:
    event_emit(run=step.run_id, kind="step", step=step, actor=actor, text=text, data={
        "key": step.key, "number": step.number, "procedure": step.procedure, "state": step.state,
        "attempt": step.attempts, **data,
    })


def _claim(step_id: int, worker: str) -> Step | None:
    """pending -> running, only while the run runs; None when another task has it (a duplicated
    message) or the step is not pending any more."""
    with transaction.atomic():
        return _claimed(step_id, worker)


def _claimed(step_id: int, worker: str, *, read: Step | None = None) -> Step | None:
    """The claim, in the caller's transaction: it writes all of it or nothing. `read`: the step
    as this transaction has read it, with its run, which the claim then does not read again."""
    move = STEP_MOVES["claim"]
    now = timezone.now()
    fields = {"state": move.target, "started_at": now, "heartbeat_at": now, "finished_at": None, "worker": worker,
              "error": ""}
    with pghistory.context(worker=worker, step=step_id):
        claimed = Step.objects.filter(pk=step_id, state__in=move.sources, run__state=RunState.RUNNING).update(
            attempts=F("attempts") + 1, **fields,
        )
        if claimed != 1:
            return None  # lost the race, or nothing to do: leave everything as it is
        if read is None:
            step = Step.objects.select_related("run", "run__deployment").get(pk=step_id)
        else:
            # The row is as the read and this UPDATE left it: no need to read it back.
            step = read
            for name, value in fields.items():
                setattr(step, name, value)
            step.attempts += 1
        run = step.run
        if step.phase and step.phase != run.phase:
            Run.objects.filter(pk=run.pk).update(phase=step.phase)
            run.phase = step.phase
            words = PHASE_WORDS.get(step.phase, step.phase)
            event_emit(run=run, kind="phase", step=step, text=words, data={"phase": step.phase, "words": words})
        retry = f" (attempt {step.attempts})" if step.attempts > 1 else ""
        step_event(step, f"{label(step)} started{retry}")
    return step


def label(step: Step) -> str:
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
    """The body of `upgrades.step_task` (see the module's docstring); answers what happened to
    the step. A step that succeeds hands its worker the run's next step, if it is pending,
    claimed with the success: the worker goes on with it instead of a message through the
    broker, and so on while the run's steps succeed."""
    step = _claim(step_id, worker)
    if step is None:
        return "not claimed"
    answer, following = _attempt(step, worker)
    while following is not None:
        _, following = _attempt(following, worker)
    return answer


def _attempt(step: Step, worker: str) -> tuple[str, Step | None]:
    """One attempt at a step this worker has claimed: what happened, and the run's next step
    when this worker has claimed that one too."""
    try:
        with _Heartbeat(step.pk, worker):
            outcome = _work(step)
    except Exception as error:  # a bug must fail the step (and pause the run), not leave it running
        log.exception("step %s failed unexpectedly", step.pk)
        outcome = _Outcome(False, {}, f"The engine failed unexpectedly: {error.__class__.__name__}: {error}")
    if not outcome.ok:
        return _fail(step, worker, outcome), None
    if outcome.wait:
        return _wait(step, worker, outcome), None
    return _succeed(step, worker, outcome)


def _finish(step: Step, worker: str, move_name: str, **fields) -> bool:
    move = STEP_MOVES[move_name]
    moved = Step.objects.filter(pk=step.pk, state__in=move.sources, worker=worker).update(state=move.target, **fields)
    if moved != 1:
        # The sweep took the step away (stale heartbeat) while it worked: the interruption
        # stands and a person decides; this attempt's end changes nothing.
        log.warning("step %s: %s by %s lost, the step is no longer this worker's", step.pk, move_name, worker)
        return False
    # The row is as this UPDATE left it: no need to read it back.
    step.state = move.target
    for name, value in fields.items():
        setattr(step, name, value)
    return True


def _succeed(step: Step, worker: str, outcome: _Outcome) -> tuple[str, Step | None]:
    """The step succeeded; the run's next step, if pending, is claimed for this worker in the
    same transaction (and returned): between automated steps, one commit and no outbox row."""
    with transaction.atomic():
        with pghistory.context(worker=worker, step=step.pk):
            if not _finish(step, worker, "succeed", finished_at=timezone.now(), result=outcome.result):
                return "lost", None
            step_event(step, f"{label(step)} succeeded")
            if outcome.then:
                added = plans.steps_append(run=step.run, planned=outcome.then, procedure_name=step.procedure)
                event_emit(run=step.run_id, kind="rollback", step=step,
                           text=f"Planned from what the servers report: {len(added)} steps",
                           data={"steps": [row.key for row in added]})
            following = _next_to_run(step.run)
        claimed = _claimed(following.pk, worker, read=following) if following is not None else None
    return "succeeded", claimed


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
        step_event(step, f"{label(step)}: waiting for {who}")
    return "waiting"


def _fail(step: Step, worker: str, outcome: _Outcome) -> str:
    with transaction.atomic(), pghistory.context(worker=worker, step=step.pk):
        if not _finish(step, worker, "fail", finished_at=timezone.now(), error=outcome.error, result=outcome.result):
            return "lost"
        step_event(step, f"{label(step)} failed: {outcome.error}", error=outcome.error)
        pause(step.run, f"The run is paused: {label(step)} failed")
    return "failed"


def pause(run: Run, text: str) -> None:
    move = RUN_MOVES["pause"]
    paused = Run.objects.filter(pk=run.pk, state__in=move.sources).update(state=move.target)
    # A run already paused (by another failure) or aborted stays as it is.
    if paused == 1:
        event = event_emit(run=run, kind="run", text=text, data={"state": move.target})
        run_paused.send(sender=Run, run=run, reason=text, event=event.seq)
        run_notices.run_paused(run=run, event=event)


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
    asked = {}
    if operation in drivers.LEAVES_SERVICE and targets:
        refused, seconds = _serving_first(step, [target.hostname for target in targets])
        asked = {"pool_seconds": round(seconds, 4)}
        if refused:
            return _Outcome(False, {"operation": operation.value, **asked}, refused)

    def on_lines(lines: list[drivers.LogLine]) -> None:
        log_lines_emit(run=step.run_id, step=step, lines=[
            (f"{line.hostname}: {line.text}",
             {"hostname": line.hostname, "operation": line.operation, "at": line.at.isoformat()})
            for line in lines
        ])

    started = time.perf_counter()
    results = drivers.operate(targets=targets, operation=operation, params=params, on_lines=on_lines,
                              timeout=timeout) if targets else []
    seconds = time.perf_counter() - started
    result = {
        "operation": operation.value, "operation_seconds": round(seconds, 4), **asked,
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


# -- Before a group leaves the pool -------------------------------------------------------------

# While the engine waits for the load balancer, the live log hears how it stands this often.
POOL_PROGRESS_SECONDS = 5.0


def _serving_first(step: Step, leaving: list[str]) -> tuple[str, float]:
    """Before running servers leave service (a stop, an uninstall, a reboot), the servers that
    keep serving must be in the load balancer's pool: right after they started, its health
    checks have not taken them back yet, and the service would have nobody left. Why it may not
    go on, or "" once it may.

    1. In a downtime the plan announces, nobody is to keep serving: nothing to wait for.
    2. Every server reports whether it runs: when none of `leaving` runs, or no server of the
       other groups runs configured, no one leaves or no one keeps serving: nothing to wait for.
    3. Wait, RUN_POOL_WAIT_SECONDS at most, until the balancer has every server that keeps
       serving in its pool (`drivers.wait_in_pool`), saying so on the live log; while the step
       is still this attempt's and the run goes on.
    4. Past the bound, the step fails (the run pauses) with the servers still out and why:
       the group is left as it was.

    With the reason, the seconds spent on the drivers' questions and the wait (the step's
    `pool_seconds`, driver time as its `operation_seconds` is).
    """
    if step.phase == Phase.DOWNTIME:
        return "", 0.0
    run = step.run
    servers = list(Server.objects.filter(deployment_id=run.deployment_id, group__isnull=False)
                   .select_related("group").order_by("group__position", "role", "hostname"))
    started = time.monotonic()
    reports = drivers.operate(targets=drivers.targets_of(servers), operation=drivers.Operation.VERSIONS,
                              timeout=float(settings.RUN_OPERATION_TIMEOUT_SECONDS))
    asked = time.monotonic() - started
    state = {report.hostname: report.data for report in reports if report.ok}
    # A server that did not say is taken as running: better wait for nothing than stop blind.
    if not any(state.get(hostname, {}).get("running", True) for hostname in leaving):
        return "", asked
    keeping = [server for server in servers if server.group.position not in step.groups
               and state.get(server.hostname, {}).get("running") and state[server.hostname].get("configured")]
    if not keeping:
        return "", asked
    group_of = {server.hostname: server.group.position for server in keeping}
    leaving_words = _groups_words(step.groups)
    bound = settings.RUN_POOL_WAIT_SECONDS
    deployment = run.deployment
    # A balancer the drivers cannot ask takes a server in after its checks have passed this long.
    rise = settings.RUN_POOL_RISE_SECONDS if deployment.has_load_balancer and deployment.health_checks else 0
    said_at: list[float] = []

    def out_words(out: dict[str, str]) -> tuple[str, str]:
        return (_groups_words(sorted({group_of[hostname] for hostname in out})),
                "; ".join(f"{hostname}: {why}" for hostname, why in out.items()))

    def on_wait(out: dict[str, str], waited: float) -> bool:
        if not _still_this_attempts(step):
            return False
        if said_at and waited - said_at[-1] < POOL_PROGRESS_SECONDS:
            return True
        groups, why = out_words(out)
        text = (f"Waiting for the load balancer to take {groups} back into its pool before {leaving_words} leaves it"
                if not said_at else
                f"Still waiting for the load balancer to take {groups} back ({waited:.0f} s of at most {bound:g} s)")
        said_at.append(waited)
        event_emit(run=run.pk, kind="log", step=step, text=f"{text}: {why}",
                   data={"pool": out, "waited": round(waited, 1)})
        return True

    started = time.monotonic()
    out = drivers.wait_in_pool(targets=drivers.targets_of(keeping), within=bound, rise_seconds=rise, on_wait=on_wait)
    waited = time.monotonic() - started
    if out:
        groups, why = out_words(out)
        if not _still_this_attempts(step):
            return (f"Stopped waiting for the load balancer to take {groups} back: the run no longer runs this "
                    "step"), asked + waited
        return (f"The load balancer did not take {groups} back within {bound:g} s ({why}): {leaving_words} was left "
                f"as it was, so that the service stays up. Check {groups}, then retry this step"), asked + waited
    serving = _groups_words(sorted(set(group_of.values())))
    again = f" again after {waited:.0f} s" if said_at else ""
    event_emit(run=run.pk, kind="log", step=step, data={"waited": round(waited, 1)},
               text=f"The load balancer has {serving} in its pool{again}: {leaving_words} may leave it")
    return "", asked + waited


def _still_this_attempts(step: Step) -> bool:
    """Whether the step is still this attempt's and its run goes on (an abort or the sweep ends a wait)."""
    return Step.objects.filter(pk=step.pk, state=StepState.RUNNING, worker=step.worker,
                               run__state=RunState.RUNNING).exists()


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


def schema_changed(run: Run) -> bool:
    """Whether a major upgrade's database step ran: the StreamDB must then go back too (S15)."""
    return run.kind == UpgradeKind.MAJOR and run.steps.filter(
        procedure=StepProcedure.UPGRADE, kind=StepKind.DATABASE, state=StepState.SUCCEEDED,
    ).exists()


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
    # Servers that report the wrong version will not get right by waiting for the load balancer.
    results = checks_run(deployment=run.deployment, expected_version=expected.get("cloudpaging", run.from_version),
                         stage=stage(step), round=round,
                         settle_seconds=0 if wrong else settings.RUN_CHECKS_SETTLE_SECONDS,
                         on_retry=_retrying(step, "Functionality tests after the rollback"))
    rows = _check_rows(results)
    failed = [r for r in results if not r.passed]
    event_emit(run=run.pk, kind="check", step=step,
               text=f"Functionality tests after the rollback: {len(results) - len(failed)} of {len(results)} passed",
               data={"round": str(round), "results": rows, "expected_version": expected.get("cloudpaging")})
    result = {"servers": _as_rows(found), "round": str(round), "checks": rows, "expected": expected}
    problems = wrong + [_check_problem(r) for r in failed]
    if problems:
        return _Outcome(False, result, "Not rolled back yet: " + "; ".join(problems))
    result["reported"] = expected
    return _Outcome(True, result)


# -- Functionality tests (S12) -----------------------------------------------------------------


def _check_rows(results: list[CheckResult]) -> list[dict]:
    """Functionality test results as the step's result and its event carry them."""
    return [{"kind": r.kind, "passed": r.passed, "detail": r.detail, "duration_ms": r.duration_ms} for r in results]


def _check_problem(result: CheckResult) -> str:
    return f"{FunctionalityCheck(result.kind).label}: {result.detail}"


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

    def failing(result) -> bool:
        return not result.passed and not _other_version_reported(result, versions - {expected})

    results = checks_run(deployment=run.deployment, expected_version=expected, stage=stage(step), round=round,
                         settle_seconds=settings.RUN_CHECKS_SETTLE_SECONDS, failing=failing,
                         on_retry=_retrying(step, f"Functionality tests against {_groups_words(step.groups)}"))
    rows = _check_rows(results)
    failed = [r for r in results if failing(r)]
    passed = len(results) - len(failed)
    event_emit(run=run.pk, kind="check", step=step,
               text=f"Functionality tests against {_groups_words(step.groups)}: {passed} of {len(results)} passed",
               data={"round": str(round), "results": rows, "expected_version": expected})
    result = {"round": str(round), "expected_version": expected, "checks": rows}
    problems = [_check_problem(r) for r in failed]
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


def _retrying(step: Step, what: str):
    """Whether to run a failing round of checks again while the load balancer catches up: while the
    step is still this attempt's and its run goes on (an abort or the sweep ends the wait); and
    what the live page hears of it."""
    def on_retry(outcomes, failed) -> bool:
        if not _still_this_attempts(step):
            return False
        first = f"{FunctionalityCheck(failed[0].kind).label}: {failed[0].detail}"
        event_emit(run=step.run_id, kind="log", step=step,
                   text=f"{what}: {len(outcomes) - len(failed)} of {len(outcomes)} passed ({first}); "
                        "the load balancer may not have taken in the servers' new state yet: trying again",
                   data={"results": [{"kind": o.kind, "passed": o.passed, "detail": o.detail} for o in outcomes]})
        return True
    return on_retry


def stage(step: Step) -> str:
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


# -- The sweeps (the dispatcher) -----------------------------------------------------------------------


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
            step_event(step, f"{label(step)} was interrupted: {step.error}", error=step.error)
            pause(step.run, f"The run is paused: {label(step)} was interrupted")
            swept += 1
    return swept


# -- Runs that stand still ---------------------------------------------------------------------

# A step's message received by a worker that died before claiming it is sent again after this.
RECEIVED_UNCLAIMED = timedelta(seconds=10)


def stranded(run: Run) -> Step | None:
    """The running run's next step when it is pending with nobody on it: no message on its way
    (portal.dispatch), and none received in the last moments by a worker that may be claiming it."""
    following = step_pending(run)
    if following is None:
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
                send_step(step)
                sent += 1
    return sent


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
                   text=f"Waiting for the task queue: {label(step)} starts as soon as it answers again")


def step_sent_late(*, dispatch, **kwargs) -> None:
    step = _queued_step(dispatch)
    if step is not None:
        event_emit(run=step.run_id, kind="run", step=step, data={"queue": "up"},
                   text=f"The task queue answers again: {label(step)} is on its way to a worker")
