"""How fast the slot engine lists one customer's free slots over a 90-day horizon.

Run as `.venv/bin/python -m bench.slots` from the project's directory. Pure computation: no
database, no Django.

1. Build the world: 4 support regions (London, New York, Sydney, Singapore) with business
   hours and their public holidays (the `holidays` package); 25 engineers in those regions on
   realistic weekly hours (standard, early, late, split, four long days, weekend cover), each
   busy on their home region's holidays and some time off; 3,000 existing windows placed
   inside the engineers' hours without overlapping, each widened by the buffer between
   windows.
2. Build the customers' queries: a support region, a time zone of their own for the grid,
   a 40 to 60-minute window (3 to 5 servers x 10 minutes plus a 10-minute preparation
   buffer), the region's holidays, vendor-wide and customer blackouts, low-usage hours.
3. Time `free_slots` for each query (a few untimed first; the world built before is frozen out
   of the garbage collector's sight, as the web server freezes what it loaded), print a summary
   and, as the last line, one JSON object with the figures.
"""

import argparse
import gc
import json
import random
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

import holidays

from bench.harness import progress
from scheduling.slots import EngineerCalendar, Interval, SlotQuery, WeeklyHours, free_slots

TARGET_P95_MS = 30.0
NOW = datetime(2026, 3, 2, 9, 7, tzinfo=UTC)  # a Monday; London and New York change clocks in March
HORIZON = Interval(NOW, NOW + timedelta(days=90))
WINDOWS = 3_000
BUFFER = timedelta(minutes=15)
WEEKDAYS = range(5)


@dataclass(frozen=True)
class Region:
    name: str
    zone: str
    country: str
    subdivision: str | None
    engineers: int
    customer_zones: tuple[str, ...]
    opens: clock = clock(8)
    closes: clock = clock(18)


REGIONS = [
    Region(
        "Europe", "Europe/London", "GB", "ENG", 8,
        ("Europe/London", "Europe/Berlin", "Europe/Paris", "Europe/Dublin"),
    ),
    Region(
        "Americas", "America/New_York", "US", None, 7,
        ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Toronto"),
    ),
    Region(
        "Australia", "Australia/Sydney", "AU", "NSW", 5,
        ("Australia/Sydney", "Australia/Melbourne", "Australia/Brisbane", "Pacific/Auckland"),
    ),
    Region(
        "Asia", "Asia/Singapore", "SG", None, 5,
        ("Asia/Singapore", "Asia/Kolkata", "Asia/Tokyo", "Asia/Hong_Kong"), opens=clock(9),
    ),
]  # fmt: skip

# Weekly hours engineers keep: (days, spans) in their own zone.
SHIFTS = [
    (WEEKDAYS, [(clock(9), clock(17, 30))]),
    (WEEKDAYS, [(clock(7), clock(15, 30))]),
    (WEEKDAYS, [(clock(11), clock(19, 30))]),
    (WEEKDAYS, [(clock(8), clock(12)), (clock(13), clock(17))]),
    (range(4), [(clock(8), clock(18, 30))]),
    (range(1, 6), [(clock(9), clock(17, 30))]),  # Tuesday to Saturday: weekend cover
]


def region_holidays(region: Region) -> list[date]:
    years = range(HORIZON.start.year, HORIZON.end.year + 1)
    return sorted(holidays.country_holidays(region.country, subdiv=region.subdivision, years=years))


def local_days(zone: str, first: date, count: int = 1) -> Interval:
    tz = ZoneInfo(zone)
    start = datetime.combine(first, clock(0), tz)
    return Interval(start, datetime.combine(first + timedelta(days=count), clock(0), tz))


def horizon_days() -> list[date]:
    return [(HORIZON.start + timedelta(days=n)).date() for n in range((HORIZON.end - HORIZON.start).days)]


def engineers(rng: random.Random) -> tuple[list[EngineerCalendar], dict[str, int]]:
    """The engineers with their holidays and time off as busy time, and then the existing
    windows, widened by the buffer, spread over them."""
    calendars = []
    counts = {"holidays": 0, "time_off": 0, "windows": 0}
    engineer_id = 0
    for region in REGIONS:
        days_off = [day for day in region_holidays(region) if day in set(horizon_days())]
        for _ in range(region.engineers):
            engineer_id += 1
            days, spans = SHIFTS[engineer_id % len(SHIFTS)]
            hours = WeeklyHours(region.zone, {day: spans for day in days})
            busy = [local_days(region.zone, day) for day in days_off]
            leave = rng.choice(horizon_days())
            busy.append(local_days(region.zone, leave, rng.randint(3, 10)))
            busy.extend(local_days(region.zone, rng.choice(horizon_days())) for _ in range(2))
            counts["holidays"] += len(days_off)
            counts["time_off"] += 3
            calendars.append(EngineerCalendar(engineer_id, hours, busy))

    booked: dict[int, list[Interval]] = {calendar.engineer_id: [] for calendar in calendars}
    working = {calendar.engineer_id: calendar.hours.intervals(HORIZON.start, HORIZON.end) for calendar in calendars}
    while counts["windows"] < WINDOWS:
        calendar = rng.choice(calendars)
        stretch = rng.choice(working[calendar.engineer_id])
        length = timedelta(minutes=10 * rng.randint(3, 8) + 10)
        quarters = int((stretch.end - stretch.start - length) / timedelta(minutes=15))
        if quarters < 0:
            continue
        start = stretch.start + timedelta(minutes=15 * rng.randint(0, quarters))
        window = Interval(start - BUFFER, start + length + BUFFER)
        taken = [*calendar.busy, *booked[calendar.engineer_id]]
        if any(other.start < window.end and window.start < other.end for other in taken):
            continue
        booked[calendar.engineer_id].append(window)
        counts["windows"] += 1
    calendars = [
        EngineerCalendar(calendar.engineer_id, calendar.hours, [*calendar.busy, *booked[calendar.engineer_id]])
        for calendar in calendars
    ]
    return calendars, counts


def queries(rng: random.Random, count: int) -> list[SlotQuery]:
    """One query per customer."""
    freezes = [local_days("UTC", date(2026, 3, 30), 3), local_days("UTC", date(2026, 5, 11), 2)]
    found = []
    for _ in range(count):
        region = rng.choice(REGIONS)
        zone = rng.choice(region.customer_zones)
        closed = [local_days(region.zone, day) for day in region_holidays(region)] + freezes
        closed.extend(local_days(zone, rng.choice(horizon_days()), rng.randint(1, 5)) for _ in range(rng.randint(0, 3)))
        quiet = {day: [(clock(6), clock(8)), (clock(18), clock(22))] for day in WEEKDAYS}
        quiet |= {weekend_day: [(clock(0), clock(0))] for weekend_day in (5, 6)}
        found.append(
            SlotQuery(
                horizon=HORIZON,
                length=timedelta(minutes=10 * rng.randint(3, 5) + 10),
                grid_zone=zone,
                support_hours=WeeklyHours(region.zone, {day: [(region.opens, region.closes)] for day in WEEKDAYS}),
                closed=closed,
                low_usage=WeeklyHours(zone, quiet),
            )
        )
    return found


def percentile(times: list[float], share: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=300, help="timed queries, one per customer (default 300)")
    parser.add_argument("--warm-up", type=int, default=5, help="untimed queries before them (default 5)")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the random world (default 2026)")
    options = parser.parse_args()
    rng = random.Random(options.seed)

    staff = sum(region.engineers for region in REGIONS)
    progress(f"building {staff} engineers, their holidays, time off and {WINDOWS:,} windows")
    calendars, counts = engineers(rng)
    busy = sum(len(calendar.busy) for calendar in calendars)
    asked = queries(rng, options.warm_up + options.queries)

    # The world lives for the whole bench, as what a web process loaded before it forked does:
    # out of the garbage collector's sight there too (portal/web.py), so a full collection walks
    # only what the queries made.
    gc.freeze()
    progress(f"timing {options.queries} queries")
    for query in asked[: options.warm_up]:
        free_slots(query, calendars)
    times_ms, offered, standard, low_usage = [], [], [], []
    for query in asked[options.warm_up :]:
        started = time.perf_counter()
        slots = free_slots(query, calendars)
        times_ms.append((time.perf_counter() - started) * 1000)
        offered.append(len(slots))
        standard.append(sum(slot.standard for slot in slots))
        low_usage.append(sum(slot.low_usage for slot in slots))

    p50, p95 = percentile(times_ms, 0.5), percentile(times_ms, 0.95)
    print(
        "\n".join(
            [
                f"Free slots over {(HORIZON.end - HORIZON.start).days} days from {HORIZON.start:%Y-%m-%d %H:%M} UTC",
                f"Engineers: {len(calendars)} in {len(REGIONS)} regions; busy intervals: {busy:,} "
                f"({counts['windows']:,} windows with {BUFFER.seconds // 60}-minute buffers, "
                f"{counts['holidays']} engineer-days of public holidays, {counts['time_off']} stretches of time off)",
                f"Queries: {options.queries} customers, 40-60 minute windows on a 15-minute grid in their own zone",
                f"Slots per query: median {statistics.median(offered):,.0f} "
                f"(standard {statistics.median(standard):,.0f}, low-usage {statistics.median(low_usage):,.0f})",
                "",
                f"p50 {p50:.1f} ms   p95 {p95:.1f} ms   max {max(times_ms):.1f} ms   "
                f"target p95 < {TARGET_P95_MS:.0f} ms: {'ok' if p95 < TARGET_P95_MS else 'MISSED'}",
            ]
        )
    )
    print(
        json.dumps(
            {
                "p50_ms": round(p50, 1),
                "p95_ms": round(p95, 1),
                "within_target": p95 < TARGET_P95_MS,
                "target_p95_ms": TARGET_P95_MS,
                "slots_per_query": round(statistics.median(offered)),
                "standard_per_query": round(statistics.median(standard)),
                "queries": options.queries,
                "horizon_days": (HORIZON.end - HORIZON.start).days,
                "engineers": len(calendars),
                "regions": len(REGIONS),
                "windows": counts["windows"],
                "busy_intervals": busy,
                "engineer_holiday_days": counts["holidays"],
                "time_off": counts["time_off"],
            }
        )
    )


if __name__ == "__main__":
    main()
