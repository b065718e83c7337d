"""The calendar as an upgrade request's page and API ask for it (upgrades.booking): scheduling
imports upgrades, so upgrades reach this through `settings.UPGRADE_BOOKING`."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

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


def check_calendar(*, upgrade: UpgradeRequest, within: timedelta, zone: str, week: int) -> dict:
    """The free check slots as a week grid (the customer's booking page's, seven days a page
    from the first free slot), hours by `zone` (the support person's), the first free start of
    each hour with its time on the customer's clock, and the engineers free in these days.
    Plain data: upgrades renders it."""
    slots = check_slots(upgrade=upgrade, within=within)
    customer_zone = upgrade.deployment.organisation.time_zone
    tz, customer_tz = ZoneInfo(zone), ZoneInfo(customer_zone)
    grid = {"zone": zone, "customer_zone": customer_zone, "both": zone != customer_zone, "weeks": 0, "rows": []}
    if not slots:
        return grid
    names = dict(User.objects.filter(pk__in={pk for slot in slots for pk in slot.engineer_ids})
                 .values_list("pk", "full_name"))
    local = [(slot, slot.start.astimezone(tz)) for slot in slots]
    first = local[0][1].date()
    weeks = (local[-1][1].date() - first).days // 7 + 1
    week = min(max(week, 0), weeks - 1)
    days: list[date] = [first + timedelta(days=7 * week + offset) for offset in range(7)]
    cells: dict[tuple[int, date], list] = {}
    for slot, start in local:
        if days[0] <= start.date() <= days[-1]:
            # The first free start of each hour: a check is an appointment, and a side column
            # has room for one time a cell.
            cells.setdefault((start.hour, start.date()), [{
                "slot": slot, "start": start, "customer_start": slot.start.astimezone(customer_tz),
            }])
    hours = sorted({hour for hour, _ in cells})
    return grid | {
        "week": week, "weeks": weeks, "days": days, "engineers": ", ".join(sorted(names.values())),
        "rows": [(f"{hour:02d}:00", [cells.get((hour, day), []) for day in days]) for hour in hours],
    }


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
