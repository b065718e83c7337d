"""The cloud plan (S3) as pure functions: which free slot each cloud deployment's upgrade gets.

The vendor upgrades its cloud customers itself, within CLOUD_PLAN_MONTHS of the release date,
inside the customer's support hours (S7), with at least CLOUD_NOTICE_DAYS' notice. Support
adjusts and confirms what `plan_cloud` proposes; the database still decides each booking.

`plan_cloud(candidates, earliest=, deadline=, buffer=)`:

1. Each deployment's candidates are narrowed to *standard* slots lying wholly between
   `earliest` (the notice plus a day, so support has time to confirm) and `deadline`.
2. The most constrained deployment goes first (fewest candidate pairs, then its id), so that
   one with little choice is not crowded out by one with plenty.
3. For each, among the (slot, free engineer) pairs that do not meet what this plan already
   gave that engineer (the buffer between windows included), take the least by: the engineer's
   windows in that week so far, the windows on that local day so far, a low-usage slot before
   another (the process document recommends upgrading when usage is lowest), the earlier
   start, the lower engineer id. So the load is balanced over engineers week by week and
   spread over days, and an upgrade is not pushed months out just because one engineer is
   busier over the whole half-year; the same inputs always give the same plan.
4. A deployment with no pair left has no proposal (None): support plans it by hand.
"""

import calendar
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scheduling.slots import Slot


@dataclass(frozen=True)
class Candidates:
    """The free slots of one deployment's window, and the zone its customer counts days in."""

    deployment_id: int
    zone: str
    slots: Sequence[Slot]


@dataclass(frozen=True)
class Proposal:
    deployment_id: int
    slot: Slot
    engineer_id: int


Week = tuple[int, int]


def week_of(moment: datetime) -> Week:
    """The ISO (year, week) of an instant, counted in UTC: engineers' load is balanced per week."""
    return moment.astimezone(ZoneInfo("UTC")).isocalendar()[:2]


@dataclass
class _Load:
    """What the plan (and the bookings already there) put on engineers (per week) and days."""

    engineers: Counter = field(default_factory=Counter)
    days: Counter = field(default_factory=Counter)
    held: dict[int, list[tuple[datetime, datetime]]] = field(default_factory=dict)

    def clashes(self, engineer_id: int, slot: Slot, buffer: timedelta) -> bool:
        return any(
            slot.start < end + buffer and start < slot.end + buffer for start, end in self.held.get(engineer_id, ())
        )

    def take(self, proposal: Proposal, day: date) -> None:
        self.engineers[(proposal.engineer_id, week_of(proposal.slot.start))] += 1
        self.days[day] += 1
        self.held.setdefault(proposal.engineer_id, []).append((proposal.slot.start, proposal.slot.end))


def add_months(day: date, months: int) -> date:
    """The same day `months` later; the month's last day when it is shorter (31 August + 6
    months is 28 or 29 February)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def plan_deadline(*, release_date: date, months: int, zone: str) -> datetime:
    """S3: the upgrade is done before the start of the day `months` after the release, by the
    customer's clock."""
    return datetime.combine(add_months(release_date, months), time(0), tzinfo=ZoneInfo(zone))


def plan_cloud(candidates: Sequence[Candidates], *, earliest: datetime, deadline: datetime, buffer: timedelta,
               engineer_load: Mapping[tuple[int, Week], int] | None = None,
               day_load: Mapping[date, int] | None = None) -> dict[int, Proposal | None]:
    """A proposal (or None) per deployment id. `engineer_load` ((engineer id, week) -> count)
    and `day_load` count the windows already booked, so a second plan keeps balancing where
    the first one stopped."""
    load = _Load(engineers=Counter(engineer_load or {}), days=Counter(day_load or {}))
    usable = {
        entry.deployment_id: [
            slot for slot in entry.slots if slot.standard and slot.start >= earliest and slot.end <= deadline
        ]
        for entry in candidates
    }
    zones = {entry.deployment_id: ZoneInfo(entry.zone) for entry in candidates}
    order = sorted(usable, key=lambda pk: (sum(len(slot.engineer_ids) for slot in usable[pk]), pk))
    plan: dict[int, Proposal | None] = {}
    for deployment_id in order:
        zone = zones[deployment_id]
        best, best_key = None, None
        for slot in usable[deployment_id]:
            day = slot.start.astimezone(zone).date()
            for engineer_id in slot.engineer_ids:
                key = (load.engineers[(engineer_id, week_of(slot.start))], load.days[day], not slot.low_usage,
                       slot.start, engineer_id)
                if (best_key is None or key < best_key) and not load.clashes(engineer_id, slot, buffer):
                    best, best_key = Proposal(deployment_id, slot, engineer_id), key
        plan[deployment_id] = best
        if best is not None:
            load.take(best, best.slot.start.astimezone(zone).date())
    return plan
