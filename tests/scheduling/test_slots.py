"""The slot engine (`scheduling.slots`): worked examples, then properties that Hypothesis checks
against a brute-force reference which reads each zone's clock minute by minute.

Pure functions: no database.
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduling.slots import EngineerCalendar, Interval, Slot, SlotQuery, WeeklyHours, free_slots, in_zone
from tests.dates import each_day

LONDON, NEW_YORK, SYDNEY = "Europe/London", "America/New_York", "Australia/Sydney"
KOLKATA, SINGAPORE = "Asia/Kolkata", "Asia/Singapore"
# The days the clocks change in 2026 and 2027.
TRANSITIONS = {
    LONDON: [date(2026, 3, 29), date(2026, 10, 25), date(2027, 3, 28), date(2027, 10, 31)],
    NEW_YORK: [date(2026, 3, 8), date(2026, 11, 1), date(2027, 3, 14), date(2027, 11, 7)],
    SYDNEY: [date(2026, 4, 5), date(2026, 10, 4), date(2027, 4, 4), date(2027, 10, 3)],
}
MONDAY = date(2026, 6, 1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def at(zone: str, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone), fold=fold)


def office(zone: str, start: time = time(9), end: time = time(17, 30), days: Sequence[int] = range(5)) -> WeeklyHours:
    return WeeklyHours(zone, {day: [(start, end)] for day in days})


def around_the_clock(zone: str) -> WeeklyHours:
    return office(zone, time(0), time(0), range(7))


def one_day(day: date = MONDAY) -> Interval:
    start = datetime.combine(day, time(0), UTC)
    return Interval(start, start + timedelta(days=1))


def query(**changes) -> SlotQuery:
    """A London customer's 40-minute window on Monday 1 June 2026 (UTC), on a 15-minute grid."""
    fields = {
        "horizon": one_day(),
        "length": timedelta(minutes=40),
        "support_hours": office(LONDON),
        "grid_zone": LONDON,
    }
    return SlotQuery(**(fields | changes))


def clock(slots: Sequence[Slot], zone: str) -> list[str]:
    return [in_zone(slot, zone)[0].strftime("%H:%M") for slot in slots]


def quarters(first: str, last: str) -> list[str]:
    start, end = datetime.strptime(first, "%H:%M"), datetime.strptime(last, "%H:%M")
    count = (end - start) // timedelta(minutes=15) + 1
    return [(start + timedelta(minutes=15 * n)).strftime("%H:%M") for n in range(count)]


# -- Worked examples -------------------------------------------------------------------------


def test_a_london_customer_gets_uk_hours_as_standard_and_sydney_hours_as_out_of_hours():
    london, sydney = EngineerCalendar(1, office(LONDON)), EngineerCalendar(2, office(SYDNEY))

    slots = free_slots(query(), [london, sydney])

    standard = [slot for slot in slots if slot.standard]
    out_of_hours = [slot for slot in slots if not slot.standard]
    # 16:45 is the last start whose 40 minutes end by 17:30.
    assert clock(standard, LONDON) == quarters("09:00", "16:45")
    assert {slot.engineer_ids for slot in standard} == {(1,)}
    # Sydney's Monday (10:00-16:45 there, the day began before the horizon) and the first
    # starts of its Tuesday that end before the horizon does.
    assert clock(out_of_hours, SYDNEY) == quarters("10:00", "16:45") + ["09:00", "09:15"]
    assert clock(out_of_hours, LONDON) == quarters("01:00", "07:45") + ["00:00", "00:15"]
    assert {slot.engineer_ids for slot in out_of_hours} == {(2,)}
    assert all(slot.end - slot.start == timedelta(minutes=40) for slot in slots)
    assert [slot.start for slot in slots] == sorted(slot.start for slot in slots)


def test_a_longer_window_ends_the_day_earlier():
    slots = free_slots(query(length=timedelta(minutes=60)), [EngineerCalendar(1, office(LONDON))])

    assert clock(slots, LONDON) == quarters("09:00", "16:30")


def test_no_slot_on_a_bank_holiday():
    bank_holidays = holidays.country_holidays("GB", subdiv="ENG", years=2026)
    assert bank_holidays[date(2026, 5, 25)] == "Spring Bank Holiday"
    closed = [
        Interval(at(LONDON, day.year, day.month, day.day), at(LONDON, day.year, day.month, day.day) + timedelta(days=1))
        for day in bank_holidays
    ]
    horizon = Interval(at(LONDON, 2026, 5, 25), at(LONDON, 2026, 5, 27))
    engineers = [EngineerCalendar(1, office(LONDON)), EngineerCalendar(2, office(SYDNEY))]

    slots = free_slots(query(horizon=horizon, closed=closed), engineers)

    days = {in_zone(slot, LONDON)[0].date() for slot in slots}
    assert days == {date(2026, 5, 26)}
    assert clock([slot for slot in slots if slot.standard], LONDON) == quarters("09:00", "16:45")


def test_a_busy_interval_removes_exactly_the_starts_it_overlaps():
    meeting = Interval(at(LONDON, 2026, 6, 1, 11), at(LONDON, 2026, 6, 1, 12))
    engineers = [EngineerCalendar(1, office(LONDON), busy=[meeting]), EngineerCalendar(3, office(LONDON))]

    slots = free_slots(query(), engineers)

    only_three = [slot for slot in slots if slot.engineer_ids == (3,)]
    # A 40-minute window overlaps 11:00-12:00 when it starts after 10:20 and before 12:00.
    assert clock(only_three, LONDON) == quarters("10:30", "11:45")
    assert len(slots) == len(quarters("09:00", "16:45"))
    assert all(slot.engineer_ids == (1, 3) for slot in slots if slot not in only_three)


def test_a_busy_interval_counts_to_the_second():
    late_finish = Interval(at(LONDON, 2026, 6, 1, 9), datetime(2026, 6, 1, 9, 0, 0, 500_000, ZoneInfo(LONDON)))

    slots = free_slots(query(), [EngineerCalendar(1, office(LONDON), busy=[late_finish])])

    assert clock(slots, LONDON)[0] == "09:15"


def test_slots_wholly_inside_the_customers_quiet_hours_are_marked_low_usage():
    quiet = office(LONDON, time(16), time(17, 30))

    slots = free_slots(query(low_usage=quiet), [EngineerCalendar(1, office(LONDON))])

    assert clock([slot for slot in slots if slot.low_usage], LONDON) == quarters("16:00", "16:45")


def test_starts_fall_on_the_hour_of_a_customer_in_kolkata():
    slots = free_slots(
        query(grid=timedelta(hours=1), grid_zone=KOLKATA, support_hours=office(KOLKATA)),
        [EngineerCalendar(1, office(LONDON))],
    )

    # London's 09:00-17:30 (BST) is 13:30-22:00 in Kolkata (+05:30).
    assert clock(slots, KOLKATA) == [f"{hour}:00" for hour in range(14, 22)]
    assert clock(slots, "UTC") == [f"{hour:02}:30" for hour in range(8, 16)]
    # Kolkata's 09:00-17:30 is 04:30-13:00 in London: only the starts that end by then are standard.
    assert [slot.standard for slot in slots] == [True, True, True, False, False, False, False, False]


def test_a_london_day_keeps_its_local_hours_on_the_days_the_clocks_change():
    engineer = EngineerCalendar(1, office(LONDON, time(9), time(17), range(7)))

    for change in (date(2026, 3, 29), date(2026, 10, 25)):
        day_before, two_days_after = change - timedelta(days=1), change + timedelta(days=2)
        horizon = Interval(at(LONDON, *day_before.timetuple()[:3]), at(LONDON, *two_days_after.timetuple()[:3]))
        slots = free_slots(query(horizon=horizon), [engineer])

        by_day: dict[date, list[str]] = {}
        for slot in slots:
            by_day.setdefault(in_zone(slot, LONDON)[0].date(), []).append(clock([slot], LONDON)[0])
        assert len(by_day) == 3
        assert all(starts == quarters("09:00", "16:15") for starts in by_day.values())
    assert in_zone(slots[0], "UTC")[0] == utc(2026, 10, 24, 8)  # 09:00 BST
    assert in_zone(slots[-1], "UTC")[0] == utc(2026, 10, 26, 16, 15)  # 16:15 GMT


def test_a_grid_time_the_clock_skips_has_no_start_and_no_instant_is_lost():
    horizon = Interval(at(NEW_YORK, 2026, 3, 8), at(NEW_YORK, 2026, 3, 8, 5))

    slots = free_slots(
        query(horizon=horizon, length=timedelta(minutes=30), grid=timedelta(minutes=30), grid_zone=NEW_YORK),
        [EngineerCalendar(1, around_the_clock(NEW_YORK))],
    )

    assert clock(slots, NEW_YORK) == ["00:00", "00:30", "01:00", "01:30", "03:00", "03:30", "04:00", "04:30"]
    assert all(later.start - earlier.start == timedelta(minutes=30) for earlier, later in zip(slots, slots[1:]))


def test_a_grid_time_the_clock_shows_twice_gives_a_start_at_each_instant():
    horizon = Interval(at(NEW_YORK, 2026, 11, 1), at(NEW_YORK, 2026, 11, 1, 3))

    slots = free_slots(
        query(horizon=horizon, length=timedelta(minutes=30), grid=timedelta(minutes=30), grid_zone=NEW_YORK),
        [EngineerCalendar(1, around_the_clock(NEW_YORK))],
    )

    shown = [in_zone(slot, NEW_YORK)[0] for slot in slots]
    assert [start.strftime("%H:%M %Z") for start in shown] == [
        "00:00 EDT", "00:30 EDT", "01:00 EDT", "01:30 EDT", "01:00 EST", "01:30 EST", "02:00 EST", "02:30 EST",
    ]  # fmt: skip
    assert all(later.start - earlier.start == timedelta(minutes=30) for earlier, later in zip(slots, slots[1:]))


@pytest.mark.parametrize(
    "day, span, expected",
    [
        # Spring forward in New York, 8 March 2026: 02:00-03:00 never shows.
        (date(2026, 3, 8), (time(2, 30), time(10)), [(utc(2026, 3, 8, 7), utc(2026, 3, 8, 14))]),
        (date(2026, 3, 8), (time(0), time(2, 30)), [(utc(2026, 3, 8, 5), utc(2026, 3, 8, 7))]),
        (date(2026, 3, 8), (time(2, 10), time(2, 40)), []),
        # Fall back, 1 November 2026: 01:00-02:00 shows twice, first EDT (-4) then EST (-5).
        (date(2026, 11, 1), (time(1, 30), time(10)), [(utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 15))]),
        (date(2026, 11, 1), (time(0), time(1, 30)), [(utc(2026, 11, 1, 4), utc(2026, 11, 1, 6, 30))]),
        (date(2026, 11, 1), (time(0), time(1)), [(utc(2026, 11, 1, 4), utc(2026, 11, 1, 5))]),
        (date(2026, 11, 1), (time(9), time(17)), [(utc(2026, 11, 1, 14), utc(2026, 11, 1, 22))]),
    ],
)
def test_working_hours_on_the_days_the_clocks_change(day, span, expected):
    hours = WeeklyHours(NEW_YORK, {day.weekday(): [span]})

    midnight = at(NEW_YORK, day.year, day.month, day.day)
    intervals = hours.intervals(midnight, midnight + timedelta(hours=23))

    assert [(interval.start, interval.end) for interval in intervals] == expected


def test_a_night_shift_joins_across_midnight():
    hours = WeeklyHours(SYDNEY, {0: [(time(22), time(0))], 1: [(time(0), time(6))]})

    intervals = hours.intervals(at(SYDNEY, 2026, 6, 1), at(SYDNEY, 2026, 6, 3))

    assert intervals == [Interval(at(SYDNEY, 2026, 6, 1, 22), at(SYDNEY, 2026, 6, 2, 6))]


def test_a_window_may_run_through_midnight_in_the_engineers_zone():
    night = EngineerCalendar(7, WeeklyHours(SYDNEY, {0: [(time(22), time(0))], 1: [(time(0), time(6))]}))
    horizon = Interval(at(SYDNEY, 2026, 6, 1), at(SYDNEY, 2026, 6, 3))

    slots = free_slots(query(horizon=horizon, length=timedelta(hours=2)), [night])

    assert clock(slots, SYDNEY) == quarters("22:00", "23:45") + quarters("00:00", "04:00")


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: query(grid=timedelta(minutes=7)), "divides a day"),
        (lambda: query(length=timedelta(0)), "must last"),
        (lambda: query(grid_zone="Mars/Olympus"), "not an IANA time zone"),
        (lambda: Interval(datetime(2026, 6, 1), datetime(2026, 6, 2)), "aware"),
        (lambda: Interval(utc(2026, 6, 2), utc(2026, 6, 1)), "before it starts"),
        (lambda: WeeklyHours(LONDON, {0: [(time(17), time(9))]}), "before it starts"),
        (lambda: WeeklyHours(LONDON, {7: [(time(9), time(17))]}), "Weekdays"),
        (lambda: free_slots(query(), [EngineerCalendar(1, office(LONDON))] * 2), "one calendar"),
    ],
)
def test_it_refuses_bad_input(build, message):
    with pytest.raises(ValueError, match=message):
        build()


# -- The brute-force reference ---------------------------------------------------------------
#
# It counts in minutes since the epoch and reads the clock of each minute from zoneinfo. A span
# covers, on its local day, the stretch from the first to the last minute whose clock reading
# lies within it; a window is free where every one of its minutes is. Everything the
# strategies draw is in whole minutes, so minutes are exact.


def readings(zone: str, low: int, high: int) -> list[int]:
    """The local reading (minutes since the epoch, naive) of each minute in `[low, high)`."""
    tz = ZoneInfo(zone)

    def offset(minute: int) -> int:
        return int(datetime.fromtimestamp(minute * 60, tz).utcoffset().total_seconds()) // 60

    shown = []
    # Offsets change hours apart at the least: read every quarter-hour, and every minute of a
    # quarter in which the offset changed.
    for quarter in range(low, high, 15):
        first, last = offset(quarter), offset(min(quarter + 15, high))
        for minute in range(quarter, min(quarter + 15, high)):
            shown.append(minute + (first if first == last else offset(minute)))
    return shown


def covered_minutes(hours: WeeklyHours, low: int, high: int) -> list[bool]:
    margin = 24 * 60
    spans = {
        day: [(start.hour * 60 + start.minute, end.hour * 60 + end.minute or 24 * 60) for start, end in pairs]
        for day, pairs in hours.spans.items()
    }
    stretch: dict[tuple[int, int], tuple[int, int]] = {}
    for minute, shown in enumerate(readings(hours.zone, low - margin, high + margin), start=low - margin):
        local_day, of_day = divmod(shown, 24 * 60)
        for index, (start, end) in enumerate(spans.get((local_day + 3) % 7, ())):  # 1 January 1970 was a Thursday
            if start <= of_day < end:
                first, last = stretch.get((local_day, index), (minute, minute))
                stretch[local_day, index] = (min(first, minute), max(last, minute))
    covered = [False] * (high - low)
    for first, last in stretch.values():
        for minute in range(max(first, low), min(last + 1, high)):
            covered[minute - low] = True
    return covered


def blocked_minutes(intervals: Sequence[Interval], low: int, high: int) -> list[bool]:
    blocked = [False] * (high - low)
    for interval in intervals:
        for minute in range(max(minutes(interval.start), low), min(minutes(interval.end), high)):
            blocked[minute - low] = True
    return blocked


def minutes(moment: datetime) -> int:
    seconds = int(moment.timestamp())
    assert seconds % 60 == 0, "the strategies draw whole minutes"
    return seconds // 60


class Window:
    """How many minutes of `[start, start + length)` a flag holds, by prefix sums."""

    def __init__(self, flags: list[bool]):
        self.sums = list(accumulate(flags, initial=0))

    def count(self, start: int, length: int) -> int:
        return self.sums[start + length] - self.sums[start]


Expected = tuple[datetime, datetime, tuple[int, ...], bool, bool]


def reference_slots(q: SlotQuery, engineers: Sequence[EngineerCalendar]) -> list[Expected]:
    low, high = minutes(q.horizon.start), minutes(q.horizon.end)
    length, grid = q.length // timedelta(minutes=1), q.grid // timedelta(minutes=1)
    grid_clock = readings(q.grid_zone, low, high)
    closed = Window(blocked_minutes(q.closed, low, high))
    support = Window(covered_minutes(q.support_hours, low, high))
    quiet = Window(covered_minutes(q.low_usage, low, high)) if q.low_usage else Window([False] * (high - low))
    calendars = [
        (
            engineer.engineer_id,
            Window(covered_minutes(engineer.hours, low, high)),
            Window(blocked_minutes(engineer.busy, low, high)),
        )
        for engineer in sorted(engineers, key=lambda engineer: engineer.engineer_id)
    ]
    expected = []
    for offset in range(high - low - length + 1):
        if grid_clock[offset] % grid or closed.count(offset, length):
            continue
        free = tuple(
            engineer_id
            for engineer_id, working, busy in calendars
            if working.count(offset, length) == length and not busy.count(offset, length)
        )
        if free:
            start = datetime.fromtimestamp((low + offset) * 60, UTC)
            standard, low_usage = support.count(offset, length) == length, quiet.count(offset, length) == length
            expected.append((start, start + q.length, free, standard, low_usage))
    return expected


def as_expected(slots: Sequence[Slot]) -> list[Expected]:
    return [(slot.start, slot.end, slot.engineer_ids, slot.standard, slot.low_usage) for slot in slots]


# -- Strategies ------------------------------------------------------------------------------

ZONES = [LONDON, NEW_YORK, SYDNEY, KOLKATA, SINGAPORE]


@st.composite
def clock_times(draw) -> int:
    """Minutes of the day: mostly five-minute steps in the small hours, where clocks change,
    otherwise quarter-hours."""
    if draw(st.integers(0, 3)) == 0:
        return 15 * draw(st.integers(0, 96))
    return 5 * draw(st.integers(0, 4 * 12))


@st.composite
def spans(draw) -> tuple[time, time]:
    start, end = sorted(draw(st.lists(clock_times(), min_size=2, max_size=2, unique=True)))
    return time(*divmod(start, 60)), (time(0) if end == 24 * 60 else time(*divmod(end, 60)))


@st.composite
def weekly_hours(draw, zones: Sequence[str]) -> WeeklyHours:
    zone = draw(st.sampled_from(zones))
    return WeeklyHours(zone, {day: draw(st.lists(spans(), max_size=2)) for day in range(7)})


@st.composite
def stretches(draw, horizon: Interval, *, longest: int, max_size: int) -> list[Interval]:
    found = []
    for _ in range(draw(st.integers(0, max_size))):
        start = horizon.start + draw(some_minutes(-120, (horizon.end - horizon.start) // timedelta(minutes=1)))
        found.append(Interval(start, start + draw(some_minutes(1, longest))))
    return found


def some_minutes(low: int, high: int) -> st.SearchStrategy[timedelta]:
    return st.integers(low, high).map(lambda count: timedelta(minutes=count))


@st.composite
def horizons_near_midnight(draw, days: Sequence[date], zone: str) -> Interval:
    """From up to a day before the local midnight of one of `days`, 6 to 48 hours."""
    start = datetime.combine(draw(st.sampled_from(days)), time(0), ZoneInfo(zone)) - draw(some_minutes(0, 24 * 60))
    return Interval(start, start + draw(some_minutes(6 * 60, 48 * 60)))


@st.composite
def horizons_across_the_change(draw, zone: str) -> Interval:
    """Up to 18 hours either side of the instant the clocks change on one of the zone's days."""
    change = clocks_change(zone, draw(st.sampled_from(TRANSITIONS[zone])))
    return Interval(change - draw(some_minutes(0, 18 * 60)), change + draw(some_minutes(60, 18 * 60)))


def clocks_change(zone: str, day: date) -> datetime:
    """The instant the offset of `zone` changes on `day` (they change on the minute)."""
    tz = ZoneInfo(zone)
    midnight = datetime.combine(day, time(0), tz).astimezone(UTC)
    offsets = [(midnight + timedelta(minutes=minute)).astimezone(tz).utcoffset() for minute in range(12 * 60)]
    return midnight + timedelta(minutes=next(minute for minute in range(12 * 60) if offsets[minute] != offsets[0]))


@st.composite
def worlds(
    draw, horizon: st.SearchStrategy[Interval], zones: Sequence[str]
) -> tuple[SlotQuery, list[EngineerCalendar]]:
    """A query and up to three engineers, their hours and the customer's in `zones`."""
    horizon = draw(horizon)
    engineers = [
        EngineerCalendar(engineer_id, draw(weekly_hours(zones)), draw(stretches(horizon, longest=240, max_size=4)))
        for engineer_id in range(1, draw(st.integers(1, 3)) + 1)
    ]
    q = SlotQuery(
        horizon=horizon,
        length=draw(some_minutes(5, 120)),
        # 90 and 120 minutes: grids a change of one hour moves in UTC.
        grid=timedelta(minutes=draw(st.sampled_from([5, 10, 15, 20, 30, 60, 90, 120]))),
        grid_zone=draw(st.sampled_from(zones)),
        support_hours=draw(weekly_hours(zones)),
        closed=draw(stretches(horizon, longest=600, max_size=2)),
        low_usage=draw(st.none() | weekly_hours(zones)),
    )
    return q, engineers


@st.composite
def worlds_across_the_change(draw) -> tuple[SlotQuery, list[EngineerCalendar]]:
    """A world whose horizon holds a change of the clocks in London, New York or Sydney, and
    whose hours are mostly in that zone."""
    zone = draw(st.sampled_from(list(TRANSITIONS)))
    return draw(worlds(horizons_across_the_change(zone), [zone, zone, zone, KOLKATA, SINGAPORE]))


ANY_DAY_IN_2026 = [date(2026, 1, 1) + timedelta(days=n) for n in range(365)]
bounded = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- Properties ------------------------------------------------------------------------------


def test_the_transition_days_are_the_days_the_clocks_change():
    for zone, days in TRANSITIONS.items():
        for day in days:
            midnight, noon = (datetime.combine(day, moment, ZoneInfo(zone)) for moment in (time(0), time(12)))
            assert midnight.utcoffset() != noon.utcoffset(), (zone, day)


@bounded
@given(worlds(horizons_near_midnight(ANY_DAY_IN_2026, LONDON), ZONES))
def test_each_slot_names_exactly_the_engineers_free_for_it(world):
    q, engineers = world

    assert as_expected(free_slots(q, engineers)) == reference_slots(q, engineers)


@settings(bounded, max_examples=200)
@given(worlds_across_the_change())
def test_the_days_the_clocks_change_neither_shift_drop_nor_duplicate_a_slot(world):
    q, engineers = world

    slots = free_slots(q, engineers)

    assert as_expected(slots) == reference_slots(q, engineers)
    starts = [slot.start for slot in slots]
    assert starts == sorted(set(starts))
    grid = q.grid // timedelta(minutes=1)
    for slot in slots:
        shown = in_zone(slot, q.grid_zone)[0]
        assert (shown.hour * 60 + shown.minute) % grid == 0 and shown.second == 0


@settings(bounded, max_examples=100)
@given(worlds_across_the_change() | worlds(horizons_near_midnight(ANY_DAY_IN_2026, SYDNEY), ZONES))
def test_no_slot_overlaps_busy_or_closed_time_or_leaves_an_engineers_hours(world):
    q, engineers = world
    low, high = minutes(q.horizon.start), minutes(q.horizon.end)
    working = {engineer.engineer_id: Window(covered_minutes(engineer.hours, low, high)) for engineer in engineers}
    busy = {engineer.engineer_id: engineer.busy for engineer in engineers}
    length = q.length // timedelta(minutes=1)

    for slot in free_slots(q, engineers):
        assert q.horizon.start <= slot.start and slot.end <= q.horizon.end
        assert not any(closed.start < slot.end and slot.start < closed.end for closed in q.closed)
        for engineer_id in slot.engineer_ids:
            assert not any(taken.start < slot.end and slot.start < taken.end for taken in busy[engineer_id])
            assert working[engineer_id].count(minutes(slot.start) - low, length) == length


@settings(bounded, max_examples=100)
@given(worlds_across_the_change())
def test_the_customer_and_the_engineer_see_the_same_instant(world):
    q, engineers = world
    zones = {engineer.engineer_id: engineer.hours.zone for engineer in engineers}
    slots = free_slots(q, engineers)

    for slot in slots:
        customer = in_zone(slot, q.grid_zone)
        for engineer_id in slot.engineer_ids:
            engineer = in_zone(slot, zones[engineer_id])
            # Python compares datetimes that share a tzinfo by their clock reading, fold
            # ignored: compare instants.
            assert [moment.timestamp() for moment in customer] == [moment.timestamp() for moment in engineer]
            assert [moment.timestamp() for moment in engineer] == [slot.start.timestamp(), slot.end.timestamp()]
            for shown in (*customer, *engineer):
                # The clock reading and its fold name this instant and no other.
                read_back = shown.replace(tzinfo=None).replace(tzinfo=shown.tzinfo, fold=shown.fold)
                assert read_back.timestamp() == shown.timestamp()
    # Shown with its UTC offset, as the pages do, no two slots read alike in any zone, the
    # two 01:30s of a repeated hour included.
    for zone in {q.grid_zone, *zones.values()}:
        labels = [in_zone(slot, zone)[0].strftime("%Y-%m-%d %H:%M %z") for slot in slots]
        assert len(set(labels)) == len(labels)


# -- On each day of tests.dates: the demo's world, from that night on -------------------------


def _public_holidays(country: str, subdivision: str, zone: str, within: Interval) -> list[Interval]:
    days = holidays.country_holidays(country, subdiv=subdivision, years=range(within.start.year, within.end.year + 1))
    return [Interval(datetime.combine(day, time(0), ZoneInfo(zone)),
                     datetime.combine(day + timedelta(days=1), time(0), ZoneInfo(zone))) for day in days]


@each_day
def test_on_each_day_the_demo_world_gets_exactly_the_reference_slots(day):
    """Northwind's window over the week from the day's 00:30 (on a day the clocks change,
    before they do): the engineers of London and Sydney at their demo hours, each off on their
    home region's holidays; England's holidays closed."""
    start = day.at()
    horizon = Interval(start, start + timedelta(days=7))
    weekdays = range(5)
    engineers = [
        EngineerCalendar(1, office(LONDON, time(7), time(19), weekdays), _public_holidays("GB", "ENG", LONDON, horizon)),
        EngineerCalendar(2, office(SYDNEY, time(7), time(19), weekdays), _public_holidays("AU", "NSW", SYDNEY, horizon)),
    ]
    q = query(horizon=horizon, length=timedelta(minutes=55), support_hours=office(LONDON, time(8), time(18), weekdays),
              closed=_public_holidays("GB", "ENG", LONDON, horizon), low_usage=office(LONDON, time(6), time(9), weekdays))

    slots = free_slots(q, engineers)

    assert as_expected(slots) == reference_slots(q, engineers)
    assert any(slot.standard for slot in slots) and any(not slot.standard for slot in slots)
    england = holidays.country_holidays("GB", subdiv="ENG", years=range(start.year, start.year + 2))
    for slot in slots:
        begins, ends = in_zone(slot, LONDON)
        assert begins.date() not in england
        assert begins.minute % 15 == 0 and horizon.start <= slot.start and slot.end <= horizon.end
        if slot.standard:
            assert begins.weekday() < 5 and time(8) <= begins.time() and ends.time() <= time(18)
