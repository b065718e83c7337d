import pytest

from tests.factories import UpgradeRequestFactory
from tests.scheduling.stories import approve


@pytest.fixture
def approved(customer, northwind_deployment, release):
    """Northwind's upgrade to 10.0.0, approved: a window can be booked for it."""
    return approve(northwind_deployment, by=customer, release=release)


@pytest.fixture
def in_review(customer, support, northwind_deployment, release):
    """Northwind's upgrade to 10.0.0 in support's review: its prerequisite check can be booked."""
    return UpgradeRequestFactory(in_review=True, deployment=northwind_deployment, release=release,
                                 requested_by=customer, assignee=support)
