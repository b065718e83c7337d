"""The days the date-sensitive stories run on, so that the suite passes on any day of the year.

Each is the next such day after the real today (this module is read before any test travels),
so it is always in the future: browser cookies and real subprocesses do not travel in time.
A story runs on a day at 00:30 by that day's clock, before the clocks change that night.

- `friday`: the next Friday (the next working day is a Monday);
- `weekend`: the next Saturday;
- `london-dst`, `sydney-dst`: the next day the clocks change in London, in Sydney;
- `new-years-eve`: the next 31 December (the horizon crosses the year);
- `bank-holiday`: the next public holiday in England (Northwind's support region).

`each_day` runs a test on each of them; `pytest.mark.day(FRIDAY)` runs a test (or a module) on
one. `PORTAL_TEST_TODAY` (a name above or a date) runs the whole suite as if today were that day.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest

LONDON, SYDNEY = "Europe/London", "Australia/Sydney"
TODAY = date.today()


@dataclass(frozen=True)
class Day:
    name: str
    date: date
    zone: str = LONDON

    def at(self, hour: int = 0, minute: int = 30) -> datetime:
        """The fixed hour of the day, by its own clock."""
        return datetime.combine(self.date, time(hour, minute), ZoneInfo(self.zone))

    def __str__(self) -> str:
        return f"{self.name} ({self.date:%A %d %B %Y})"


def _days_after(today: date):
    return (today + timedelta(days=n) for n in range(1, 2 * 366))


def next_weekday(today: date, weekday: int) -> date:
    return next(day for day in _days_after(today) if day.weekday() == weekday)


def next_clock_change(today: date, zone: str) -> date:
    """The next day whose midnight and next midnight differ in their offset from UTC."""
    tz = ZoneInfo(zone)

    def offset(day: date) -> timedelta:
        return datetime.combine(day, time(0), tz).utcoffset()

    return next(day for day in _days_after(today) if offset(day) != offset(day + timedelta(days=1)))


def next_public_holiday(today: date, country: str = "GB", subdivision: str = "ENG") -> date:
    calendar = holidays.country_holidays(country, subdiv=subdivision, years=[today.year, today.year + 1])
    return min(day for day in calendar if day > today)


def next_new_years_eve(today: date) -> date:
    eve = date(today.year, 12, 31)
    return eve if eve > today else date(today.year + 1, 12, 31)


FRIDAY = Day("friday", next_weekday(TODAY, 4))
WEEKEND = Day("weekend", next_weekday(TODAY, 5))
LONDON_DST = Day("london-dst", next_clock_change(TODAY, LONDON))
SYDNEY_DST = Day("sydney-dst", next_clock_change(TODAY, SYDNEY), SYDNEY)
NEW_YEARS_EVE = Day("new-years-eve", next_new_years_eve(TODAY))
BANK_HOLIDAY = Day("bank-holiday", next_public_holiday(TODAY))
DAYS = [FRIDAY, WEEKEND, LONDON_DST, SYDNEY_DST, NEW_YEARS_EVE, BANK_HOLIDAY]

each_day = pytest.mark.parametrize("day", DAYS, ids=[day.name for day in DAYS])


def day_named(value: str) -> Day:
    """A day of `DAYS` by name, or any date (YYYY-MM-DD) as a day of London's clock."""
    for day in DAYS:
        if day.name == value:
            return day
    try:
        return Day(value, date.fromisoformat(value))
    except ValueError:
        names = ", ".join(day.name for day in DAYS)
        raise ValueError(f"PORTAL_TEST_TODAY={value!r} is neither a date (YYYY-MM-DD) nor one of {names}") from None
