"""The calendar as an upgrade request's page and API ask for it (upgrades.booking): scheduling
imports upgrades, so upgrades reach this through `settings.UPGRADE_BOOKING`."""

from datetime import datetime, timedelta

from portal.models import User
from portal.workflow import WorkflowError
from scheduling import selectors
from scheduling.choices import Purpose
from scheduling.services import links
from scheduling.services.booking import SlotNotFree, SlotTaken, slot_book
from scheduling.slots import Slot
from upgrades.models import UpgradeRequest


def check_slots(*, upgrade: UpgradeRequest, within: timedelta) -> list[Slot]:
    return selectors.slots_for(upgrade=upgrade, purpose=Purpose.CHECK, within=within)


def check_book(*, upgrade: UpgradeRequest, start: datetime, by: User, not_free: str) -> None:
    """Book the check on the free slot at `start`; the booking moves the request itself."""
    try:
        slot_book(upgrade=upgrade, start=start, purpose=Purpose.CHECK, by=by)
    except SlotNotFree:
        raise WorkflowError(not_free) from None
    except SlotTaken as taken:
        raise WorkflowError(str(taken)) from None


def link_issue(*, upgrade: UpgradeRequest, by: User) -> None:
    links.link_issue(upgrade=upgrade, by=by)
