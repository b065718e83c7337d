"""Free slots for a maintenance window: pure functions, UTC inside, time zones at the edges.

`free_slots(query, engineers)` lists every start on the customer's grid at which at least one
engineer can take the whole window, in order of start. A window is offered when

- it lies wholly inside the query's horizon (for instance now + notice .. now + 90 days);
- an engineer works all of it by their own weekly hours in their own zone (spans on
  consecutive days join across midnight) and none of their busy intervals overlaps it (time
  off, holidays of their home region, existing windows widened by the buffer between windows);
- none of the query's closed intervals overlaps it (holidays and closures of the customer's
  support region, the customer's blackouts, vendor-wide blackouts).

Each slot names every engineer free for it. It is *standard* when it lies wholly inside the
business hours of the customer's support region, otherwise *out-of-hours*: still offered,
covered by an engineer in another time zone, and confirmed by support (S7). It is *low-usage*
when it lies wholly inside the hours the customer stated as their quietest.

Starts fall on a grid (15 minutes by default; a whole number of minutes that divides a day) by
the clock of `grid_zone`, the customer's: 09:00, 09:15 local, also in zones at +05:30. On the
day the clocks change, a grid time the clock skips has no start (nothing is lost: the instant
after 01:45 on a 15-minute grid in New York on 8 March 2026 is shown as 03:00), and a grid time
the clock shows twice gives a start at each of its two instants. How working hours meet
daylight saving is told in `scheduling.calendars`.

Time is counted in whole seconds: busy and closed intervals are widened to the second, the
horizon is narrowed to it.

`in_zone(slot, zone)` presents a slot by the clock of any zone: the customer's, the engineer's.
"""

import math
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import NamedTuple
from zoneinfo import ZoneInfo

from scheduling.calendars import (
    DAY,
    Interval,
    Seconds,
    WeeklyHours,
    ceil_seconds,
    floor_seconds,
    offset_pieces,
    outward,
    tz_of,
    without,
)

__all__ = ["EngineerCalendar", "Interval", "Slot", "SlotQuery", "WeeklyHours", "free_slots", "in_zone"]



@dataclass(frozen=True)
class EngineerCalendar:
    """What the engine knows of one engineer: a snapshot, read once per calendar."""

    engineer_id: int
    hours: WeeklyHours
    # Time off, home-region holidays, existing windows (already widened by the buffer).
    busy: Sequence[Interval] = ()

    @cached_property
    def busy_seconds(self) -> list[Seconds]:
        """The busy time widened to whole seconds and merged: the same for every query."""
        return outward(self.busy)


@dataclass(frozen=True, kw_only=True)
class SlotQuery:
    horizon: Interval
    # The whole window: servers x 10 minutes plus the preparation buffer (S6).
    length: timedelta
    support_hours: WeeklyHours
    grid: timedelta = timedelta(minutes=15)
    grid_zone: str = "UTC"
    closed: Sequence[Interval] = ()
    low_usage: WeeklyHours | None = None

    def __post_init__(self) -> None:
        if self.length <= timedelta(0):
            raise ValueError("A window must last some time.")
        grid = self.grid.total_seconds()
        if grid <= 0 or grid % 60 or DAY % grid:
            raise ValueError(f"The grid must be a whole number of minutes that divides a day, not {self.grid}.")
        tz_of(self.grid_zone)


class Slot(NamedTuple):
    """A free start. A named tuple rather than a frozen dataclass: as immutable (answers are kept
    and shared, `scheduling.slot_cache`), and made in a third of the time, which counts when a
    90-day horizon holds thousands."""

    start: datetime
    end: datetime
    engineer_ids: tuple[int, ...]
    standard: bool
    low_usage: bool


def free_slots(query: SlotQuery, engineers: Sequence[EngineerCalendar]) -> list[Slot]:
    """The free slots for `query`, in order of start.

    1. The horizon, narrowed to whole seconds; the closed time, widened to them and merged.
    2. The grid starts whose window fits the horizon, by the clock of the grid zone.
    3. For each engineer once, their free time: working hours within the horizon, minus the
       closed time and their busy time. In each free stretch the window fits in, the grid
       starts whose whole window lies inside it form one run of indices: note where the
       engineer's run begins and ends.
    4. Sweep the starts from one such boundary to the next, where the set of free engineers
       holds still: one slot for each start with a free engineer, marked standard and
       low-usage by whether the window lies wholly inside the support hours and the low-usage
       hours (it never meets closed time, so "inside the support hours minus the closures" is
       the same).
    """
    ids = [engineer.engineer_id for engineer in engineers]
    if len(set(ids)) != len(ids):
        raise ValueError("Each engineer can have only one calendar.")
    low, high = ceil_seconds(query.horizon.start), floor_seconds(query.horizon.end)
    length = math.ceil(query.length.total_seconds())
    closed = outward(query.closed)

    starts = grid_starts(tz_of(query.grid_zone), int(query.grid.total_seconds()), low, high - length)
    # Where each engineer becomes free (+1) and stops being free (-1), as indices of `starts`.
    changes: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for engineer in engineers:
        free = without(without(engineer.hours.seconds(low, high), closed), engineer.busy_seconds)
        for free_start, free_end in free:
            first, last = bisect_left(starts, free_start), bisect_right(starts, free_end - length)
            if first < last:
                changes[first].append((engineer.engineer_id, 1))
                changes[last].append((engineer.engineer_id, -1))

    support = query.support_hours.seconds(low, high)
    quiet = query.low_usage.seconds(low, high) if query.low_usage else []
    support_starts, quiet_starts = _starts(support), _starts(quiet)
    duration = timedelta(seconds=length)
    slots = []
    # Free stretches of one engineer may end and begin at the same index: count, not flag.
    free_count: dict[int, int] = {}
    boundaries = sorted(changes)
    for boundary, following in zip(boundaries, [*boundaries[1:], len(starts)]):
        for engineer_id, change in changes[boundary]:
            count = free_count.get(engineer_id, 0) + change
            if count:
                free_count[engineer_id] = count
            else:
                del free_count[engineer_id]
        engineer_ids = tuple(sorted(free_count))
        if not engineer_ids:
            continue
        # The innermost loop, once per slot: whether the window lies wholly inside one support
        # (low-usage) span is the last span starting at or before it; its end is the start plus
        # the length (the same instant in UTC).
        for start in starts[boundary:following]:
            end = start + length
            inside = bisect_right(support_starts, start) - 1
            quiet_inside = bisect_right(quiet_starts, start) - 1
            begins = datetime.fromtimestamp(start, UTC)
            slots.append(Slot(
                begins, begins + duration, engineer_ids,
                inside >= 0 and end <= support[inside][1],
                quiet_inside >= 0 and end <= quiet[quiet_inside][1],
            ))
    return slots


def in_zone(slot: Slot, zone: str) -> tuple[datetime, datetime]:
    """The slot's start and end by the clock of `zone`: the same instants, with `fold` set in a
    repeated hour so that each local time still names one instant."""
    tz = tz_of(zone)
    return slot.start.astimezone(tz), slot.end.astimezone(tz)


def grid_starts(zone: ZoneInfo, grid: int, first: int, last: int) -> list[int]:
    """The instants in `[first, last]` whose local time in `zone` is on a grid of `grid`
    seconds counted from local midnight."""
    starts: list[int] = []
    if last < first:
        return starts
    for piece_start, piece_end, offset in offset_pieces(zone, first, last + 1):
        # Within a piece local time is UTC + offset, and the grid divides a day, so a start is
        # an instant whose local reading counts a whole number of grids since the epoch.
        start = piece_start + (-(piece_start + offset)) % grid
        starts.extend(range(start, piece_end, grid))
    return starts


def _starts(pairs: Sequence[Seconds]) -> list[int]:
    return [start for start, _ in pairs]
