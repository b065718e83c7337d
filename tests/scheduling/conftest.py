import pytest

from tests.scheduling.stories import approve


@pytest.fixture
def approved(customer, northwind_deployment, release):
    """Northwind's upgrade to 10.0.0, approved: a window can be booked for it."""
    return approve(northwind_deployment, by=customer, release=release)
