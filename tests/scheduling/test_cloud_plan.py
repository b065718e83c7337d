"""The cloud plan (S3): the vendor proposes a window for each cloud deployment within 6 months
of the release, in support hours, at least 14 days ahead, spreading the load; support adjusts
and confirms; the cloud customer sees the plan and books nothing."""

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from portal.models import Deployment
from scheduling.choices import Cover, WindowState
from scheduling.cloud import Candidates, add_months, plan_cloud, plan_deadline
from scheduling.models import MaintenanceWindow
from scheduling.services import cloud
from scheduling.services.booking import window_book
from scheduling.services.links import link_issue
from scheduling.services.windows import window_confirm
from scheduling.slots import Slot
from tests.dates import each_day
from tests.factories import DeploymentFactory, UpgradeRequestFactory
from upgrades.choices import RequestState, UpgradeKind
from upgrades.models import Release, UpgradeRequest
from upgrades.workflow import WorkflowError

# A Tuesday evening in London: Wednesday morning in Sydney, three weeks after 10.0.0's release.
NOW = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
SYDNEY = ZoneInfo("Australia/Sydney")


# The planner, on hand-made slots --------------------------------------------------------------

EARLIEST = datetime(2027, 1, 4, 0, 0, tzinfo=UTC)
DEADLINE = datetime(2027, 5, 1, 0, 0, tzinfo=UTC)
BUFFER = timedelta(minutes=30)


def _slot(day: int, hour: int, engineers=(1, 2), *, standard=True, low_usage=False, minutes=60, month=1) -> Slot:
    start = datetime(2027, month, day, hour, 0, tzinfo=UTC)
    return Slot(start=start, end=start + timedelta(minutes=minutes), engineer_ids=tuple(engineers),
                standard=standard, low_usage=low_usage)


def _week(engineers=(1, 2)) -> list[Slot]:
    """Monday 4 to Friday 8 January 2027, at 09:00 and 13:00 UTC."""
    return [_slot(day, hour, engineers) for day in range(4, 9) for hour in (9, 13)]


def _plan(candidates, **loads):
    return plan_cloud(candidates, earliest=EARLIEST, deadline=DEADLINE, buffer=BUFFER, **loads)


def test_the_planner_gives_engineers_a_balanced_count():
    candidates = [Candidates(deployment_id=pk, zone="UTC", slots=_week()) for pk in range(1, 7)]

    plan = _plan(candidates)

    engineers = [proposal.engineer_id for proposal in plan.values()]
    assert sorted(engineers.count(pk) for pk in (1, 2)) == [3, 3]


def test_the_planner_spreads_windows_over_days():
    candidates = [Candidates(deployment_id=pk, zone="UTC", slots=_week()) for pk in range(1, 6)]

    plan = _plan(candidates)

    assert len({proposal.slot.start.date() for proposal in plan.values()}) == 5


def test_the_planner_counts_what_is_already_booked():
    candidates = [Candidates(deployment_id=1, zone="UTC", slots=_week())]

    week = (2027, 1)
    plan = _plan(candidates, engineer_load={(1, week): 4, (2, week): 1}, day_load={date(2027, 1, 4): 2})

    assert plan[1].engineer_id == 2
    assert plan[1].slot.start.date() == date(2027, 1, 5)


def test_a_busy_half_year_does_not_push_an_upgrade_months_out():
    # Engineer 1 is free in the first week and busy much later; engineer 2 only in March.
    early, late = _slot(4, 9, (1,)), _slot(8, 9, (2,), month=3)

    plan = _plan([Candidates(deployment_id=1, zone="UTC", slots=[early, late])], engineer_load={(1, (2027, 20)): 3})

    assert (plan[1].slot, plan[1].engineer_id) == (early, 1)


def test_the_planner_keeps_to_support_hours_the_notice_and_the_deadline():
    too_early = _slot(3, 9, month=1)
    out_of_hours = _slot(5, 2, standard=False)
    too_late = _slot(30, 23, month=4, minutes=120)  # ends after the deadline
    fine = _slot(20, 9, month=2)
    candidates = [
        Candidates(deployment_id=1, zone="UTC", slots=[too_early, out_of_hours, too_late, fine]),
        Candidates(deployment_id=2, zone="UTC", slots=[too_early, out_of_hours, too_late]),
    ]

    plan = _plan(candidates)

    assert plan[1].slot == fine
    assert plan[2] is None


def test_the_planner_never_gives_one_engineer_overlapping_windows():
    # One engineer, one day: 09:00 and 09:30 overlap, 10:15 is inside the buffer, 11:00 is free.
    slots = [_slot(4, 9, (7,)), Slot(start=datetime(2027, 1, 4, 9, 30, tzinfo=UTC), end=datetime(2027, 1, 4, 10, 30, tzinfo=UTC),
                                    engineer_ids=(7,), standard=True, low_usage=False),
             Slot(start=datetime(2027, 1, 4, 10, 15, tzinfo=UTC), end=datetime(2027, 1, 4, 11, 15, tzinfo=UTC),
                  engineer_ids=(7,), standard=True, low_usage=False),
             _slot(4, 11, (7,))]
    candidates = [Candidates(deployment_id=pk, zone="UTC", slots=slots) for pk in (1, 2)]

    plan = _plan(candidates)

    assert sorted(proposal.slot.start.hour for proposal in plan.values()) == [9, 11]


def test_the_planner_prefers_the_customers_quiet_hours():
    slots = [_slot(4, 9), _slot(4, 13, low_usage=True)]

    plan = _plan([Candidates(deployment_id=1, zone="UTC", slots=slots)])

    assert plan[1].slot.low_usage


def test_the_planner_serves_the_most_constrained_deployment_first():
    only_monday = [_slot(4, 9, (1,))]
    candidates = [Candidates(deployment_id=1, zone="UTC", slots=[_slot(4, 9, (1,)), _slot(5, 9, (1,))]),
                  Candidates(deployment_id=2, zone="UTC", slots=only_monday)]

    plan = _plan(candidates)

    assert plan[2].slot == only_monday[0]
    assert plan[1].slot.start.day == 5


def test_the_plan_is_the_same_whatever_the_order_of_its_inputs():
    candidates = [Candidates(deployment_id=pk, zone="Australia/Sydney", slots=_week((1, 2, 3))) for pk in range(1, 9)]
    shuffled = candidates[:]
    random.Random(7).shuffle(shuffled)

    assert _plan(candidates) == _plan(shuffled)


def test_six_months_after_the_end_of_august_is_the_end_of_february():
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert add_months(date(2027, 8, 31), 6) == date(2028, 2, 29)
    assert plan_deadline(release_date=date(2026, 11, 3), months=6, zone="Australia/Sydney") == datetime(
        2027, 5, 3, tzinfo=SYDNEY
    )


# The service, on the demo world: Fabrikam Health is hosted on the cloud (Sydney) -------------


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _second_deployment(fabrikam) -> Deployment:
    return DeploymentFactory(organisation=fabrikam, name="Research", cloudpaging_version="9.5.0",
                             openjdk_version="17.0.12", tomcat_version="9.0.91", server_groups=1)


def test_support_plans_each_cloud_deployment_once(frozen, support, release, fabrikam):
    first = cloud.cloud_plan_release(release=release, by=support)
    again = cloud.cloud_plan_release(release=release, by=support)

    (window,) = first.planned
    assert (again.planned, again.unplanned) == ([], [])
    assert MaintenanceWindow.objects.count() == 1
    upgrade = window.request
    assert (upgrade.deployment.organisation, upgrade.state, upgrade.kind, upgrade.from_version) == (
        fabrikam, RequestState.APPROVED, UpgradeKind.MAJOR, "9.4.2"
    )
    assert upgrade.timeline.filter(action="cloud_planned", actor=support).exists()
    assert (window.state, window.cover) == (WindowState.PROPOSED, Cover.STANDARD)
    # At least the notice and a day ahead, within 6 months of 3 November 2026, in Sydney's hours.
    assert window.start >= NOW + timedelta(days=15)
    assert window.end <= datetime(2027, 5, 3, tzinfo=SYDNEY)
    local = window.start.astimezone(SYDNEY)
    assert local.weekday() < 5 and 8 <= local.hour and window.end.astimezone(SYDNEY).hour < 18


def test_on_premises_customers_are_not_planned(frozen, support, release, northwind_deployment):
    cloud.cloud_plan_release(release=release, by=support)

    assert not UpgradeRequest.objects.filter(deployment__organisation__hosting="on_premises").exists()


def test_two_cloud_deployments_are_spread_over_days(frozen, support, release, fabrikam):
    _second_deployment(fabrikam)

    plan = cloud.cloud_plan_release(release=release, by=support)

    assert len(plan.planned) == 2
    days = {window.start.astimezone(SYDNEY).date() for window in plan.planned}
    assert len(days) == 2
    minor = next(window for window in plan.planned if window.request.deployment.name == "Research")
    assert minor.request.kind == UpgradeKind.MAJOR and minor.request.from_version == "9.5.0"


def test_a_deployment_already_on_the_release_is_left_alone(frozen, support, release, fabrikam):
    Deployment.objects.filter(organisation=fabrikam).update(cloudpaging_version="10.0.0")

    plan = cloud.cloud_plan_release(release=release, by=support)

    assert (plan.planned, plan.unplanned) == ([], [])


def test_a_deployment_with_another_open_request_is_reported_not_planned(frozen, support, fabrikam, world):
    older = Release.objects.get(version="9.5.0")
    deployment = Deployment.objects.get(organisation=fabrikam)
    UpgradeRequestFactory(deployment=deployment, release=older, requested_by=support, state=RequestState.SUBMITTED)

    plan = cloud.cloud_plan_release(release=Release.objects.get(version="10.0.0"), by=support)

    assert plan.planned == []
    assert "open upgrade request to 9.5.0" in plan.unplanned[0][1]


def test_a_draft_release_cannot_be_planned(frozen, support, world):
    with pytest.raises(WorkflowError, match="Publish the release first"):
        cloud.cloud_plan_release(release=Release.objects.get(version="10.1.0"), by=support)


def test_only_the_support_desk_plans(frozen, engineer, release):
    with pytest.raises(PermissionDenied):
        cloud.cloud_plan_release(release=release, by=engineer)


def test_a_cloud_window_less_than_14_days_away_cannot_be_confirmed(frozen, support, release):
    (window,) = cloud.cloud_plan_release(release=release, by=support).planned
    frozen.move_to(window.start - timedelta(days=13))

    with pytest.raises(WorkflowError, match="at least 14 days ahead"):
        window_confirm(window=window, by=support)

    window.refresh_from_db()
    assert (window.state, window.confirmed_at) == (WindowState.PROPOSED, None)


@each_day
def test_on_any_day_the_plan_keeps_two_weeks_notice_and_sydneys_support_hours(day, support, release, fabrikam):
    now = timezone.now()
    Release.objects.filter(pk=release.pk).update(release_date=(now - timedelta(weeks=3)).date())
    release.refresh_from_db()

    (window,) = cloud.cloud_plan_release(release=release, by=support).planned

    assert window.start >= now + timedelta(days=15)
    start, end = window.start.astimezone(SYDNEY), window.end.astimezone(SYDNEY)
    assert start.date() not in holidays.country_holidays("AU", subdiv="NSW", years=start.year)
    assert start.weekday() < 5 and time(8) <= start.time() and end.time() <= time(18) and end.date() == start.date()
    with time_machine.travel(window.start - timedelta(days=13), tick=False):
        with pytest.raises(WorkflowError, match="at least 14 days ahead"):
            window_confirm(window=window, by=support)
    window_confirm(window=window, by=support)
    assert cloud.cloud_notices_enqueue() == fabrikam.contacts.count()


def test_a_cloud_customer_books_nothing(frozen, support, release, fabrikam_lead):
    (window,) = cloud.cloud_plan_release(release=release, by=support).planned

    with pytest.raises(WorkflowError, match="planned by the vendor"):
        link_issue(upgrade=window.request, by=support)
    with pytest.raises(WorkflowError, match="planned by the vendor"):
        window_book(upgrade=window.request, start=window.start + timedelta(days=1), engineer_ids=[window.engineer_id],
                    cover=Cover.STANDARD, by=fabrikam_lead)


# Support's page ---------------------------------------------------------------------------


def _url(version="10.0.0") -> str:
    return reverse("cloud-plan", args=[version])


def test_support_plans_from_the_page_and_sees_the_proposal(frozen, client_for, support, release):
    client = client_for(support)

    response = client.post(_url(), {"action": "plan"}, follow=True)

    window = MaintenanceWindow.objects.get()
    page = response.content.decode()
    assert response.status_code == 200
    assert "Proposed 1 window" in page
    assert "Fabrikam Health" in page and window.engineer.full_name in page
    assert window.start.astimezone(SYDNEY).strftime("%H:%M") in page  # the customer's clock
    assert window.start.strftime("%H:%M") in page  # and UTC


def test_support_confirms_a_proposal_from_the_page(frozen, client_for, support, release):
    (window,) = cloud.cloud_plan_release(release=release, by=support).planned

    response = client_for(support).post(_url(), {"action": "confirm", "window": window.pk})

    assert response.status_code == 302
    window.refresh_from_db()
    assert (window.state, window.confirmed_by) == (WindowState.CONFIRMED, support)


def test_the_page_says_why_a_late_confirmation_is_refused(frozen, client_for, support, release):
    (window,) = cloud.cloud_plan_release(release=release, by=support).planned
    frozen.move_to(window.start - timedelta(days=10))

    response = client_for(support).post(_url(), {"action": "confirm", "window": window.pk})

    assert response.status_code == 409
    assert "at least 14 days ahead" in response.content.decode()
    window.refresh_from_db()
    assert window.state == WindowState.PROPOSED


def test_support_confirms_all_proposals_at_once(frozen, client_for, support, release, fabrikam):
    _second_deployment(fabrikam)
    cloud.cloud_plan_release(release=release, by=support)

    response = client_for(support).post(_url(), {"action": "confirm_all"}, follow=True)

    assert "Confirmed 2 windows" in response.content.decode()
    assert set(MaintenanceWindow.objects.values_list("state", flat=True)) == {WindowState.CONFIRMED}


def test_support_moves_a_proposal_to_another_free_slot(frozen, client_for, support, release):
    (window,) = cloud.cloud_plan_release(release=release, by=support).planned
    client = client_for(support)
    later = window.start.astimezone(SYDNEY).date() + timedelta(days=21)

    page = client.get(_url(), {"move": window.pk, "from": later.isoformat()})
    target = cloud.move_slots(window=window, week_of=later)[3]
    response = client.post(_url(), {"action": "move", "window": window.pk, "start": target.start.isoformat()})

    assert page.status_code == 200 and target.start.isoformat() in page.content.decode()
    assert response.status_code == 302
    moved = MaintenanceWindow.objects.get()
    assert (moved.pk, moved.start, moved.state, moved.sequence) == (window.pk, target.start, WindowState.PROPOSED, 1)


def test_a_move_closer_than_the_notice_is_refused(frozen, client_for, support, release):
    (window,) = cloud.cloud_plan_release(release=release, by=support).planned
    soon = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)  # Wednesday 10:00 in Sydney, 7 days ahead

    response = client_for(support).post(_url(), {"action": "move", "window": window.pk, "start": soon.isoformat()})

    assert response.status_code == 409
    assert "14 days' notice" in response.content.decode()
    assert MaintenanceWindow.objects.get().start == window.start


@pytest.mark.parametrize("data", [
    {"action": "move", "window": "1", "start": "next tuesday"},
    {"action": "confirm", "window": "not-a-window"},
    {"action": "launch"},
])
def test_the_page_refuses_bad_input(frozen, client_for, support, release, data):
    response = client_for(support).post(_url(), data)

    assert response.status_code == 400
    assert not MaintenanceWindow.objects.exists()


def test_the_page_refuses_the_wrong_method(client_for, support, release):
    assert client_for(support).put(_url()).status_code == 405


def test_customers_do_not_see_the_plan(client_for, customer, fabrikam_lead, release):
    assert client_for(customer).get(_url()).status_code == 404
    assert client_for(fabrikam_lead).post(_url(), {"action": "plan"}).status_code == 404
    assert not MaintenanceWindow.objects.exists()


def test_an_engineer_sees_the_plan_but_does_not_change_it(frozen, client_for, engineer, release):
    client = client_for(engineer)

    assert client.get(_url()).status_code == 200
    assert client.post(_url(), {"action": "plan"}).status_code == 403
    assert not MaintenanceWindow.objects.exists()


def test_an_unknown_release_is_not_found(client_for, support, world):
    assert client_for(support).get(_url("99.0")).status_code == 404


# The cloud customer's view ----------------------------------------------------------------


def test_the_cloud_customer_sees_the_plan_on_their_upgrades(frozen, client_for, support, release, fabrikam_lead):
    (window,) = cloud.cloud_plan_release(release=release, by=support).planned
    client = client_for(fabrikam_lead)

    listed = client.get(reverse("request-list")).content.decode()
    detail = client.get(reverse("request-detail", args=[window.request.pk])).content.decode()

    local = window.start.astimezone(SYDNEY)
    for page in (listed, detail):
        assert "Your service is hosted on our cloud" in page
        assert f"{local:%H:%M}" in page and "Australia/Sydney" in page
        assert "Proposed" in page
        assert "Service downtime from about" in page  # S6: a major upgrade's downtime
    assert "Book the maintenance window" not in detail


def test_another_customer_does_not_see_the_cloud_plan(frozen, client_for, support, release, customer):
    cloud.cloud_plan_release(release=release, by=support)

    assert "Your cloud upgrade plan" not in client_for(customer).get(reverse("request-list")).content.decode()
