"""The run engine (S13, S17): a window's plan frozen into steps, a real Celery worker executing
them against a lab fleet over HTTP, people confirming the tests and signing off, the prober
measuring the service through the load balancer all along."""

from datetime import timedelta

import pytest
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.core.exceptions import PermissionDenied

from portal.choices import ServerRole
from portal.models import Dispatch
from scheduling.models import MaintenanceWindow
from tests.conftest import wait_for
from tests.upgrades import decide_stories
from tests.upgrades.runs import (
    applied, confirmed_window, drive, empty_pools, lab_deployment, planned_operations, start, versions_on_the_lab,
)
from upgrades import selectors
from upgrades.availability import downtime_intervals
from upgrades.choices import RunState, StepState
from upgrades.models import LiveEvent, Run
from upgrades.procedure import StepKind
from upgrades.runflow import RunError
from upgrades.services.decisions import failure_take, step_retry
from upgrades.services.plans import run_create
from upgrades.services.engine import step_execute
from upgrades.services.runs import run_sign_off, run_start, step_confirm

PROBE_INTERVAL = timedelta(milliseconds=250)


# -- The stories -------------------------------------------------------------------------------


def test_a_run_is_made_once_per_window_with_the_plan_frozen_from_the_window(northwind_deployment, major, engineer,
                                                                           customer):
    window = confirmed_window(northwind_deployment, major, engineer=engineer, customer=customer)

    run = run_create(window=window)
    again = run_create(window=window)

    assert again.pk == run.pk and run.state == RunState.SCHEDULED
    steps = list(run.steps.order_by("position"))
    assert [step.number for step in steps] == [None, *range(1, 16)]
    assert run.from_version == "9.4.2" and run.target_versions == {
        "cloudpaging": "10.0.0", "openjdk": "21.0.5", "tomcat": "10.1.31"}
    assert run.previous_versions["cloudpaging"] == "9.4.2"
    database = next(step for step in steps if step.kind == StepKind.DATABASE)
    assert database.planned_start == window.downtime.lower
    assert steps[0].planned_start == window.start and steps[-1].planned_end == window.end
    assert list(run.live_events.values_list("seq", flat=True)) == [1]


def test_only_an_engineer_starts_a_run_and_only_in_its_window(northwind_deployment, major, engineer, customer):
    window = confirmed_window(northwind_deployment, major, engineer=engineer, customer=customer)
    run = run_create(window=window)

    with pytest.raises(PermissionDenied):
        run_start(run=run, by=customer)
    MaintenanceWindow.objects.filter(pk=window.pk).update(
        period=DateTimeTZRange(window.start + timedelta(hours=2), window.end + timedelta(hours=2)))
    run.refresh_from_db()
    with pytest.raises(RunError, match="cannot start before it"):
        run_start(run=run, by=engineer)
    assert Run.objects.get(pk=run.pk).state == RunState.SCHEDULED


@pytest.mark.parametrize("groups", [2, 3])
def test_a_major_upgrade_runs_every_step_and_its_downtime_lies_between_the_schema_and_group_1_serving(
        groups, workers, start_lab, northwind, major, engineer, colleague, customer, outsider):
    # Each operation takes 0.6 s on the lab, so the schema upgrade outlasts the prober's interval.
    deployment, lab = lab_deployment(start_lab, northwind, groups=groups, name=f"Lab {groups}", op_seconds=0.6)
    run = run_create(window=confirmed_window(deployment, major, engineer=engineer, customer=customer))

    start(run, engineer=engineer, customer=customer)
    wait_for(lambda: run.steps.filter(state=StepState.WAITING).exists(), timeout=20)
    with pytest.raises(PermissionDenied):
        step_confirm(step=run.steps.get(state=StepState.WAITING), by=outsider)
    run = drive(run, engineer=engineer, administrator=colleague, lead=customer)

    assert run.state == RunState.COMPLETED and run.phase == "full"
    steps = {step.key: step for step in run.steps.all()}
    assert {step.state for step in steps.values()} == {StepState.SUCCEEDED}
    assert len(steps) == 1 + 15 + 4 * (groups - 2)
    deployment.refresh_from_db()
    assert (deployment.cloudpaging_version, deployment.openjdk_version, deployment.tomcat_version) == (
        "10.0.0", "21.0.5", "10.1.31")
    assert versions_on_the_lab(lab) == {"10.0.0"}
    assert run.sign_off.name == customer.full_name and {c["kind"] for c in run.sign_off.checks} >= {"login", "launch"}

    # S4: downtime from the schema upgrade until the upgraded group 1 serves again. What the load
    # balancer answered says so; a sample that got no answer within its second on a loaded test
    # machine says nothing about the balancer.
    assert selectors.downtime_of(probe=run.probe), "the prober measured no downtime"
    answered = run.probe.samples.filter(status__isnull=False).order_by("at").values_list("at", "up")
    intervals = downtime_intervals(list(answered), interval=PROBE_INTERVAL)
    assert intervals, "the load balancer never answered that the service was down"
    database, back = steps["database"], steps["checks-g1"]
    for down_from, down_to in intervals:
        assert database.started_at - PROBE_INTERVAL <= down_from < down_to <= back.finished_at

    # Every change is an event, numbered without a gap; every log line of every server is there.
    seqs = list(run.live_events.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1)) and run.next_seq == len(seqs) + 1
    logged = LiveEvent.objects.filter(run=run, kind="log", step=steps["install-g1"])
    assert {event.data["hostname"] for event in logged} == {s.hostname for s in deployment.servers.filter(group__position=1)}
    assert any("Installing Cloudpaging Server 10.0.0" in event.text for event in logged)
    phases = list(run.live_events.filter(kind="phase").order_by("seq").values_list("data__phase", flat=True))
    assert phases == ["at_risk", "downtime", "limited", "full"]
    assert applied(lab) == planned_operations(run)


def test_a_minor_upgrade_behind_health_checks_measures_no_downtime(workers, start_lab, northwind, minor, engineer,
                                                                   colleague, customer):
    deployment, lab = lab_deployment(start_lab, northwind, groups=2, name="Lab minor", op_seconds=0.2)
    run = run_create(window=confirmed_window(deployment, minor, engineer=engineer, customer=customer))

    start(run, engineer=engineer, customer=customer)
    run = drive(run, engineer=engineer, administrator=colleague, lead=customer)

    assert run.state == RunState.COMPLETED
    assert run.steps.filter(number__isnull=False).count() == 14
    assert versions_on_the_lab(lab) == {"9.5.0"}
    assert run.probe.samples.count() >= 8
    assert selectors.downtime_of(probe=run.probe) == []
    assert list(run.live_events.filter(kind="phase").values_list("data__phase", flat=True)) == ["at_risk", "full"]


# A load balancer as deployments have them: it checks its members every second, takes a server
# out of its pool after two failed checks and back after four good ones.
EVERY_SECOND = {"check_interval": 1.0, "check_timeout": 1.0, "rise": 4, "fall": 2}


def test_the_tests_give_a_load_balancer_that_checks_every_second_time_to_see_the_groups_change(
        workers, settings, start_lab, northwind, minor, engineer, colleague, customer):
    """Right after one group starts the balancer still counts it out, and right after the other
    stops it still counts that one in; neither may fail the run nor leave the pool empty."""
    settings.RUN_CHECKS_SETTLE_SECONDS = 30  # the default (`workers` shortens it for quick balancers)
    # Each operation takes a second: a stopped group is long enough down to leave the pool.
    deployment, lab = lab_deployment(start_lab, northwind, groups=2, name="Lab balancer", op_seconds=1.0,
                                     timing=EVERY_SECOND)
    run = run_create(window=confirmed_window(deployment, minor, engineer=engineer, customer=customer))

    start(run, engineer=engineer, customer=customer)
    run = drive(run, engineer=engineer, administrator=colleague, lead=customer)

    assert run.state == RunState.COMPLETED
    assert versions_on_the_lab(lab) == {"9.5.0"}
    for checks in run.steps.filter(kind=StepKind.CHECKS):
        recorded = deployment.check_results.filter(round=checks.result["round"], recorded_by__isnull=True)
        assert recorded.count() == 4 and all(recorded.values_list("passed", flat=True)), checks.key
    # The live log says why stopping group 2 took a few seconds: group 1 was not back in the pool.
    waited = list(run.live_events.filter(step__key="stop-g2", kind="log").values_list("text", flat=True))
    assert any(text.startswith("Waiting for the load balancer to take server group 1 back into its pool before "
                               "server group 2 leaves it") for text in waited)
    assert any(text.startswith("The load balancer has server group 1 in its pool again after") for text in waited)
    assert empty_pools(lab) == []
    assert applied(lab) == planned_operations(run)


# A load balancer slow to take a server back: it checks every 0.1 s, takes a server out after two
# failed checks and back only after ten good ones in a row (a second).
SLOW_TO_READMIT = {"check_interval": 0.1, "check_timeout": 1.0, "rise": 10, "fall": 2}


@pytest.mark.parametrize("kind", ["minor", "major"])
def test_no_group_leaves_the_pool_before_the_load_balancer_has_taken_back_the_groups_that_keep_serving(
        kind, request, workers, start_lab, northwind, engineer, colleague, customer):
    """Right after a group starts (its configuration starts it too) the balancer still has it out
    of its pool, and the next step stops another group. Stopping it at once would leave nobody
    in the pool: an outage the plan does not announce. The lab balancer's own record says
    whether a pool was ever empty, and when."""
    release = request.getfixturevalue(kind)
    deployment, lab = lab_deployment(start_lab, northwind, groups=2, name=f"Lab slow {kind}", op_seconds=0.2,
                                     timing=SLOW_TO_READMIT)
    run = run_create(window=confirmed_window(deployment, release, engineer=engineer, customer=customer))

    start(run, engineer=engineer, customer=customer)
    run = drive(run, engineer=engineer, administrator=colleague, lead=customer)

    assert run.state == RunState.COMPLETED
    assert applied(lab) == planned_operations(run)
    steps = {step.key: step for step in run.steps.all()}
    # S4: only a major upgrade's schema change may empty the pools, until group 1 serves again.
    announced = [(steps["database"].started_at, steps["checks-g1"].finished_at)] if kind == "major" else []
    for role, emptied, filled in empty_pools(lab):
        assert filled and any(begins <= emptied and filled <= ends for begins, ends in announced), (
            f"the {role} pool was empty from {emptied:%H:%M:%S.%f} to {filled and f'{filled:%H:%M:%S.%f}'} "
            "while the plan said the service was at risk")
    # The watcher saw why a stop took a moment.
    waited = run.live_events.filter(kind="log", text__startswith="Waiting for the load balancer to take server group")
    assert waited.exists()


def test_a_stop_waits_a_bounded_time_for_a_started_group_then_pauses_the_run_without_stopping_the_next(
        workers, settings, start_lab, northwind, minor, engineer, colleague, customer):
    """Group 1 comes back from its upgrade but never passes its balancer's health checks: the
    engine does not stop group 2 (nobody would serve); the run pauses, saying why. Once the
    cause is gone, a retry stops group 2 and the upgrade completes."""
    settings.RUN_POOL_WAIT_SECONDS = 3
    deployment, lab = lab_deployment(start_lab, northwind, groups=2, name="Lab never back", op_seconds=0.1,
                                     timing={"check_interval": 0.05, "check_timeout": 0.5, "rise": 2, "fall": 2})
    servers = {(server.group.position, server.role): server.hostname for server in deployment.servers.all()}
    admin_1, admin_2, stream_2 = (servers[1, ServerRole.ADMIN_LICENSE], servers[2, ServerRole.ADMIN_LICENSE],
                                  servers[2, ServerRole.STREAM])
    lab.control.inject(admin_1, "slow_health", seconds=1.0)  # its health check never answers in time
    wait_for(lambda: not lab.control.member(admin_1)["in_pool"])
    run = run_create(window=confirmed_window(deployment, minor, engineer=engineer, customer=customer))

    start(run, engineer=engineer, customer=customer)
    run = decide_stories.drive(run, engineer=engineer, customer=colleague, until=decide_stories.paused)

    failed = run.steps.get(state=StepState.FAILED)
    assert run.state == RunState.PAUSED and failed.key == "stop-g2"
    assert f"The load balancer did not take server group 1 back within 3 s ({admin_1}: " in failed.error
    assert "server group 2 was left as it was" in failed.error
    paused = "The run is paused: Step 6: Stop services on server group 2 failed"
    assert run.live_events.filter(kind="run", text=paused).exists()
    # What the lab says: group 2 was never asked to stop and still serves.
    for hostname in (admin_2, stream_2):
        assert lab.state(hostname).running
        assert "stop" not in [entry["operation"] for entry in lab.state(hostname).journal]
    assert lab.control.member(admin_2)["in_pool"] and not lab.control.member(admin_1)["in_pool"]
    log = list(run.live_events.filter(step=failed, kind="log").order_by("seq").values_list("text", flat=True))
    assert log[0].startswith("Waiting for the load balancer to take server group 1 back into its pool")

    lab.control.clear(admin_1)
    failure_take(run=run, by=engineer)
    step_retry(step=failed, by=engineer, reason="The health check of cpadmin01 answers again")
    run = drive(run, engineer=engineer, administrator=colleague, lead=customer)

    assert run.state == RunState.COMPLETED
    assert applied(lab) == planned_operations(run)
    assert [(role, str(emptied)) for role, emptied, _ in empty_pools(lab)] == []


def test_a_duplicated_task_message_does_nothing_the_second_time(workers, start_lab, northwind, minor, engineer,
                                                                colleague, customer):
    deployment, lab = lab_deployment(start_lab, northwind, groups=2, name="Lab duplicate")
    run = run_create(window=confirmed_window(deployment, minor, engineer=engineer, customer=customer))
    start(run, engineer=engineer, customer=customer)
    before = wait_for(lambda: run.steps.filter(key="checks-before", state=StepState.WAITING).first(), timeout=20)
    events = run.live_events.count()

    # The message of a step already taken, delivered again: in the middle of a run, and after.
    assert step_execute(step_id=before.pk, worker="redelivered") == "not claimed"
    assert run.live_events.count() == events
    run = drive(run, engineer=engineer, administrator=colleague, lead=customer)
    stop = run.steps.get(key="stop-g1")
    events = run.live_events.count()
    assert step_execute(step_id=stop.pk, worker="redelivered") == "not claimed"

    assert run.live_events.count() == events
    assert run.steps.get(pk=stop.pk).attempts == 1
    assert applied(lab) == planned_operations(run)  # every operation applied exactly as planned


def test_a_waiting_test_needs_the_engineer_and_the_customers_administrator(workers, start_lab, northwind, minor,
                                                                           engineer, colleague, customer, outsider):
    deployment, lab = lab_deployment(start_lab, northwind, groups=2, name="Lab confirm")
    run = run_create(window=confirmed_window(deployment, minor, engineer=engineer, customer=customer))
    start(run, engineer=engineer, customer=customer)
    before = wait_for(lambda: run.steps.filter(key="checks-before", state=StepState.WAITING).first(), timeout=20)

    with pytest.raises(PermissionDenied):
        step_confirm(step=before, by=outsider)
    with pytest.raises(RunError, match="not waiting for the sign-off"):
        run_sign_off(run=run, by=customer, name="Olivia Bennett", comment="Too early")
    step_confirm(step=before, by=engineer)
    assert run.steps.get(pk=before.pk).state == StepState.WAITING
    with pytest.raises(RunError, match="confirmed this step already"):
        step_confirm(step=before, by=engineer)
    step_confirm(step=before, by=colleague, passed=False, note="The test machine cannot launch anything")

    failed = run.steps.get(pk=before.pk)
    assert failed.state == StepState.FAILED and "cannot launch" in failed.error
    assert Run.objects.get(pk=run.pk).state == RunState.PAUSED
    assert set(deployment.check_results.filter(round=failed.result["round"]).values_list("kind", flat=True)) == {
        "login", "navigation", "launch", "admin_version", "requirements", "test_machine"}


def test_a_worker_goes_on_with_the_step_after_its_own_without_a_message_through_the_broker(
        workers, start_lab, northwind, minor, engineer, colleague, customer):
    deployment, lab = lab_deployment(start_lab, northwind, groups=2, name="Lab follow-on")
    run = run_create(window=confirmed_window(deployment, minor, engineer=engineer, customer=customer))
    start(run, engineer=engineer, customer=customer)

    run = drive(run, engineer=engineer, administrator=colleague, lead=customer)

    assert run.state == RunState.COMPLETED
    steps = list(run.steps.order_by("position"))
    followed = [(before, step) for before, step in zip(steps, steps[1:])
                if before.kind in (StepKind.OPERATION, StepKind.DATABASE)]
    assert followed
    for before, step in followed:
        # Claimed with its predecessor's success, by the same worker: no outbox row, nothing sent.
        assert step.worker == before.worker and step.attempts == 1
        assert not Dispatch.objects.filter(task="upgrades.step_task", about=f"step:{step.pk}").exists()
    assert applied(lab) == planned_operations(run)

