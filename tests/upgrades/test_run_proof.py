"""What the portal claims about the servers is what the servers report: the preflight before the
start (S11), the versions that close an upgrade, the verification that ends a rollback, and the
downtime measured until the service answers again. Checked against a lab fleet over HTTP."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from portal.models import Deployment
from tests.conftest import wait_for
from tests.upgrades.conftest import VERSION_9_5, VERSION_10
from tests.upgrades.runs import confirmed_window, lab_deployment, make_ready, start
from upgrades.choices import ProbeState, ReadinessKind, RequestState, RollbackState, RunState, StepProcedure, StepState
from upgrades.drivers import Operation, operate
from upgrades.selectors_runs import availability_of
from upgrades.models import (
    AvailabilityProbe, AvailabilitySample, LiveEvent, RollbackDecision, Run, Step, UpgradeRequest,
)
from upgrades.rollback_plan import ServerNow, rollback_procedure
from upgrades.runflow import RunError
from upgrades.services import plans
from upgrades.services.decisions import failure_take, run_abort, step_retry
from upgrades.services.readiness import preflight_run
from upgrades.services.engine import run_advance, step_execute
from upgrades.services.runs import run_start


def put(lab, hostnames: list[str], versions: dict) -> None:
    """Install `versions` on lab servers through the driver, as an engineer would by hand."""
    targets = [lab.target(hostname) for hostname in hostnames]
    for operation, params in ((Operation.STOP, None), (Operation.INSTALL, versions), (Operation.CONFIGURE, None)):
        assert all(result.ok for result in operate(targets=targets, operation=operation, params=params, timeout=10))


@pytest.fixture
def lab_run(start_lab, northwind, major, engineer, customer):
    deployment, lab = lab_deployment(start_lab, northwind, groups=2, name="Proof lab")
    run = plans.run_create(window=confirmed_window(deployment, major, engineer=engineer, customer=customer))
    return run, lab


def hostnames(lab, group: int) -> list[str]:
    return [f"{prefix}{group:02d}.proof-lab.example" for prefix in ("cpadmin", "cpstream")]


# -- The preflight (S11) ------------------------------------------------------------------------


def test_the_preflight_asks_every_server_and_the_run_starts_from_what_they_run(lab_run, engineer, customer):
    run, lab = lab_run

    make_ready(run, customer=customer, engineer=engineer)
    record = run.readiness.get(kind=ReadinessKind.PREFLIGHT)
    assert record.passed and "Every server (4)" in record.note
    assert {server["hostname"] for server in record.data["servers"]} == {s.hostname for s in lab.spec.servers}
    Run.objects.filter(pk=run.pk).update(previous_versions={"cloudpaging": "stale"})

    run_start(run=Run.objects.get(pk=run.pk), by=engineer)

    assert Run.objects.get(pk=run.pk).previous_versions == {"cloudpaging": "9.4.2", "openjdk": "17.0.10",
                                                            "tomcat": "9.0.85"}


def test_a_server_on_another_version_fails_the_preflight_and_the_run_does_not_start(lab_run, engineer, customer):
    run, lab = lab_run
    put(lab, [hostnames(lab, 2)[1]], VERSION_9_5)

    assert not preflight_run(run_id=run.pk, by_id=engineer.pk)

    note = run.readiness.get(kind=ReadinessKind.PREFLIGHT).note
    assert "cpstream02.proof-lab.example runs 9.5.0, not 9.4.2" in note and "not run the same versions" in note
    with pytest.raises(RunError, match="Not ready to start.*The preflight failed"):
        run_start(run=run, by=engineer)
    assert Run.objects.get(pk=run.pk).state == RunState.SCHEDULED


def test_a_preflight_older_than_the_setting_must_be_run_again(lab_run, engineer, customer, settings):
    run, _ = lab_run
    settings.RUN_PREFLIGHT_FRESH_MINUTES = 1
    make_ready(run, customer=customer, engineer=engineer)

    with time_machine.travel(timezone.now() + timedelta(minutes=2), tick=False):
        with pytest.raises(RunError, match="more than 1 minute ago: run it again"):
            run_start(run=run, by=engineer)


# -- The proof that closes an upgrade -----------------------------------------------------------


def _under_way(run: Run) -> Run:
    Run.objects.filter(pk=run.pk).update(state=RunState.RUNNING, started_at=timezone.now())
    return Run.objects.get(pk=run.pk)


def test_the_final_tests_fail_while_a_server_does_not_report_the_release(lab_run):
    run, lab = lab_run
    run = _under_way(run)
    final = run.steps.get(key="checks-final")

    assert step_execute(step_id=final.pk, worker="test") == "failed"

    final.refresh_from_db()
    assert "cpadmin01.proof-lab.example reports Cloudpaging Server 9.4.2" in final.error
    assert "reported" not in final.result
    assert Run.objects.get(pk=run.pk).state == RunState.PAUSED


def test_checks_that_wait_for_the_load_balancer_end_when_the_run_is_aborted(transactional_db, lab_run, support,
                                                                           settings):
    run, lab = lab_run
    settings.RUN_CHECKS_SETTLE_SECONDS = 120
    run = _under_way(run)
    checks = run.steps.get(key="checks-before")
    every = [lab.target(hostname) for group in (1, 2) for hostname in hostnames(lab, group)]
    assert all(result.ok for result in operate(targets=every, operation=Operation.STOP, timeout=10))

    def attempt() -> str:
        try:
            return step_execute(step_id=checks.pk, worker="test")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        attempted = pool.submit(attempt)
        wait_for(lambda: LiveEvent.objects.filter(step=checks, kind="log", text__contains="trying again").exists(),
                 timeout=20)
        run_abort(run=Run.objects.get(pk=run.pk), by=support, reason="The customer called the upgrade off")

        # The worker is free long before the load balancer's time is spent.
        assert attempted.result(timeout=20) == "failed"
    checks.refresh_from_db()
    assert checks.state == StepState.FAILED and "Log-in works: log-in answered HTTP 503" in checks.error
    assert Run.objects.get(pk=run.pk).state == RunState.ABORTED


# -- The verification that ends a rollback ------------------------------------------------------


def _rolling_back(run: Run, engineer, customer) -> Step:
    """A run whose rollback was authorised and whose last step, the verification, is next."""
    run = _under_way(run)
    RollbackDecision.objects.create(run=run, method="reinstall_previous", reason="Group 2 will not start",
                                    requested_by=engineer, state=RollbackState.AUTHORISED, decided_by=customer,
                                    decided_at=timezone.now(), decision_reason="Go back")
    run.steps.update(state=StepState.SKIPPED)
    servers = [ServerNow(hostname="any", role="admin_license", group=group, versions=dict(run.previous_versions),
                         running=True, configured=True) for group in (1, 2)]
    [verify] = rollback_procedure(method="reinstall_previous", servers=servers, schema_changed=False,
                                  previous=dict(run.previous_versions))
    [step] = plans.steps_append(run=run, planned=[verify], procedure_name=StepProcedure.ROLLBACK)
    return step


def test_a_rollback_is_not_claimed_while_a_server_runs_the_new_version(lab_run, engineer, customer):
    run, lab = lab_run
    verify = _rolling_back(run, engineer, customer)
    put(lab, hostnames(lab, 2), VERSION_10)

    assert step_execute(step_id=verify.pk, worker="test") == "failed"

    verify.refresh_from_db()
    assert verify.state == StepState.FAILED and "Not rolled back yet" in verify.error
    assert "cpadmin02.proof-lab.example reports Cloudpaging Server 10.0.0" in verify.error
    run.refresh_from_db()
    assert run.state == RunState.PAUSED and UpgradeRequest.objects.get(pk=run.request_id).state == RequestState.APPROVED

    put(lab, hostnames(lab, 2), {"cloudpaging": "9.4.2", "openjdk": "17.0.10", "tomcat": "9.0.85"})
    wait_for(lambda: httpx.get(lab.url, timeout=5).status_code == 200)
    failure_take(run=run, by=engineer)
    step_retry(step=verify, by=engineer, reason="Group 2 reinstalled by hand")
    assert step_execute(step_id=verify.pk, worker="test-2") == "succeeded"
    run_advance(run=run)

    run.refresh_from_db()
    assert run.state == RunState.ROLLED_BACK
    assert UpgradeRequest.objects.get(pk=run.request_id).state == RequestState.ROLLED_BACK
    assert Deployment.objects.get(pk=run.deployment_id).cloudpaging_version == "9.4.2"


# -- Measured until the service answers again ----------------------------------------------------


def test_the_prober_measures_on_after_an_abort_until_the_service_answers(
        workers, start_lab, northwind, minor, engineer, customer, support):
    deployment, lab = lab_deployment(start_lab, northwind, groups=2, name="Outage lab")
    run = plans.run_create(window=confirmed_window(deployment, minor, engineer=engineer, customer=customer))
    start(run, engineer=engineer, customer=customer)
    wait_for(lambda: run.steps.filter(key="checks-before", state=StepState.WAITING).exists(), timeout=20)
    every = [server.hostname for server in lab.spec.servers]
    operate(targets=[lab.target(hostname) for hostname in every], operation=Operation.STOP, timeout=10)
    wait_for(lambda: httpx.get(lab.url, timeout=5).status_code == 503)

    run = run_abort(run=run, by=support, reason="The customer's network team is at work")
    # The service is still down: the prober measures on after the run's end.
    wait_for(lambda: AvailabilitySample.objects.filter(probe_id=run.probe_id, at__gt=run.finished_at,
                                                       up=False).count() >= 8, timeout=20)
    assert AvailabilityProbe.objects.get(pk=run.probe_id).state == ProbeState.RUNNING
    operate(targets=[lab.target(hostname) for hostname in every], operation=Operation.START, timeout=10)

    wait_for(lambda: AvailabilityProbe.objects.get(pk=run.probe_id).state == ProbeState.STOPPED, timeout=20)
    run.refresh_from_db()
    availability = availability_of(run)
    assert availability.downtime and availability.downtime[-1][1] > run.finished_at + timedelta(seconds=2)
