"""The scheduling API says no before it says anything else: someone else's request is 404 in
every filter, and a customer asking to book the prerequisite check is refused before any slot is
looked at, so refusals tell nobody when the vendor's engineers are free."""

from datetime import timedelta

import pytest
from django.utils import timezone

from scheduling.models import MaintenanceWindow
from upgrades.services import requests

API = "/api/v1"


@pytest.fixture
def in_review(customer, support, northwind_deployment, release):
    upgrade = requests.request_create(deployment=northwind_deployment, release=release, by=customer)
    requests.request_submit(upgrade=upgrade, by=customer)
    return requests.request_assign(upgrade=upgrade, by=support)


def test_windows_of_someone_elses_request_are_a_404_like_the_other_filters(client_for, outsider, in_review):
    answer = client_for(outsider).get(f"{API}/windows/?request={in_review.pk}")

    assert answer.status_code == 404


@pytest.mark.parametrize("hours", [24 * 3, 24 * 3 + 0.1, 24 * 400])
def test_a_customer_asking_for_the_check_is_refused_before_any_slot_is_looked_at(client_for, customer, in_review,
                                                                                hours):
    start = (timezone.now() + timedelta(hours=hours)).replace(microsecond=0)

    answer = client_for(customer).post(f"{API}/requests/{in_review.pk}/schedule-check/", {"start": start.isoformat()},
                                       content_type="application/json")

    assert answer.status_code == 403
    assert not MaintenanceWindow.objects.filter(request=in_review).exists()
