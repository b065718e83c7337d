"""The status page's world: Northwind's page switched on, its upgrade's window booked for START."""

from datetime import timedelta

import pytest

from scheduling.choices import Cover
from scheduling.services.booking import window_book
from scheduling.services.status import status_page_save
from tests.scheduling.status_world import START


@pytest.fixture
def status_page(customer, northwind_deployment):
    return status_page_save(deployment=northwind_deployment, by=customer, service_name="AppsAnywhere", enabled=True)


@pytest.fixture
def status_window(approved, customer, engineer):
    return window_book(upgrade=approved, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)


@pytest.fixture
def ten_days_before(time_machine):
    """The clock stopped ten days before the window."""
    time_machine.move_to(START - timedelta(days=10), tick=False)
