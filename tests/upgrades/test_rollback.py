"""Rollback (S15) and rebuild (S16): the methods that apply, when the page advises a rollback,
the customer's lead contact deciding it, the rollback's own steps run by a real worker against
the lab fleet, and a rebuild that loses nothing."""

from datetime import timedelta

import httpx
import pytest
import time_machine
from django.core.exceptions import PermissionDenied

from portal.choices import ContactRole, ServerPlatform
from portal.models import Contact, Deployment
from tests.conftest import deliver_outbox, wait_for
from tests.upgrades.conftest import VERSION_10
from tests.upgrades.decide_stories import (
    ADMIN_1, ADMIN_2, GROUP_1, GROUP_2, STREAM_2, drive, lab_versions, mailed_to, make_run, notices_about, paused,
    serving, step, steps_in, waiting_for_sign_off,
)
from upgrades.choices import RollbackMethod, RollbackState, RunState, StepProcedure, StepState
from upgrades.drivers import Operation, operate
from upgrades.models import LiveEvent, Run, Step
from upgrades.procedure import Phase, StepKind
from upgrades.rollback_plan import ServerNow, rebuild_procedure, rollback_procedure
from upgrades.runflow import RunError
from upgrades.services.decisions import failure_take
from upgrades.services.rollback import (
    rebuild_request, rollback_advised, rollback_decide, rollback_methods, rollback_request,
)
from tests.upgrades.runs import start

OLD, MINOR, MAJOR = "9.4.2", "9.5.0", "10.0.0"

# -- The plans (pure) ---------------------------------------------------------------------


def _keys(steps) -> list[str]:
    return [step.key for step in steps]


PREVIOUS = {"cloudpaging": OLD, "openjdk": "17.0.10", "tomcat": "9.0.85"}
UPGRADED = {"cloudpaging": MAJOR, "openjdk": "21.0.5", "tomcat": "10.1.31"}


def _group(position: int, versions: dict, *, running: bool = True, configured: bool = True) -> list[ServerNow]:
    return [ServerNow(hostname=f"{prefix}{position:02d}", role=role, group=position, versions=dict(versions),
                      running=running, configured=configured)
            for prefix, role in (("cpadmin", "admin_license"), ("cpstream", "stream"))]


def test_after_a_schema_change_every_server_stops_the_database_goes_back_and_only_changed_groups_reinstall():
    # Group 1 upgraded, group 2 stopped on the old version, group 3 still serving the old version.
    servers = _group(1, UPGRADED) + _group(2, PREVIOUS, running=False) + _group(3, PREVIOUS)

    steps = rollback_procedure(method=RollbackMethod.RESTORE_DATABASE, servers=servers, schema_changed=True,
                               previous=PREVIOUS, first_number=2)

    assert _keys(steps) == [
        "stop-g1", "stop-g3", "restore-database", "install-g1", "configure-g1", "start-g2", "start-g3", "verify",
    ]
    assert [step.number for step in steps] == list(range(2, 10))
    assert steps[2].kind == StepKind.DATABASE and steps[2].operation == "restore-database"
    assert {step.phase for step in steps[:5]} == {Phase.DOWNTIME}
    assert {step.phase for step in steps[5:]} == {Phase.LIMITED}
    assert "9.4.2" in steps[3].action and "10.0.0" not in " ".join(step.action for step in steps)
    assert steps[-1].kind == StepKind.VERIFY and steps[-1].groups == (1, 2, 3)


def test_without_a_schema_change_only_the_changed_group_reverts_while_the_others_serve():
    servers = _group(1, {**PREVIOUS, "cloudpaging": MINOR}) + _group(2, PREVIOUS)

    steps = rollback_procedure(method=RollbackMethod.REINSTALL_PREVIOUS, servers=servers, schema_changed=False,
                               previous=PREVIOUS)

    assert _keys(steps) == ["stop-g1", "install-g1", "configure-g1", "verify"]
    assert {step.phase for step in steps} == {Phase.AT_RISK}
    assert "Reconnect" in steps[2].action


def test_a_group_left_stopped_on_the_old_version_is_only_started_again():
    servers = _group(1, PREVIOUS, running=False) + _group(2, PREVIOUS, running=False, configured=False)

    steps = rollback_procedure(method=RollbackMethod.REINSTALL_PREVIOUS, servers=servers, schema_changed=False,
                               previous=PREVIOUS)

    assert [(step.key, step.operation) for step in steps] == [
        ("start-g1", "start"), ("configure-g2", "configure"), ("verify", "")]


def test_a_snapshot_restore_also_puts_the_database_back_when_the_schema_changed():
    servers = _group(1, UPGRADED) + _group(2, PREVIOUS, running=False)

    steps = rollback_procedure(method=RollbackMethod.RESTORE_SNAPSHOTS, servers=servers, schema_changed=True,
                               previous=PREVIOUS)

    assert "restore-database" in _keys(steps)
    assert "snapshots" in steps[2].action


def test_there_is_no_database_to_restore_when_the_schema_did_not_change():
    with pytest.raises(ValueError, match="nothing to restore"):
        rollback_procedure(method=RollbackMethod.RESTORE_DATABASE, servers=_group(1, UPGRADED), schema_changed=False,
                           previous=PREVIOUS)


def test_a_rebuild_uninstalls_reboots_reinstalls_and_reconnects_one_group():
    steps = rebuild_procedure(group=2)

    assert [step.operation for step in steps] == ["uninstall", "reboot", "install", "configure"]
    assert {step.groups for step in steps} == {(2,)}
    assert _keys(rebuild_procedure(group=2, round_=2))[0] == "uninstall-g2-r2"


# -- The lab can restore the StreamDB -----------------------------------------------------


def test_the_lab_restores_the_streamdb_backup_taken_before_the_major_upgrade(lab):
    admin_1 = lab.target("cpadmin01.lab.example")
    every = [lab.target(server.hostname) for server in lab.spec.servers]
    for operation, params in ((Operation.STOP, None), (Operation.INSTALL, VERSION_10), (Operation.CONFIGURE, None)):
        assert all(result.ok for result in operate(targets=lab.group(1), operation=operation, params=params, timeout=10))
    [upgraded] = operate(targets=[admin_1], operation=Operation.UPGRADE_DATABASE, timeout=10)
    assert upgraded.ok and lab.control.status()["schema"] == "10"

    [refused] = operate(targets=[admin_1], operation=Operation.RESTORE_DATABASE, timeout=10)
    assert not refused.ok and "Stop every server" in refused.message

    operate(targets=every, operation=Operation.STOP, timeout=10)
    [restored] = operate(targets=[admin_1], operation=Operation.RESTORE_DATABASE, timeout=10)

    assert restored.ok and "10 back to 9" in restored.message
    assert lab.control.status()["schema"] == "9"
    [again] = operate(targets=[admin_1], operation=Operation.RESTORE_DATABASE, timeout=10)
    assert not again.ok and "no StreamDB backup" in again.message


def test_the_database_restore_runs_only_on_an_admin_server(lab):
    [result] = operate(targets=[lab.target("cpstream01.lab.example")], operation=Operation.RESTORE_DATABASE, timeout=10)

    assert not result.ok and "Admin/License" in result.message


# -- Which methods apply, and when the page advises a rollback ----------------------------


def _paused_on(run, key: str):
    Step.objects.filter(run=run, key=key).update(state=StepState.FAILED, error="Health check fails", attempts=1)
    Run.objects.filter(pk=run.pk).update(state=RunState.PAUSED)
    return Run.objects.get(pk=run.pk)


def test_a_minor_upgrade_offers_no_database_restore(northwind_deployment, customer):
    run = make_run(deployment=northwind_deployment, version=MINOR, by=customer)

    assert rollback_methods(run) == [RollbackMethod.RESTORE_SNAPSHOTS, RollbackMethod.REINSTALL_PREVIOUS]


def test_a_major_upgrade_offers_the_database_restore_once_its_database_step_ran(northwind_deployment, customer):
    run = make_run(deployment=northwind_deployment, version=MAJOR, by=customer)
    assert RollbackMethod.RESTORE_DATABASE not in rollback_methods(run)

    Step.objects.filter(run=run, key="database").update(state=StepState.SUCCEEDED)

    assert rollback_methods(run) == [
        RollbackMethod.RESTORE_DATABASE, RollbackMethod.RESTORE_SNAPSHOTS, RollbackMethod.REINSTALL_PREVIOUS,
    ]


def test_physical_servers_have_no_snapshots_to_restore(northwind_deployment, customer):
    Deployment.objects.filter(pk=northwind_deployment.pk).update(server_platform=ServerPlatform.PHYSICAL)
    run = make_run(deployment=Deployment.objects.get(pk=northwind_deployment.pk), version=MINOR, by=customer)

    assert rollback_methods(run) == [RollbackMethod.REINSTALL_PREVIOUS]


def test_a_rollback_is_advised_only_with_a_problem_and_less_than_an_hour_left(northwind_deployment, customer):
    run = make_run(deployment=northwind_deployment, version=MINOR, by=customer)
    end = run.planned_end

    with time_machine.travel(end - timedelta(minutes=59), tick=False):
        assert not rollback_advised(run)  # running: no problem remains
        paused = _paused_on(run, "install-g1")
        assert rollback_advised(paused)
    with time_machine.travel(end - timedelta(minutes=61), tick=False):
        assert not rollback_advised(paused)
    assert rollback_advised(paused, now=end - timedelta(minutes=5))


def test_the_rollback_request_needs_the_failure_a_method_that_applies_and_a_reason(
        northwind_deployment, customer, engineer):
    run = _paused_on(make_run(deployment=northwind_deployment, version=MINOR, by=customer), "install-g1")

    with pytest.raises(RunError, match="Take the failure first"):
        rollback_request(run=run, by=engineer, method=RollbackMethod.REINSTALL_PREVIOUS, reason="Out of time")
    failure_take(run=run, by=engineer)
    with pytest.raises(RunError, match="does not apply"):
        rollback_request(run=run, by=engineer, method=RollbackMethod.RESTORE_DATABASE, reason="Out of time")
    with pytest.raises(RunError, match="Say why"):
        rollback_request(run=run, by=engineer, method=RollbackMethod.REINSTALL_PREVIOUS, reason="")
    decision = rollback_request(run=run, by=engineer, method=RollbackMethod.REINSTALL_PREVIOUS, reason="Out of time")
    with pytest.raises(RunError, match="already waiting"):
        rollback_request(run=run, by=engineer, method=RollbackMethod.RESTORE_SNAPSHOTS, reason="Again")

    assert decision.state == RollbackState.REQUESTED
    assert notices_about(run, f"rollback:{decision.pk}:requested") == {"olivia.bennett@northwind.example"}
    assert not rollback_advised(Run.objects.get(pk=run.pk), now=run.planned_end - timedelta(minutes=5))


def test_only_the_contacts_who_authorise_are_asked_to(inbox, northwind, northwind_deployment, customer, engineer):
    Contact.objects.create(organisation=northwind, name="Ann Deputy", email="ann.deputy@northwind.example",
                           time_zone="Europe/London", roles=[ContactRole.LEAD])
    run = _paused_on(make_run(deployment=northwind_deployment, version=MINOR, by=customer), "install-g1")
    failure_take(run=run, by=engineer)

    rollback_request(run=run, by=engineer, method=RollbackMethod.REINSTALL_PREVIOUS, reason="Out of time")

    deliver_outbox(inbox)
    assert mailed_to(inbox, "needs your authorisation") == {
        "olivia.bennett@northwind.example", "ann.deputy@northwind.example"}


def test_only_the_lead_contact_decides_and_a_refusal_leaves_the_run_paused(
        northwind_deployment, customer, colleague, engineer, outsider):
    run = _paused_on(make_run(deployment=northwind_deployment, version=MINOR, by=customer), "install-g1")
    failure_take(run=run, by=engineer)
    decision = rollback_request(run=run, by=engineer, method=RollbackMethod.REINSTALL_PREVIOUS, reason="Out of time")

    for person in (colleague, outsider, engineer):
        with pytest.raises(PermissionDenied):
            rollback_decide(decision=decision, by=person, authorise=True, reason="Go")
    refused = rollback_decide(decision=decision, by=customer, authorise=False, reason="Keep trying: term starts Monday")
    with pytest.raises(RunError, match="decided already"):
        rollback_decide(decision=decision, by=customer, authorise=True, reason="Changed my mind")

    assert (refused.state, refused.decided_by, refused.decision_reason) == (
        RollbackState.REFUSED, customer, "Keep trying: term starts Monday")
    assert Run.objects.get(pk=run.pk).state == RunState.PAUSED
    assert not steps_in(run, StepProcedure.ROLLBACK)
    last = LiveEvent.objects.filter(run=run, kind="decision").last()
    assert (last.actor, last.data["decision"], last.data["reason"]) == (
        customer, "rollback_refused", "Keep trying: term starts Monday")


# -- With a real worker against the lab fleet ---------------------------------------------


def test_a_rollback_authorised_by_the_lead_contact_puts_every_server_back_on_the_old_versions(
        workers, inbox, northwind_lab, northwind_deployment, customer, engineer):
    """A major upgrade fails after its database step: the StreamDB goes back from its backup and
    every server back to 9.4.2; the run ends rolled back; both sides are mailed at each turn."""
    lab = northwind_lab
    run = make_run(deployment=northwind_deployment, version=MAJOR, by=customer)
    lab.control.inject(ADMIN_2, "fail_next", reason="Tomcat will not stop")
    start(run, engineer=engineer, customer=customer)
    run = drive(run, engineer=engineer, customer=customer, until=paused)
    assert step(run, "stop-g2").state == StepState.FAILED
    assert lab.control.status()["schema"] == "10"

    failure_take(run=run, by=engineer)
    assert RollbackMethod.RESTORE_DATABASE in rollback_methods(run)
    decision = rollback_request(run=run, by=engineer, method=RollbackMethod.RESTORE_DATABASE,
                                reason="Group 2 will not stop and the window closes within the hour")
    rollback_decide(decision=decision, by=customer, authorise=True, reason="Go back to 9.4.2, we retry next week")

    run = drive(run, engineer=engineer, customer=customer, until=lambda current: current.state == RunState.ROLLED_BACK)
    # Planned from what the servers reported: group 2 still ran 9.4.2, so it is only started again.
    assert [s.key for s in steps_in(run, StepProcedure.ROLLBACK)] == [
        "survey", "stop-g1", "stop-g2", "restore-database", "install-g1", "configure-g1", "start-g2", "verify",
    ]
    assert {s.state for s in steps_in(run, StepProcedure.ROLLBACK)} == {StepState.SUCCEEDED}
    assert step(run, "sign-off").state == StepState.SKIPPED
    assert lab_versions(lab) == dict.fromkeys(lab_versions(lab), OLD)
    assert lab.control.status()["schema"] == "9"
    # Group 2 never left 9.4.2: the rollback installed nothing there.
    assert "install" not in [entry["operation"] for entry in lab.state(ADMIN_2).journal]
    wait_for(lambda: serving(lab, GROUP_1 + GROUP_2))
    assert httpx.get(lab.url, timeout=5).status_code == 200
    assert Deployment.objects.get(pk=northwind_deployment.pk).cloudpaging_version == OLD

    wait_for(lambda: len(mailed_to(inbox, "Rollback authorised")) >= 2)
    assert mailed_to(inbox, "needs your authorisation") == {"olivia.bennett@northwind.example"}
    assert mailed_to(inbox, "Rollback authorised") == {"olivia.bennett@northwind.example", "engineer@vendor.example"}
    # The end: the contacts available for the window and the engineer get the report, once each.
    told = {"olivia.bennett@northwind.example", "rahul.mehta@northwind.example", "grace.liu@northwind.example",
            "engineer@vendor.example"}
    wait_for(lambda: mailed_to(inbox, "Your upgrade was rolled back") == told, timeout=60)
    rolled_back = [message for message in inbox if "rolled back" in message["Subject"]]
    assert len(rolled_back) == len(told)
    for message in rolled_back:
        (pdf,) = [part for part in message.walk() if part.get_content_type() == "application/pdf"]
        assert pdf.get_payload(decode=True).startswith(b"%PDF-")


def test_a_minor_rollback_reinstalls_group_by_group_while_the_others_serve(
        workers, northwind_lab, northwind_deployment, customer, engineer):
    lab = northwind_lab
    Deployment.objects.filter(pk=northwind_deployment.pk).update(server_platform=ServerPlatform.PHYSICAL)
    run = make_run(deployment=northwind_deployment, version=MINOR, by=customer)
    lab.control.inject(STREAM_2, "fail_next", reason="Disk full")
    start(run, engineer=engineer, customer=customer)
    run = drive(run, engineer=engineer, customer=customer, until=paused)
    assert lab_versions(lab)[ADMIN_1] == "9.5.0"

    failure_take(run=run, by=engineer)
    assert rollback_methods(run) == [RollbackMethod.REINSTALL_PREVIOUS]
    decision = rollback_request(run=run, by=engineer, method=RollbackMethod.REINSTALL_PREVIOUS, reason="Disk full")
    rollback_decide(decision=decision, by=customer, authorise=True, reason="Agreed")
    run = drive(run, engineer=engineer, customer=customer, until=lambda current: current.state == RunState.ROLLED_BACK)

    assert "restore-database" not in [s.key for s in steps_in(run, StepProcedure.ROLLBACK)]
    assert lab_versions(lab) == dict.fromkeys(lab_versions(lab), OLD)
    wait_for(lambda: serving(lab, GROUP_1 + GROUP_2))


def test_a_rebuilt_group_serves_again_with_every_published_application(
        workers, northwind_lab, northwind_deployment, customer, engineer):
    """S16: uninstall, reboot, reinstall, reconnect; then the failed step runs again and the
    upgrade completes."""
    lab = northwind_lab
    applications = list(lab.state(STREAM_2).applications)
    run = make_run(deployment=northwind_deployment, version=MINOR, by=customer)
    lab.control.inject(STREAM_2, "fail_next", reason="The service binary is corrupt")
    start(run, engineer=engineer, customer=customer)
    run = drive(run, engineer=engineer, customer=customer, until=paused)
    failure_take(run=run, by=engineer)

    rebuild_request(run=run, server_group=2, by=engineer, reason="Corrupt binaries on cpstream02")
    run = drive(run, engineer=engineer, customer=customer, until=waiting_for_sign_off)

    rebuilt = steps_in(run, StepProcedure.REBUILD)
    assert [s.operation for s in rebuilt] == ["uninstall", "reboot", "install", "configure"]
    assert {s.state for s in rebuilt} == {StepState.SUCCEEDED}
    assert rebuilt[-1].position < step(run, "stop-g2").position
    assert step(run, "stop-g2").attempts == 2
    received = [entry["operation"] for entry in lab.state(STREAM_2).journal]
    assert received[received.index("uninstall"):][:4] == ["uninstall", "reboot", "install", "configure"]
    assert lab.state(STREAM_2).applications == applications  # no data lost
    assert lab_versions(lab)[STREAM_2] == "9.5.0"
    wait_for(lambda: serving(lab, GROUP_2))
    decision = LiveEvent.objects.filter(run=run, kind="decision", data__decision="rebuild").get()
    assert (decision.actor, decision.data["reason"]) == (engineer, "Corrupt binaries on cpstream02")
