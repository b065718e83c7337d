"""What the approval stories share: a request taken through support's desk by the services, as far
as its prerequisite check."""

from datetime import timedelta

from django.utils import timezone

from portal.models import User
from upgrades.choices import ItemState
from upgrades.models import UpgradeRequest
from upgrades.services import checklist, requests


def check_booked(request: UpgradeRequest, *, customer: User, support: User, engineer: User) -> UpgradeRequest:
    """Every required item provided by `customer` and accepted by `support`, who took the request
    in review, and the prerequisite check booked with `engineer` two days ahead."""
    for item in request.items.filter(obsolete=False, required=True, state=ItemState.MISSING):
        checklist.item_provide(item=item, by=customer, text="In place: see our runbook.")
    requests.request_submit(upgrade=request, by=customer)
    requests.request_assign(upgrade=request, by=support)
    for item in request.items.filter(obsolete=False, required=True, state=ItemState.PROVIDED):
        checklist.item_accept(item=item, by=support)
    requests.request_schedule_check(upgrade=request, by=support, at=timezone.now() + timedelta(days=2), engineer=engineer)
    return request
