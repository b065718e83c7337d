"""A booked window's life: support confirms out-of-hours requests (S7), the customer moves or
cancels up to the cut-off, support at any time; a cloud window is confirmed only with 14 days'
notice (S3); the prerequisite check is booked on the same engine (S2). Every move is logged."""

from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from django.core.exceptions import PermissionDenied

from portal.choices import Hosting
from scheduling.choices import Cover, Purpose, WindowState
from scheduling.models import LowUsageHours, MaintenanceWindow
from scheduling.selectors import slots_for
from scheduling.services.booking import SlotTaken, check_book, window_book
from scheduling.services.windows import customer_may_change, window_cancel, window_confirm, window_reschedule
from tests.factories import MaintenanceWindowFactory, UpgradeRequestFactory
from upgrades.choices import RequestState
from upgrades.workflow import WorkflowError

START = datetime(2027, 3, 9, 10, 0, tzinfo=timezone.utc)
LATER = START + timedelta(days=1)


def _book(approved, engineer, customer, cover=Cover.STANDARD, start=START) -> MaintenanceWindow:
    return window_book(upgrade=approved, start=start, engineer_ids=[engineer.pk], cover=cover, by=customer)


def _actions(request) -> list[str]:
    return list(request.timeline.filter(action__startswith="window_").values_list("action", flat=True))


def test_support_confirms_an_out_of_hours_request(approved, engineer, customer, support):
    window = _book(approved, engineer, customer, cover=Cover.OUT_OF_HOURS)
    assert window.state == WindowState.REQUESTED

    window = window_confirm(window=window, by=support)

    assert window.state == WindowState.CONFIRMED
    assert (window.confirmed_by, window.confirmed_at is not None) == (support, True)
    assert _actions(approved) == ["window_booked", "window_confirmed"]


def test_a_customer_cannot_confirm_their_own_out_of_hours_request(approved, engineer, customer):
    window = _book(approved, engineer, customer, cover=Cover.OUT_OF_HOURS)

    with pytest.raises(PermissionDenied):
        window_confirm(window=window, by=customer)
    assert MaintenanceWindow.objects.get(pk=window.pk).state == WindowState.REQUESTED


def test_confirming_twice_says_it_is_already_confirmed_and_changes_nothing(approved, engineer, customer, support):
    window = _book(approved, engineer, customer, cover=Cover.OUT_OF_HOURS)
    window_confirm(window=window, by=support)

    with pytest.raises(WorkflowError, match="confirmed: it cannot be confirmed now"):
        window_confirm(window=window, by=support)
    assert _actions(approved).count("window_confirmed") == 1


@time_machine.travel(START - timedelta(days=10), tick=False)
def test_the_customer_reschedules_and_the_calendar_entry_keeps_its_uid(approved, engineer, customer):
    window = _book(approved, engineer, customer)
    uid, sequence = window.uid, window.sequence

    moved = window_reschedule(window=window, start=LATER, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)

    assert moved.pk == window.pk and moved.uid == uid and moved.sequence == sequence + 1
    assert moved.start == LATER and moved.state == WindowState.CONFIRMED
    assert moved.downtime.lower == LATER + timedelta(minutes=20)
    assert MaintenanceWindow.objects.filter(request=approved).count() == 1
    assert _actions(approved) == ["window_booked", "window_rescheduled"]


@time_machine.travel(START - timedelta(days=10), tick=False)
def test_a_move_to_out_of_hours_needs_support_again(approved, engineer, customer):
    window = _book(approved, engineer, customer)

    moved = window_reschedule(window=window, start=LATER, engineer_ids=[engineer.pk], cover=Cover.OUT_OF_HOURS, by=customer)

    assert moved.state == WindowState.REQUESTED


@time_machine.travel(START - timedelta(days=10), tick=False)
def test_a_move_onto_a_taken_slot_is_refused_and_the_window_stays(approved, engineer, customer, support, release):
    window = _book(approved, engineer, customer)
    other = UpgradeRequestFactory(
        approved=True, deployment__organisation=approved.deployment.organisation, deployment__name="Second campus",
        deployment__unbalanced=True, release=release, requested_by=customer,
    )
    window_book(upgrade=other, start=LATER, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=support)

    with pytest.raises(SlotTaken, match="just taken"):
        window_reschedule(window=window, start=LATER, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)

    window.refresh_from_db()
    assert (window.start, window.sequence) == (START, 0)


@time_machine.travel(START - timedelta(hours=47), tick=False)
def test_the_customer_cannot_change_the_window_after_the_cut_off(approved, engineer, customer, support):
    window = _book(approved, engineer, customer)
    assert not customer_may_change(window)

    with pytest.raises(WorkflowError, match="less than 48 hours"):
        window_cancel(window=window, by=customer, reason="Exams moved")
    with pytest.raises(WorkflowError, match="less than 48 hours"):
        window_reschedule(window=window, start=LATER, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)
    assert MaintenanceWindow.objects.get(pk=window.pk).state == WindowState.CONFIRMED

    # Support may, at any time.
    window_cancel(window=window, by=support, reason="The customer called: exams moved")
    assert MaintenanceWindow.objects.get(pk=window.pk).state == WindowState.CANCELLED


@time_machine.travel(START - timedelta(days=10), tick=False)
def test_a_cancellation_needs_a_reason_and_frees_the_engineer(approved, engineer, customer):
    window = _book(approved, engineer, customer)
    assert customer_may_change(window)

    with pytest.raises(WorkflowError, match="Say why"):
        window_cancel(window=window, by=customer, reason="  ")
    cancelled = window_cancel(window=window, by=customer, reason="Exams moved")

    assert cancelled.state == WindowState.CANCELLED and cancelled.cancel_reason == "Exams moved"
    assert cancelled.sequence == 1  # a CANCEL carries a higher SEQUENCE than the invite
    # The engineer's time is free again: the same slot can be booked anew.
    again = _book(approved, engineer, customer)
    assert again.pk != window.pk and again.state == WindowState.CONFIRMED


@time_machine.travel(START - timedelta(days=10), tick=False)
def test_an_outsider_cannot_touch_the_window(approved, engineer, customer, outsider):
    window = _book(approved, engineer, customer)

    with pytest.raises(PermissionDenied):
        window_cancel(window=window, by=outsider, reason="Not mine")
    with pytest.raises(PermissionDenied):
        window_reschedule(window=window, start=LATER, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=outsider)


@pytest.fixture
def cloud_window(approved, engineer, support) -> MaintenanceWindow:
    organisation = approved.deployment.organisation
    organisation.hosting = Hosting.CLOUD
    organisation.save()
    return MaintenanceWindowFactory(proposed=True, request=approved, engineer=engineer, booked_by=support, start=START)


def test_a_cloud_customer_cannot_book(approved, engineer, customer):
    organisation = approved.deployment.organisation
    organisation.hosting = Hosting.CLOUD
    organisation.save()

    with pytest.raises(WorkflowError, match="planned by the vendor"):
        _book(approved, engineer, customer)
    assert not MaintenanceWindow.objects.exists()


@time_machine.travel(START - timedelta(days=13), tick=False)
def test_a_cloud_window_less_than_14_days_away_cannot_be_confirmed(cloud_window, support):
    with pytest.raises(WorkflowError, match="at least 14 days ahead"):
        window_confirm(window=cloud_window, by=support)
    assert MaintenanceWindow.objects.get(pk=cloud_window.pk).state == WindowState.PROPOSED


@time_machine.travel(START - timedelta(days=15), tick=False)
def test_a_cloud_window_with_two_weeks_notice_is_confirmed(cloud_window, support, customer, engineer):
    window = window_confirm(window=cloud_window, by=support)
    assert window.state == WindowState.CONFIRMED

    # The customer of a cloud deployment is told, not asked: they cannot move it.
    with pytest.raises(WorkflowError, match="cloud team"):
        window_reschedule(window=window, start=LATER, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)
    # Nor can support move a confirmed cloud window to less than 14 days away.
    with pytest.raises(WorkflowError, match="at least 14 days ahead"):
        window_reschedule(
            window=window, start=START - timedelta(days=2), engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=support
        )


@time_machine.travel(START - timedelta(days=5), tick=False)
def test_support_books_the_prerequisite_check_on_a_free_slot(in_review, engineer, support):
    slot = next(slot for slot in slots_for(upgrade=in_review, purpose=Purpose.CHECK) if slot.standard)
    assert slot.end - slot.start == timedelta(minutes=60)

    check = check_book(upgrade=in_review, start=slot.start, engineer_ids=list(slot.engineer_ids), by=support)

    in_review.refresh_from_db()
    assert in_review.state == RequestState.CHECK_SCHEDULED
    assert (in_review.check_at, in_review.check_engineer_id) == (check.start, check.engineer_id)
    assert check.purpose == Purpose.CHECK and check.state == WindowState.CONFIRMED
    # The check holds the engineer's time: that slot is not offered again.
    assert slot.start not in {s.start for s in slots_for(upgrade=in_review, purpose=Purpose.CHECK)
                              if check.engineer_id in s.engineer_ids}


@time_machine.travel(START - timedelta(days=5), tick=False)
def test_booking_the_check_again_moves_it(in_review, engineer, support):
    first, second = [slot for slot in slots_for(upgrade=in_review, purpose=Purpose.CHECK) if slot.standard][:2]
    check_book(upgrade=in_review, start=first.start, engineer_ids=list(first.engineer_ids), by=support)

    check_book(upgrade=in_review, start=second.start, engineer_ids=list(second.engineer_ids), by=support)

    checks = MaintenanceWindow.objects.filter(request=in_review, purpose=Purpose.CHECK)
    assert sorted(checks.values_list("state", flat=True)) == [WindowState.CANCELLED, WindowState.CONFIRMED]
    in_review.refresh_from_db()
    assert in_review.check_at == second.start


def test_a_customer_cannot_book_the_check(in_review, engineer, customer):
    with pytest.raises(PermissionDenied):
        check_book(upgrade=in_review, start=START, engineer_ids=[engineer.pk], by=customer)


@time_machine.travel(START - timedelta(days=5), tick=False)
def test_slots_in_the_customers_low_usage_hours_are_marked(approved, northwind):
    # Northwind's users are quietest early in the morning, by Northwind's clock.
    from datetime import time

    for weekday in range(5):
        LowUsageHours.objects.create(organisation=northwind, weekday=weekday, starts=time(6), ends=time(9))

    slots = slots_for(upgrade=approved)

    from zoneinfo import ZoneInfo

    zone = ZoneInfo(northwind.time_zone)
    quiet = [slot for slot in slots if slot.low_usage]
    assert quiet
    for slot in slots:
        start, end = slot.start.astimezone(zone), slot.end.astimezone(zone)
        inside = start.weekday() < 5 and start.time() >= time(6) and end.date() == start.date() and end.time() <= time(9)
        assert slot.low_usage == inside


@time_machine.travel(START - timedelta(days=10), tick=False)
def test_an_upgrade_with_a_booked_window_is_not_withdrawn_until_the_window_is_cancelled(approved, engineer, customer):
    from upgrades.services.requests import request_withdraw

    window = _book(approved, engineer, customer)

    with pytest.raises(WorkflowError, match="cancel the window first"):
        request_withdraw(upgrade=approved, by=customer, reason="Postponed")
    approved.refresh_from_db()
    assert approved.state == RequestState.APPROVED

    window_cancel(window=window, by=customer, reason="Postponed")
    request_withdraw(upgrade=approved, by=customer, reason="Postponed")
    approved.refresh_from_db()
    assert approved.state == RequestState.WITHDRAWN


def test_a_cloud_customer_cannot_withdraw_the_vendors_plan(approved, customer):
    from upgrades.services.requests import request_withdraw

    organisation = approved.deployment.organisation
    organisation.hosting = Hosting.CLOUD
    organisation.save()

    with pytest.raises(WorkflowError, match="planned by the vendor"):
        request_withdraw(upgrade=approved, by=customer, reason="No")
    approved.refresh_from_db()
    assert approved.state == RequestState.APPROVED


@time_machine.travel(START - timedelta(days=5), tick=False)
def test_a_slot_looked_up_by_its_start_is_the_one_the_slot_list_offers(approved, engineer, customer, release):
    """slot_at looks at the window's own time only; it must agree with the whole list."""
    from scheduling.selectors import slot_at

    _book(approved, engineer, customer, start=START + timedelta(days=2))  # some busy time in the way
    other = UpgradeRequestFactory(
        approved=True, deployment__organisation=approved.deployment.organisation, deployment__name="Second campus",
        deployment__unbalanced=True, release=release, requested_by=customer,
    )
    offered = {slot.start: slot for slot in slots_for(upgrade=other)}
    grid = sorted(offered)
    # The horizon's edges, a sample of the grid, and every start around the busy window.
    starts = [grid[0] - timedelta(minutes=15), grid[0], *grid[::97], grid[-1], grid[-1] + timedelta(minutes=15)]
    starts += [START + timedelta(days=2, minutes=minutes) for minutes in range(-120, 180, 15)]
    for start in starts:
        assert slot_at(upgrade=other, start=start) == offered.get(start), start


@time_machine.travel(START - timedelta(days=10), tick=False)
def test_an_approved_upgrade_with_a_booked_window_is_not_reopened_until_the_window_is_cancelled(
        approved, engineer, customer, support):
    from upgrades.services.requests import request_reopen

    window = _book(approved, engineer, customer)

    with pytest.raises(WorkflowError, match="cancel the window first"):
        request_reopen(upgrade=approved, by=support, reason="The customer changed their load balancer")
    approved.refresh_from_db()
    assert approved.state == RequestState.APPROVED

    window_cancel(window=window, by=support, reason="The load balancer changes first")
    request_reopen(upgrade=approved, by=support, reason="The customer changed their load balancer")
    approved.refresh_from_db()
    assert approved.state == RequestState.IN_REVIEW
