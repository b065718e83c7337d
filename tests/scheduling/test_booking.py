"""Booking a window: only after approval (S8), never twice for one engineer's time, whatever
the race (a real PostgreSQL exclusion constraint decides)."""

from datetime import datetime, timedelta, timezone

import pytest

from scheduling.choices import Cover, WindowState
from scheduling.models import MaintenanceWindow
from scheduling.services.booking import SlotTaken, window_book
from upgrades.services import requests
from upgrades.workflow import WorkflowError

from tests.scheduling.stories import approve, more_deployments, race

START = datetime(2027, 3, 9, 10, 0, tzinfo=timezone.utc)


def test_a_request_that_is_not_approved_cannot_be_booked(customer, engineer, northwind_deployment, release):
    draft = requests.request_create(deployment=northwind_deployment, release=release, by=customer)

    with pytest.raises(WorkflowError, match="not approved yet"):
        window_book(upgrade=draft, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)
    assert not MaintenanceWindow.objects.exists()


def test_a_booking_plans_the_window_from_the_upgrade(customer, engineer, northwind_deployment, release):
    approved = approve(northwind_deployment, by=customer, release=release)

    window = window_book(upgrade=approved, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)

    # 15 minutes of preparation, then 4 servers x 10 minutes at risk; major: downtime 5 minutes in, 15 long.
    assert (window.period.lower, window.period.upper) == (START, START + timedelta(minutes=55))
    assert (window.downtime.lower, window.downtime.upper) == (START + timedelta(minutes=20), START + timedelta(minutes=35))
    assert window.state == WindowState.CONFIRMED


def test_an_out_of_hours_booking_waits_for_support(customer, engineer, northwind_deployment, release):
    approved = approve(northwind_deployment, by=customer, release=release)

    window = window_book(upgrade=approved, start=START, engineer_ids=[engineer.pk], cover=Cover.OUT_OF_HOURS, by=customer)

    assert window.state == WindowState.REQUESTED


def test_an_outsider_cannot_book_another_customers_upgrade(customer, outsider, engineer, northwind_deployment, release):
    from django.core.exceptions import PermissionDenied

    approved = approve(northwind_deployment, by=customer, release=release)

    with pytest.raises(PermissionDenied):
        window_book(upgrade=approved, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=outsider)


def test_the_second_engineer_takes_a_slot_the_first_lost(customer, engineer, northwind, release):
    from portal.models import User

    other = User.objects.get(email="engineer.apac@vendor.example")
    first, second, third = (approve(d, by=customer, release=release) for d in more_deployments(northwind, 3))

    one = window_book(upgrade=first, start=START, engineer_ids=[engineer.pk, other.pk], cover=Cover.STANDARD, by=customer)
    two = window_book(upgrade=second, start=START, engineer_ids=[engineer.pk, other.pk], cover=Cover.STANDARD, by=customer)

    assert {one.engineer_id, two.engineer_id} == {engineer.pk, other.pk}
    with pytest.raises(SlotTaken):  # both are busy then, buffers included
        window_book(upgrade=third, start=START + timedelta(minutes=30), engineer_ids=[engineer.pk, other.pk],
                    cover=Cover.STANDARD, by=customer)


@pytest.mark.django_db(transaction=True)
def test_many_customers_booking_one_slot_at_once_get_one_window(world, customer, engineer, northwind, release):
    contenders = [approve(d, by=customer, release=release) for d in more_deployments(northwind, 12)]

    results = race([
        (lambda request=request: window_book(
            upgrade=request, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer))
        for request in contenders
    ])

    assert MaintenanceWindow.objects.count() == 1
    assert sum(isinstance(result, MaintenanceWindow) for result in results) == 1
    assert sum(isinstance(result, SlotTaken) for result in results) == len(contenders) - 1, results


@pytest.mark.django_db(transaction=True)
def test_a_double_click_books_once(world, customer, engineer, northwind_deployment, release):
    approved = approve(northwind_deployment, by=customer, release=release)

    results = race([
        lambda: window_book(upgrade=approved, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)
        for _ in range(2)
    ])

    assert MaintenanceWindow.objects.count() == 1
    assert results[0].pk == results[1].pk
