"""Redis goes away, or a worker dies, during a live run: the run waits, then goes on; people's moves are
saved and answered meanwhile; nothing is lost, nothing is applied twice, and every watcher sees
every event once. Real processes (web, worker, prober, dispatcher) on a Redis of the test's own,
the lab fleet over HTTP, the people through the API."""

import threading
import time

import httpx
import pytest

from portal import demo
from tests.conftest import wait_for
from tests.upgrades.runs import applied, confirmed_window, lab_deployment, planned_operations
from tests.upgrades.stack import Api, RedisServer, Stack
from tests.upgrades.test_live_events import Watcher, cookie_of
from upgrades.choices import ReadinessKind, RunState, StepState
from upgrades.models import LiveEvent, Release, Run, Step
from upgrades.procedure import Performer, StepKind
from upgrades.runflow import FINISHED_RUN_STATES
from upgrades.services.plans import run_create

pytestmark = pytest.mark.slow
OUTAGE_SECONDS = 10


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    if server.process.poll() is None:
        server.kill()


@pytest.fixture
def stack(transactional_db, tmp_path, redis_server):
    stack = Stack(tmp_path, redis_url=redis_server.url)
    yield stack
    stack.stop()


class People:
    def __init__(self, stack: Stack, *, engineer, administrator, lead):
        self.engineer = Api(stack, engineer.email, demo.PASSWORD)
        self.administrator = Api(stack, administrator.email, demo.PASSWORD)
        self.lead = Api(stack, lead.email, demo.PASSWORD)
        self.lead_name = lead.full_name

    def ready_and_start(self, run: Run) -> None:
        """What S11 asks for, then the start, all through the API."""
        assert self.lead.move(run.pk, "snapshots", note="vCenter snapshots at 08:55").status_code == 200
        if run.kind == "major":
            assert self.engineer.move(run.pk, "backup", note="streamdb-full.bak").status_code == 200
        assert self.engineer.move(run.pk, "preflight").status_code == 202
        wait_for(lambda: run.readiness.filter(kind=ReadinessKind.PREFLIGHT, passed=True).exists(), timeout=60)
        answer = self.engineer.move(run.pk, "start")
        assert answer.status_code == 200, answer.text

    def confirm(self, step: Step, *, passed: bool = True, note: str = "") -> list[httpx.Response]:
        """The engineer and, where the step needs them, the customer's administrator confirm."""
        answers = []
        if step.confirmed_by_engineer_id is None:
            answers.append(self.engineer.move(step.run_id, "confirm", step=step.pk))
        if step.performer == Performer.ENGINEER_AND_ADMIN and step.confirmed_by_customer_id is None:
            answers.append(self.administrator.move(step.run_id, "confirm", step=step.pk, passed=passed, note=note))
        for answer in answers:
            assert answer.status_code == 200, answer.text
        return answers

    def play(self, run: Run, *, until=lambda run: run.state in FINISHED_RUN_STATES, on_tick=lambda run: None,
             timeout: float = 240) -> Run:
        """Confirm each waiting test and sign off at the end, as people on the live page would."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run.refresh_from_db()
            on_tick(run)
            if until(run):
                return run
            if run.state == RunState.PAUSED:
                failed = run.steps.filter(state__in=[StepState.FAILED, StepState.INTERRUPTED]).first()
                raise AssertionError(f"the run paused on {failed}: {failed.error if failed else '?'}")
            waiting = run.steps.filter(state=StepState.WAITING).first()
            if waiting is None:
                time.sleep(0.05)
            elif waiting.kind == StepKind.SIGN_OFF:
                answer = self.lead.move(run.pk, "sign-off", name=self.lead_name, comment="All good from the library")
                assert answer.status_code == 200, answer.text
            else:
                self.confirm(waiting)
        raise AssertionError(f"the run did not get there within {timeout} s")


def started(stack: Stack, start_lab, organisation, *, version: str, name: str, op_seconds: float, engineer,
            administrator, lead) -> tuple[Run, object, People]:
    """A lab deployment of two groups, the run of its confirmed window to `version`, the portal's
    processes, and the run started by its people through the API."""
    deployment, lab = lab_deployment(start_lab, organisation, groups=2, name=name, op_seconds=op_seconds)
    run = run_create(window=confirmed_window(deployment, Release.objects.get(version=version), engineer=engineer,
                                             customer=lead))
    stack.start()
    people = People(stack, engineer=engineer, administrator=administrator, lead=lead)
    people.ready_and_start(run)
    return run, lab, people


class Watchers:
    """Three people following the live page's event stream, each in a thread, until its end."""

    def __init__(self, stack: Stack, run: Run, users):
        self.received: dict[str, list[dict]] = {}
        self.threads = [threading.Thread(target=self._follow, args=(stack, run, user), daemon=True) for user in users]
        for thread in self.threads:
            thread.start()

    def _follow(self, stack, run, user) -> None:
        watcher = Watcher(stack, run, user)
        try:
            self.received[user.email] = watcher.until_end()
        finally:
            watcher.close()

    def wait(self) -> dict[str, list[int]]:
        for thread in self.threads:
            thread.join(timeout=60)
        return {email: [int(event["id"]) for event in events] for email, events in self.received.items()}


def test_redis_lost_at_a_step_boundary_does_not_hold_the_run_up_and_loses_nothing(
        stack, redis_server, start_lab, northwind, engineer, colleague, customer):
    run, lab, people = started(stack, start_lab, northwind, version="10.0.0", name="Lab outage", op_seconds=1.0,
                               engineer=engineer, administrator=colleague, lead=customer)
    watchers = Watchers(stack, run, [engineer, customer, colleague])
    database = run.steps.get(kind=StepKind.DATABASE)
    following = run.steps.filter(position__gt=database.position).order_by("position").first()
    outage: dict[str, float] = {}

    def redis_goes_away_at_the_database_step(run: Run) -> None:
        if "killed" not in outage and LiveEvent.objects.filter(step=database, kind="log").exists():
            redis_server.kill()  # as the database step prints its first line
            outage["killed"] = time.time()
        elif "killed" in outage and "back" not in outage and time.time() - outage["killed"] >= OUTAGE_SECONDS:
            redis_server.start()
            outage["back"] = time.time()

    run = people.play(run, on_tick=redis_goes_away_at_the_database_step)

    assert run.state == RunState.COMPLETED
    # The worker that ended the database step went on with the next one: no message was needed.
    following.refresh_from_db()
    assert following.attempts == 1 and following.started_at.timestamp() < outage["back"]
    # Nothing applied twice on the lab; every watcher has every event once, in order.
    assert applied(lab) == planned_operations(run)
    every = list(run.live_events.order_by("seq").values_list("seq", flat=True))
    assert watchers.wait() == {user.email: every for user in (engineer, customer, colleague)}


def test_confirm_retry_and_skip_with_redis_down_are_answered_and_take_effect_once_it_is_back(
        stack, redis_server, start_lab, northwind, engineer, colleague, customer):
    run, lab, people = started(stack, start_lab, northwind, version="9.5.0", name="Lab moves", op_seconds=0.2,
                               engineer=engineer, administrator=colleague, lead=customer)
    page = f"{stack.url}/runs/{run.pk}/"

    # 1. Confirm: the tests before the upgrade wait; Redis goes; both sides confirm.
    before = wait_for(lambda: run.steps.filter(key="checks-before", state=StepState.WAITING).first(), timeout=60)
    redis_server.kill()
    answers = people.confirm(before)
    assert answers[-1].json()["waiting"]["waiting_for"] == "queue"
    assert "Waiting for the task queue" in httpx.get(page, headers=cookie_of(engineer), timeout=30).text
    after = run.steps.filter(position__gt=before.position).order_by("position").first()
    time.sleep(2)
    assert run.steps.get(pk=after.pk).state == StepState.PENDING
    redis_server.start()
    wait_for(lambda: run.steps.get(pk=after.pk).state != StepState.PENDING, timeout=60)

    # 2. Retry: the next operation on a server of group 1 fails; Redis goes; the engineer takes the
    # failure and retries the step.
    lab.control.inject(server_of(run, group=1), "fail_next", reason="the installer lost its licence file")
    people.play(run, until=lambda run: run.steps.filter(state=StepState.FAILED).exists())
    failed = run.steps.get(state=StepState.FAILED)
    redis_server.kill()
    assert people.engineer.move(run.pk, "take").status_code == 200
    assert people.engineer.move(run.pk, "retry", step=failed.pk, reason="licence file put back").status_code == 200
    time.sleep(2)
    assert run.steps.get(pk=failed.pk).state == StepState.PENDING
    redis_server.start()
    wait_for(lambda: run.steps.get(pk=failed.pk).state == StepState.SUCCEEDED, timeout=60)

    # 3. Skip: the administrator reports a test failed; Redis goes; the engineer skips it.
    checks = people.play(run, until=lambda run: run.steps.filter(
        kind=StepKind.CHECKS, state=StepState.WAITING, position__gt=failed.position).exists())
    checks = run.steps.get(kind=StepKind.CHECKS, state=StepState.WAITING)
    people.confirm(checks, passed=False, note="the launch seemed slow")
    redis_server.kill()
    assert people.engineer.move(run.pk, "take").status_code == 200
    answer = people.engineer.move(run.pk, "skip", step=checks.pk, reason="slow because of the library's proxy")
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == RunState.RUNNING
    redis_server.start()

    run = people.play(run)
    assert run.state == RunState.COMPLETED
    assert run.steps.get(pk=checks.pk).state == StepState.SKIPPED
    # The retried step ran once more on the server that failed, and nothing ran twice.
    planned = planned_operations(run)
    assert all(count <= planned[key] for key, count in applied(lab).items())


def server_of(run: Run, *, group: int) -> str:
    return run.deployment.servers.filter(group__position=group).order_by("hostname").first().hostname


def test_a_killed_worker_is_restarted_its_step_interrupted_within_the_bound_and_a_retry_completes_the_run(
        stack, start_lab, northwind, engineer, colleague, customer):
    run, lab, people = started(stack, start_lab, northwind, version="9.5.0", name="Lab killed", op_seconds=0.2,
                               engineer=engineer, administrator=colleague, lead=customer)
    watchers = Watchers(stack, run, [engineer, customer, colleague])
    web, prober = stack.pid("web"), stack.pid("prober")
    install = run.steps.filter(operation="install").order_by("position").first()

    def installing(run: Run) -> bool:
        if run.steps.filter(pk=install.pk, state=StepState.PENDING).exists():
            lab.control.set_op_seconds(8.0)  # long enough to die in
        return LiveEvent.objects.filter(step=install, kind="log").exists()

    people.play(run, until=installing)
    killed_pid, killed_at = stack.kill("worker"), time.time()
    restarted = wait_for(lambda: stack.pid("worker") not in (None, killed_pid), timeout=60)
    back_after = time.time() - killed_at
    wait_for(lambda: run.steps.get(pk=install.pk).state == StepState.INTERRUPTED, timeout=60)
    install.refresh_from_db()
    interrupted_after = install.finished_at.timestamp() - killed_at
    beat_to_interrupted = (install.finished_at - install.heartbeat_at).total_seconds()
    print(f"RESULT worker back after {back_after:.2f} s; step interrupted {interrupted_after:.2f} s after the kill, "
          f"{beat_to_interrupted:.2f} s after its last heartbeat (bound {stack.env['RUN_STALE_AFTER_SECONDS']} s)")
    assert restarted and "worker was killed by SIGKILL: restarting it" in stack.log("portal")
    # Interrupted within the bound of its last heartbeat (plus the sweep's own time on a loaded machine).
    assert beat_to_interrupted <= int(stack.env["RUN_STALE_AFTER_SECONDS"]) + 2 * int(stack.env["RUN_SWEEP_SECONDS"])
    # The web, the prober and the lab did not notice: the same processes, the probe sampled on.
    assert (stack.pid("web"), stack.pid("prober")) == (web, prober)
    assert run.probe.samples.filter(at__gt=install.heartbeat_at, at__lt=install.finished_at).exists()

    lab.control.set_op_seconds(0.2)
    wait_for(lambda: not any(member["busy"] for member in lab.control.status()["members"]), timeout=30)
    assert people.engineer.move(run.pk, "take").status_code == 200
    retried = people.engineer.move(run.pk, "retry", step=install.pk, reason="the worker's machine restarted")
    assert retried.status_code == 200
    run = people.play(run)

    assert run.state == RunState.COMPLETED
    assert applied(lab) == planned_operations(run)
    every = list(run.live_events.order_by("seq").values_list("seq", flat=True))
    assert watchers.wait() == {user.email: every for user in (engineer, customer, colleague)}
