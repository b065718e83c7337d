"""Failures (S14): a failed step pauses the run with its log and error; one engineer takes the
failure and decides (retry, mark as fixed, skip, abort); others are told who owns it and change
nothing; every decision is a live event with its actor and reason, and in the audit trail."""

import pytest
from django.core.exceptions import PermissionDenied
from pghistory.models import Events

from portal.models import User
from tests.upgrades.decide_stories import (
    ADMIN_2, GROUP_1, drive, fresh, make_run, paused, serving, step, waiting_for_sign_off,
)
from upgrades.choices import RunState, StepState
from upgrades.drivers import Operation, operate
from upgrades.models import LiveEvent, Step
from upgrades.runflow import RunError
from upgrades.services.decisions import (
    failure_take, run_abort, run_take_over, step_mark_fixed, step_retry, step_skip,
)
from tests.upgrades.runs import start
from upgrades.services.runs import run_sign_off

MINOR, MAJOR = "9.5.0", "10.0.0"


@pytest.fixture
def administrator(world) -> User:
    """A second person who may act on any run (an engineer other than the run's may not:
    tests/test_role_table.py)."""
    return User.objects.get(email="admin@vendor.example")


@pytest.fixture
def other_engineer(world) -> User:
    return User.objects.get(email="engineer.apac@vendor.example")


def failed_at(run, key: str, error: str = "The installer stopped: disk full"):
    """The run as the engine leaves it when `key` fails: the step failed, the run paused."""
    Step.objects.filter(run=run, key=key).update(state=StepState.FAILED, error=error, attempts=1)
    type(run).objects.filter(pk=run.pk).update(state=RunState.PAUSED)
    return fresh(run), step(run, key)


def decisions(run) -> list[LiveEvent]:
    return list(LiveEvent.objects.filter(run=run, kind="decision").order_by("seq"))


# -- Who may act on a failure -------------------------------------------------------------


def test_the_engineer_who_takes_the_failure_owns_it_and_a_second_person_is_told_who(
        northwind_deployment, customer, engineer, administrator, other_engineer):
    run = make_run(deployment=northwind_deployment, version=MINOR, by=customer)
    run, failed = failed_at(run, "install-g1")

    failure_take(run=run, by=engineer)
    with pytest.raises(RunError, match="Erin Walsh has taken this failure"):
        failure_take(run=run, by=administrator)
    with pytest.raises(RunError, match="Erin Walsh has taken this failure: only they can act"):
        step_retry(step=failed, by=administrator, reason="Let me try")
    with pytest.raises(PermissionDenied):  # not this run's engineer: they would take the run over first
        failure_take(run=run, by=other_engineer)

    assert fresh(run).failure_owner == engineer
    assert (step(run, "install-g1").state, fresh(run).state) == (StepState.FAILED, RunState.PAUSED)
    [took] = decisions(run)
    assert (took.actor, took.data["decision"], took.text) == (engineer, "take", "Erin Walsh took the failure")


def test_a_take_over_is_explicit_and_recorded(northwind_deployment, customer, engineer, administrator):
    run = make_run(deployment=northwind_deployment, version=MINOR, by=customer)
    run, _ = failed_at(run, "install-g1")
    failure_take(run=run, by=engineer)

    failure_take(run=run, by=administrator, force=True)

    assert fresh(run).failure_owner == administrator
    assert decisions(run)[-1].text == "Alex Morgan took the failure over from Erin Walsh"


def test_another_engineer_takes_the_run_over_and_with_it_the_failure(
        northwind_deployment, customer, engineer, other_engineer):
    run = make_run(deployment=northwind_deployment, version=MINOR, by=customer)
    run, failed = failed_at(run, "install-g1")
    failure_take(run=run, by=engineer)

    run_take_over(run=run, by=other_engineer, reason="Erin's shift has ended")
    step_retry(step=failed, by=other_engineer, reason="Disk freed")

    assert fresh(run).driven_by == other_engineer
    assert decisions(run)[-2].text == "Hiro Tanaka took the run over from Erin Walsh: Erin's shift has ended"
    with pytest.raises(PermissionDenied):
        failure_take(run=run, by=engineer)  # handed over: no longer theirs


def test_nobody_decides_without_taking_the_failure_first(northwind_deployment, customer, engineer):
    run = make_run(deployment=northwind_deployment, version=MINOR, by=customer)
    run, failed = failed_at(run, "install-g1")

    with pytest.raises(RunError, match="Take the failure first"):
        step_retry(step=failed, by=engineer)
    assert step(run, "install-g1").state == StepState.FAILED


def test_customers_and_support_do_not_drive_a_failure(northwind_deployment, customer, support):
    run = make_run(deployment=northwind_deployment, version=MINOR, by=customer)
    run, _ = failed_at(run, "install-g1")

    for person in (customer, support):
        with pytest.raises(PermissionDenied):
            failure_take(run=run, by=person)


def test_there_is_no_failure_to_take_on_a_run_that_is_not_paused(northwind_deployment, customer, engineer):
    run = make_run(deployment=northwind_deployment, version=MINOR, by=customer)

    with pytest.raises(RunError, match="no failure to take"):
        failure_take(run=run, by=engineer)


# -- The decisions ------------------------------------------------------------------------


def test_marking_a_step_fixed_needs_a_reason_and_resumes_the_run(northwind_deployment, customer, engineer):
    run = make_run(deployment=northwind_deployment, version=MINOR, by=customer)
    run, failed = failed_at(run, "install-g1")
    failure_take(run=run, by=engineer)

    with pytest.raises(RunError, match="Give a reason"):
        step_mark_fixed(step=failed, by=engineer, reason="  ")
    fixed = step_mark_fixed(step=failed, by=engineer, reason="Freed disk space and ran the installer by hand")

    assert fixed.state == StepState.SUCCEEDED and fixed.result["fixed_by_hand"].startswith("Freed disk space")
    run = fresh(run)
    assert (run.state, run.failure_owner) == (RunState.RUNNING, None)
    last = decisions(run)[-1]
    assert (last.actor, last.data["decision"], last.data["reason"], last.step_id) == (
        engineer, "mark_fixed", "Freed disk space and ran the installer by hand", failed.pk)


def test_a_skipped_step_keeps_its_reason_but_the_sign_off_is_never_skipped(northwind_deployment, customer, engineer):
    run = make_run(deployment=northwind_deployment, version=MINOR, by=customer)
    run, failed = failed_at(run, "checks-without-g2")
    failure_take(run=run, by=engineer)

    with pytest.raises(RunError, match="cannot be skipped"):
        step_skip(step=step(run, "sign-off"), by=engineer, reason="No time")
    skipped = step_skip(step=failed, by=engineer, reason="The test machine is offline; tested from the desk")

    assert skipped.state == StepState.SKIPPED
    assert fresh(run).state == RunState.RUNNING
    assert decisions(run)[-1].text.endswith("The test machine is offline; tested from the desk")


def test_a_second_decision_on_the_same_failure_changes_nothing(northwind_deployment, customer, engineer):
    run = make_run(deployment=northwind_deployment, version=MINOR, by=customer)
    run, failed = failed_at(run, "install-g1")
    failure_take(run=run, by=engineer)
    step_retry(step=failed, by=engineer, reason="Disk freed")
    count = len(decisions(run))

    with pytest.raises(RunError, match="no failure to act on"):
        step_skip(step=failed, by=engineer, reason="Double click")

    assert step(run, "install-g1").state == StepState.PENDING
    assert len(decisions(run)) == count


def test_an_engineer_aborts_only_the_failure_they_own_while_support_may_abort_any_run(
        northwind_deployment, customer, engineer, administrator, support):
    run = make_run(deployment=northwind_deployment, version=MINOR, by=customer)
    run, _ = failed_at(run, "install-g1")
    failure_take(run=run, by=administrator)

    with pytest.raises(RunError, match="Alex Morgan has taken this failure"):
        run_abort(run=run, by=engineer, reason="Out of time")
    aborted = run_abort(run=run, by=support, reason="The customer called off the upgrade")

    assert aborted.state == RunState.ABORTED and aborted.finished_at is not None
    assert decisions(run)[-1].actor == support
    with pytest.raises(RunError, match="aborted already"):
        run_abort(run=run, by=support, reason="Again")


def test_every_decision_is_in_the_audit_trail_with_its_actor(northwind_deployment, customer, engineer):
    run = make_run(deployment=northwind_deployment, version=MINOR, by=customer)
    run, failed = failed_at(run, "install-g1")

    failure_take(run=run, by=engineer)
    step_retry(step=failed, by=engineer, reason="Disk freed")

    step_changes = [event for event in Events.objects.tracks(failed) if event.pgh_label == "update"]
    run_changes = [event for event in Events.objects.tracks(run) if event.pgh_label == "update"]
    assert any(event.pgh_context.get("user") == engineer.pk and event.pgh_context.get("decision") == "retry"
               and event.pgh_context.get("reason") == "Disk freed" for event in step_changes)
    assert {"failure_take", "retry"} <= {event.pgh_context.get("decision") for event in run_changes if event.pgh_context}


# -- With a real worker against the lab fleet ---------------------------------------------


def test_an_injected_failure_pauses_the_run_with_its_log_and_a_retry_completes_it(
        workers, northwind_lab, northwind_deployment, customer, engineer, administrator):
    lab = northwind_lab
    run = make_run(deployment=northwind_deployment, version=MINOR, by=customer)
    lab.control.inject(ADMIN_2, "fail_next", reason="The installer cannot write to C:\\Program Files")
    start(run, engineer=engineer, customer=customer)

    run = drive(run, engineer=engineer, customer=customer, until=paused)

    failed = Step.objects.get(run=run, state=StepState.FAILED)
    assert failed.key == "stop-g2"
    assert "cannot write to C:\\Program Files" in failed.error
    log = LiveEvent.objects.filter(run=run, step=failed, kind="log").values_list("text", flat=True)
    assert any(line.startswith(ADMIN_2) and "ERROR: The installer cannot write" in line for line in log)

    failure_take(run=run, by=engineer)
    with pytest.raises(RunError, match="Erin Walsh"):
        step_retry(step=failed, by=administrator)
    step_retry(step=failed, by=engineer, reason="Permissions corrected on the server")
    run = drive(run, engineer=engineer, customer=customer, until=waiting_for_sign_off)
    run_sign_off(run=run, by=customer, name="Olivia Bennett", comment="All good")

    run = fresh(run)
    assert run.state == RunState.COMPLETED
    assert step(run, "stop-g2").attempts == 2
    assert [event.data["decision"] for event in decisions(run)] == ["take", "retry"]
    assert serving(lab, GROUP_1)


def test_a_step_fixed_by_hand_lets_the_run_go_on(workers, northwind_lab, northwind_deployment, customer, engineer):
    lab = northwind_lab
    run = make_run(deployment=northwind_deployment, version=MINOR, by=customer)
    lab.control.inject(ADMIN_2, "fail_next", reason="systemctl timed out")
    start(run, engineer=engineer, customer=customer)
    run = drive(run, engineer=engineer, customer=customer, until=paused)
    failed = step(run, "stop-g2")

    # The engineer stops the services on the server themselves, then says so.
    [stopped] = operate(targets=[lab.target(ADMIN_2)], operation=Operation.STOP, timeout=10)
    assert stopped.ok
    failure_take(run=run, by=engineer)
    step_mark_fixed(step=failed, by=engineer, reason="Stopped the services by hand")
    run = drive(run, engineer=engineer, customer=customer, until=waiting_for_sign_off)

    assert step(run, "stop-g2").state == StepState.SUCCEEDED
    assert step(run, "install-g2").state == StepState.SUCCEEDED
