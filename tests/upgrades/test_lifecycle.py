"""One upgrade's life across its request, its window and the window's run (upgrades.services
.lifecycle): a confirmed window gets its run and plan, the plan follows the window, a cancelled
window takes its unstarted run with it, a window under way does not move, and the run's end
closes the request and the window for good."""

from datetime import datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils.timezone import now as django_now

from portal.models import Notice, Server
from scheduling.choices import Cover, WindowState
from scheduling.models import MaintenanceWindow
from scheduling.services.booking import window_book
from scheduling.services.windows import window_cancel, window_confirm, window_reschedule
from tests.factories import MaintenanceWindowFactory
from upgrades.choices import ReadinessKind, RequestState, RunState, StepProcedure, StepState
from upgrades.models import Readiness, Release, Run, Step, UpgradeRequest
from upgrades.procedure import StepKind
from upgrades.rollback_plan import ServerNow, rollback_procedure
from upgrades.runflow import RunError
from upgrades.services import plans, requests
from upgrades.services.decisions import run_abort, step_skip
from upgrades.services.readiness import readiness_confirm
from upgrades.services.engine import run_advance
from upgrades.services.runs import run_sign_off
from upgrades.workflow import WorkflowError

def in_a_month() -> datetime:
    """A window's start a month from whatever today is (window_book takes any time for a named
    engineer: finding free slots has tests of its own)."""
    return (django_now() + timedelta(days=30)).replace(hour=10, minute=0, second=0, microsecond=0)


def book(approved, engineer, customer, *, cover=Cover.STANDARD, later=timedelta(0)) -> MaintenanceWindow:
    return window_book(upgrade=approved, start=in_a_month() + later, engineer_ids=[engineer.pk], cover=cover,
                       by=customer)


def under_way(run: Run) -> Run:
    """The run as the engine leaves it once started (the engine's stories start it for real)."""
    Run.objects.filter(pk=run.pk).update(state=RunState.RUNNING, started_at=run.planned_start)
    return Run.objects.get(pk=run.pk)


def waiting_for_sign_off(run: Run) -> Run:
    run = under_way(run)
    run.steps.exclude(kind=StepKind.SIGN_OFF).update(state=StepState.SUCCEEDED)
    run.steps.filter(kind=StepKind.SIGN_OFF).update(state=StepState.WAITING)
    return run


# -- A confirmed window gets its run ------------------------------------------------------------


def test_a_window_booked_within_hours_gets_its_run_with_the_plan_on_the_windows_times(
        approved, engineer, customer, client_for):
    window = book(approved, engineer, customer)

    run = Run.objects.get(window=window)
    assert run.state == RunState.SCHEDULED and run.request == approved
    steps = list(run.steps.order_by("position"))
    assert [step.number for step in steps] == [None, *range(1, 16)]
    assert steps[0].planned_start == window.start and steps[-1].planned_end == window.end
    for person in (customer, engineer):
        page = client_for(person).get(reverse("window-detail", args=[window.pk])).content.decode()
        assert "Run the database upgrade command" in page and reverse("run-live", args=[run.pk]) in page
    request_page = client_for(customer).get(reverse("request-detail", args=[approved.pk])).content.decode()
    assert reverse("run-live", args=[run.pk]) in request_page


def test_an_out_of_hours_window_gets_its_run_once_support_confirms_it(approved, engineer, customer, support,
                                                                        client_for):
    window = book(approved, engineer, customer, cover=Cover.OUT_OF_HOURS)
    assert not Run.objects.filter(window=window).exists()
    page = client_for(customer).get(reverse("window-detail", args=[window.pk])).content.decode()
    assert "appears here once the window is confirmed" in page

    window_confirm(window=window, by=support)

    assert Run.objects.get(window=window).state == RunState.SCHEDULED


def test_the_plan_follows_the_window_and_forgets_what_was_confirmed_for_the_old_time(
        approved, engineer, customer, support):
    window = book(approved, engineer, customer)
    run = Run.objects.get(window=window)
    readiness_confirm(run=run, kind=ReadinessKind.SNAPSHOTS, by=customer)

    moved = window_reschedule(window=window, start=window.start + timedelta(days=2), engineer_ids=[engineer.pk],
                              cover=Cover.STANDARD, by=support, reason="The customer's term starts later")

    run.refresh_from_db()
    assert Run.objects.filter(window=window).count() == 1
    assert (run.planned_start, run.planned_end) == (moved.start, moved.end)
    steps = list(run.steps.order_by("position"))
    assert steps[0].planned_start == moved.start and steps[-1].planned_end == moved.end
    assert not Readiness.objects.filter(run=run).exists()
    assert "Plan follows the window" in run.live_events.last().text


def test_a_cancelled_window_takes_its_unstarted_run_with_it(approved, engineer, customer):
    window = book(approved, engineer, customer)
    assert Run.objects.filter(window=window).exists()

    window_cancel(window=window, by=customer, reason="Exams moved into that week")

    assert not Run.objects.filter(window=window).exists()
    assert book(approved, engineer, customer, later=timedelta(days=7)).run.state == RunState.SCHEDULED


def test_a_window_whose_run_is_under_way_neither_moves_nor_is_cancelled(approved, engineer, customer, support,
                                                                        client_for):
    window = book(approved, engineer, customer)
    under_way(window.run)

    with pytest.raises(WorkflowError, match="under way"):
        window_cancel(window=window, by=support, reason="Changed our mind")
    with pytest.raises(WorkflowError, match="under way"):
        window_reschedule(window=window, start=window.start + timedelta(days=1), engineer_ids=[engineer.pk],
                          cover=Cover.STANDARD, by=support)
    answer = client_for(support).post(f"/api/v1/windows/{window.pk}/cancel/", {"reason": "No"},
                                      content_type="application/json")
    assert answer.status_code == 409 and "under way" in answer.json()["detail"]
    assert MaintenanceWindow.objects.get(pk=window.pk).state == WindowState.CONFIRMED
    page = client_for(support).get(reverse("window-detail", args=[window.pk])).content.decode()
    assert "Cancel the window" not in page and "under way" in page


def test_a_deployment_that_cannot_be_planned_keeps_its_window_and_the_page_says_why(
        approved, engineer, customer, support, client_for, northwind_deployment):
    second = Server.objects.filter(pk__in=list(Server.objects.filter(
        deployment=northwind_deployment, group__position=2).values_list("pk", flat=True)))
    group_2 = second.first().group
    second.update(group=None)
    window = book(approved, engineer, customer)

    assert window.state == WindowState.CONFIRMED and not Run.objects.filter(window=window).exists()
    page = client_for(support).get(reverse("window-detail", args=[window.pk])).content.decode()
    assert "at least two server groups" in page

    second.update(group=group_2)  # the servers are registered in their group again
    client_for(support).post(reverse("window-action", args=[window.pk, "plan"]))
    assert Run.objects.get(window=window).steps.filter(groups=[2]).exists()
    assert client_for(customer).post(reverse("window-action", args=[window.pk, "plan"])).status_code == 403


# -- The run's end closes the upgrade ------------------------------------------------------------


def test_the_sign_off_completes_the_request_and_the_window_and_nothing_moves_after(
        approved, engineer, customer, support, client_for):
    window = book(approved, engineer, customer)
    run = waiting_for_sign_off(window.run)

    run_sign_off(run=run, by=customer, name="Olivia Bennett", comment="All good")

    approved.refresh_from_db()
    window.refresh_from_db()
    assert (approved.state, window.state) == (RequestState.COMPLETED, WindowState.COMPLETED)
    assert approved.timeline.filter(action="complete").exists()
    with pytest.raises(WorkflowError, match="completed"):
        requests.request_withdraw(upgrade=approved, by=customer, reason="Too late")
    with pytest.raises(WorkflowError, match="completed: it cannot be cancelled"):
        window_cancel(window=window, by=support, reason="Clean-up")
    answer = client_for(support).post(f"/api/v1/windows/{window.pk}/cancel/", {"reason": "Clean-up"},
                                      content_type="application/json")
    assert answer.status_code == 409
    assert not Notice.objects.filter(subject__icontains="cancel").exists()
    assert UpgradeRequest.objects.get(pk=approved.pk).state == RequestState.COMPLETED

    request_page = client_for(customer).get(reverse("request-detail", args=[approved.pk])).content.decode()
    assert "Completed." in request_page and "Withdraw" not in request_page
    window_page = client_for(customer).get(reverse("window-detail", args=[window.pk])).content.decode()
    assert "less than 48 hours" not in window_page and "Notice for your service users" not in window_page
    assert "Cancel the window" not in window_page
    listing = client_for(customer).get(reverse("request-list")).content.decode()
    assert "Completed" in listing and "Withdrawn" not in listing


def test_an_aborted_run_ends_the_request_and_the_customer_can_request_again(
        approved, engineer, customer, support, northwind_deployment, release):
    window = book(approved, engineer, customer)
    run = under_way(window.run)

    run_abort(run=run, by=support, reason="The customer's network is down")

    approved.refresh_from_db()
    assert approved.state == RequestState.ABORTED and approved.decision_reason == "The customer's network is down"
    assert MaintenanceWindow.objects.get(pk=window.pk).state == WindowState.COMPLETED
    again = requests.request_create(deployment=northwind_deployment, release=release, by=customer)
    assert again.state == RequestState.DRAFT


def test_a_scheduled_run_is_not_aborted_its_window_is_cancelled(approved, engineer, customer, support):
    window = book(approved, engineer, customer)

    with pytest.raises(RunError, match="cancel its window"):
        run_abort(run=window.run, by=support, reason="Not needed")
    assert Run.objects.get(window=window).state == RunState.SCHEDULED


def _verified(run: Run, versions: dict) -> None:
    """The rollback's survey and verification as the engine leaves them when both succeeded."""
    servers = [ServerNow(hostname=f"cpadmin0{group}", role="admin_license", group=group, versions=dict(versions),
                         running=True, configured=True) for group in (1, 2)]
    planned = rollback_procedure(method="reinstall_previous", servers=servers, schema_changed=False,
                                 previous=dict(run.previous_versions))
    plans.steps_append(run=run, planned=planned, procedure_name=StepProcedure.ROLLBACK)
    run.steps.filter(procedure=StepProcedure.UPGRADE).update(state=StepState.SKIPPED)
    run.steps.filter(procedure=StepProcedure.ROLLBACK).update(state=StepState.SUCCEEDED,
                                                              result={"reported": dict(run.previous_versions)})


def test_a_verified_rollback_ends_the_request_rolled_back_and_the_customer_can_request_again(
        approved, engineer, customer, northwind_deployment, release, client_for):
    window = book(approved, engineer, customer)
    run = under_way(window.run)
    _verified(run, run.previous_versions)

    run_advance(run=run)

    run.refresh_from_db()
    approved.refresh_from_db()
    assert (run.state, approved.state) == (RunState.ROLLED_BACK, RequestState.ROLLED_BACK)
    assert MaintenanceWindow.objects.get(pk=window.pk).state == WindowState.COMPLETED
    page = client_for(customer).get(reverse("request-detail", args=[approved.pk])).content.decode()
    assert "Rolled back." in page and "Request the upgrade again" in page
    assert requests.request_create(deployment=northwind_deployment, release=release, by=customer).is_open


def test_the_rollbacks_verification_is_neither_skipped_nor_marked_fixed(approved, engineer, customer):
    window = book(approved, engineer, customer)
    run = under_way(window.run)
    _verified(run, run.previous_versions)
    verify = run.steps.get(kind=StepKind.VERIFY)
    Step.objects.filter(pk=verify.pk).update(state=StepState.FAILED, error="cpadmin02 reports 10.0.0")
    Run.objects.filter(pk=run.pk).update(state=RunState.PAUSED, failure_owner=engineer)

    with pytest.raises(RunError, match="verification cannot be skipped"):
        step_skip(step=Step.objects.get(pk=verify.pk), by=engineer, reason="Looks fine to me")
    assert Run.objects.get(pk=run.pk).state == RunState.PAUSED


def test_only_the_customer_confirms_their_snapshots_and_only_before_the_start(approved, engineer, customer,
                                                                               outsider):
    window = book(approved, engineer, customer)
    run = window.run

    with pytest.raises(PermissionDenied):
        readiness_confirm(run=run, kind=ReadinessKind.SNAPSHOTS, by=engineer)
    with pytest.raises(PermissionDenied):
        readiness_confirm(run=run, kind=ReadinessKind.SNAPSHOTS, by=outsider)
    readiness_confirm(run=run, kind=ReadinessKind.BACKUP, by=engineer, note="Taken by Erin")
    under_way(run)
    with pytest.raises(RunError, match="running"):
        readiness_confirm(run=run, kind=ReadinessKind.SNAPSHOTS, by=customer)
    assert list(Readiness.objects.filter(run=run).values_list("kind", flat=True)) == [ReadinessKind.BACKUP]


def test_a_cloud_customers_window_gets_its_run_once_support_confirms_the_plan(support, engineer, world):
    from portal.models import Deployment

    fabrikam = Deployment.objects.get(organisation__slug="fabrikam")
    window = MaintenanceWindowFactory(
        proposed=True, request__deployment=fabrikam, request__release=Release.objects.get(version="10.0.0"),
        request__requested_by=support, engineer=engineer, start=in_a_month(),
    )

    window_confirm(window=window, by=support)

    assert Run.objects.get(window=window).state == RunState.SCHEDULED


def test_the_booking_link_of_a_finished_upgrade_says_it_is_finished(approved, engineer, customer, support,
                                                                    client_for):
    from scheduling.services.links import link_issue, link_token

    token = link_token(link_issue(upgrade=approved, by=support))
    window = book(approved, engineer, customer)
    run_sign_off(run=waiting_for_sign_off(window.run), by=customer, name="Olivia Bennett")

    page = client_for(customer).get(reverse("book", args=[token]))

    assert page.status_code == 403 and "This upgrade is completed" in page.content.decode()
