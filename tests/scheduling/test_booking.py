"""Booking a window: only after approval (S8), never twice for one engineer's time, whatever
the race (a real PostgreSQL exclusion constraint decides)."""

import threading
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection

from portal.models import Deployment, Server
from scheduling.choices import Cover, WindowState
from scheduling.models import MaintenanceWindow
from scheduling.services.booking import SlotTaken, window_book
from upgrades.choices import RequestState
from upgrades.models import UpgradeRequest
from upgrades.services import requests
from upgrades.workflow import WorkflowError

START = datetime(2027, 3, 9, 10, 0, tzinfo=timezone.utc)


def _approved(deployment, *, by, release) -> UpgradeRequest:
    """An approved request, made directly: the approval path has tests of its own."""
    return UpgradeRequest.objects.create(
        deployment=deployment, release=release, from_version=deployment.cloudpaging_version, kind=release.kind,
        requested_by=by, state=RequestState.APPROVED,
    )


def _deployments(northwind, count: int) -> list[Deployment]:
    deployments = []
    for number in range(count):
        deployment = Deployment.objects.create(
            organisation=northwind, name=f"Campus {number}", cloudpaging_version="9.4.2", openjdk_version="17.0.10",
            tomcat_version="9.0.85", load_balancer_vendor="F5", health_checks=True,
        )
        for role in ("admin_license", "stream"):
            Server.objects.create(deployment=deployment, role=role, hostname=f"{role}-{number}", address="127.0.0.1", driver="lab")
        deployments.append(deployment)
    return deployments


def test_a_request_that_is_not_approved_cannot_be_booked(customer, engineer, northwind_deployment, release):
    draft = requests.request_create(deployment=northwind_deployment, release=release, by=customer)

    with pytest.raises(WorkflowError, match="not approved yet"):
        window_book(request=draft, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)
    assert not MaintenanceWindow.objects.exists()


def test_a_booking_plans_the_window_from_the_upgrade(customer, engineer, northwind_deployment, release):
    approved = _approved(northwind_deployment, by=customer, release=release)

    window = window_book(request=approved, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)

    # 15 minutes of preparation, then 4 servers x 10 minutes at risk; major: downtime 5 minutes in, 15 long.
    assert (window.period.lower, window.period.upper) == (START, START + timedelta(minutes=55))
    assert (window.downtime.lower, window.downtime.upper) == (START + timedelta(minutes=20), START + timedelta(minutes=35))
    assert window.state == WindowState.CONFIRMED


def test_an_out_of_hours_booking_waits_for_support(customer, engineer, northwind_deployment, release):
    approved = _approved(northwind_deployment, by=customer, release=release)

    window = window_book(request=approved, start=START, engineer_ids=[engineer.pk], cover=Cover.OUT_OF_HOURS, by=customer)

    assert window.state == WindowState.REQUESTED


def test_an_outsider_cannot_book_another_customers_upgrade(customer, outsider, engineer, northwind_deployment, release):
    from django.core.exceptions import PermissionDenied

    approved = _approved(northwind_deployment, by=customer, release=release)

    with pytest.raises(PermissionDenied):
        window_book(request=approved, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=outsider)


def test_the_second_engineer_takes_a_slot_the_first_lost(customer, engineer, northwind, release):
    from portal.models import User

    other = User.objects.get(email="engineer.apac@vendor.example")
    first, second, third = (_approved(d, by=customer, release=release) for d in _deployments(northwind, 3))

    one = window_book(request=first, start=START, engineer_ids=[engineer.pk, other.pk], cover=Cover.STANDARD, by=customer)
    two = window_book(request=second, start=START, engineer_ids=[engineer.pk, other.pk], cover=Cover.STANDARD, by=customer)

    assert {one.engineer_id, two.engineer_id} == {engineer.pk, other.pk}
    with pytest.raises(SlotTaken):  # both are busy then, buffers included
        window_book(request=third, start=START + timedelta(minutes=30), engineer_ids=[engineer.pk, other.pk],
                    cover=Cover.STANDARD, by=customer)


def _race(targets):
    """Run every target at the same moment, each in a thread with its own connection."""
    barrier = threading.Barrier(len(targets))
    results: list = [None] * len(targets)

    def run(index, target):
        try:
            barrier.wait()
            results[index] = target()
        except Exception as error:  # noqa: BLE001 - the outcome is what the test reads
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, target)) for index, target in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_many_customers_booking_one_slot_at_once_get_one_window(world, customer, engineer, northwind, release):
    contenders = [_approved(d, by=customer, release=release) for d in _deployments(northwind, 12)]

    results = _race([
        (lambda request=request: window_book(
            request=request, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer))
        for request in contenders
    ])

    assert MaintenanceWindow.objects.count() == 1
    assert sum(isinstance(result, MaintenanceWindow) for result in results) == 1
    assert sum(isinstance(result, SlotTaken) for result in results) == len(contenders) - 1, results


@pytest.mark.django_db(transaction=True)
def test_a_double_click_books_once(world, customer, engineer, northwind_deployment, release):
    approved = _approved(northwind_deployment, by=customer, release=release)

    results = _race([
        lambda: window_book(request=approved, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)
        for _ in range(2)
    ])

    assert MaintenanceWindow.objects.count() == 1
    assert results[0].pk == results[1].pk
