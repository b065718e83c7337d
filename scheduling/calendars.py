"""Weekly working hours in a time zone, turned into intervals of UTC time.

An `Interval` is a half-open stretch `[start, end)` of aware datetimes in UTC. `WeeklyHours` are
the local spans of each weekday in an IANA zone; `intervals()` gives the UTC intervals they
cover within a range. Arithmetic on many intervals (merging, subtracting) runs on `Seconds`,
pairs of whole seconds since the epoch, which is what the slot engine works in.

Daylight saving: a span covers the smallest stretch of time that holds every instant at which
the local clock shows a time within it on its day. So:

1. On an ordinary day, and on the day the clocks change, 09:00-17:00 is 09:00-17:00 by the
   local clock; only its UTC offset differs.
2. A start or end that the clock skips (spring forward) becomes the instant of the jump: in New
   York on 8 March 2026, 02:30-10:00 starts at 03:00 EDT, and 02:10-02:40 does not exist.
3. A start that the clock shows twice (fall back) is its first occurrence, and an end shown
   twice is its second: the span keeps the whole repeated hour, no working time is dropped.
   An end at the very start of the repeated hour (01:00 in New York) is reached once before
   the clocks go back, so it is the first occurrence.
4. Spans that meet at midnight (Monday 22:00-00:00 and Tuesday 00:00-06:00) join into one.

To apply these rules, a zone's time is cut into pieces over which its UTC offset holds still
(`offset_pieces`: zoneinfo read every six hours, each change found to the second); within a
piece a clock reading is the instant plus the offset, so a reading maps to an instant by
integer arithmetic, and a reading no piece holds is one the clock skips.
"""

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# [start, end) in whole seconds since the epoch, UTC.
Seconds = tuple[int, int]
# [start, end) over which a zone keeps one UTC offset: (start, end, offset), in seconds.
Piece = tuple[int, int, int]

MIDNIGHT = time(0)
DAY = 24 * 60 * 60
# Zones change their UTC offset months apart; reading it this often finds every change.
OFFSET_SAMPLE = 6 * 60 * 60


@dataclass(frozen=True)
class Interval:
    """A half-open stretch of time `[start, end)`; aware datetimes, kept in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("An interval needs time zone-aware datetimes.")
        if self.end < self.start:
            raise ValueError(f"An interval cannot end ({self.end}) before it starts ({self.start}).")
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "end", self.end.astimezone(UTC))


@dataclass(frozen=True)
class WeeklyHours:
    """Local spans per weekday (0 = Monday) in the IANA zone `zone`, e.g.
    `{0: [(time(9), time(17, 30))], ...}`. An end of `time(0)` means the midnight that ends the
    day; any other end must come after its start (a night shift is two spans that meet at
    midnight)."""

    zone: str
    spans: Mapping[int, Sequence[tuple[time, time]]]

    def __post_init__(self) -> None:
        tz_of(self.zone)
        for weekday, spans in self.spans.items():
            if weekday not in range(7):
                raise ValueError(f"Weekdays run from 0 (Monday) to 6 (Sunday), not {weekday!r}.")
            for start, end in spans:
                if start.tzinfo is not None or end.tzinfo is not None:
                    raise ValueError("Working hours are local times without a time zone.")
                if start.microsecond or end.microsecond:
                    raise ValueError("Working hours are whole seconds.")
                if end != MIDNIGHT and end <= start:
                    raise ValueError(f"A span cannot end ({end}) before it starts ({start}).")

    def intervals(self, start: datetime, end: datetime) -> list[Interval]:
        """The UTC intervals these hours cover within `[start, end)`, merged, in order."""
        covered = self.seconds(ceil_seconds(start), floor_seconds(end))
        return [Interval(from_seconds(a), from_seconds(b)) for a, b in covered]

    def seconds(self, low: int, high: int) -> list[Seconds]:
        """`intervals()` in whole seconds since the epoch, within `[low, high)`."""
        pieces = offset_pieces(tz_of(self.zone), low - 2 * DAY, high + 2 * DAY)
        offsets = [offset for _, _, offset in pieces]
        spans = {
            weekday: [(_of_day(start), _of_day(end) or DAY) for start, end in pairs]
            for weekday, pairs in self.spans.items()
        }
        covered = []
        # Days counted by the local clock from 1 January 1970, a Thursday.
        for day in range((low + min(offsets)) // DAY - 1, (high + max(offsets)) // DAY + 1):
            for span_start, span_end in spans.get((day + 3) % 7, ()):
                start = max(low, clock_reaches(day * DAY + span_start, pieces))
                end = min(high, clock_stays_past(day * DAY + span_end, pieces))
                if start < end:
                    covered.append((start, end))
        return merged(covered)


def _of_day(moment: time) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def tz_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"{name!r} is not an IANA time zone.") from error


# -- Clock readings and instants --------------------------------------------------------------
#
# A clock reading is counted like an instant, in seconds since 1970-01-01 00:00, but on the
# local clock.


def clock_reaches(reading: int, pieces: Sequence[Piece]) -> int:
    """The first instant at which the clock shows `reading` or later."""
    for start, end, offset in pieces:
        if reading - offset < end:
            return max(start, reading - offset)
    return pieces[-1][1]


def clock_stays_past(reading: int, pieces: Sequence[Piece]) -> int:
    """The instant from which the clock shows `reading` or later for good."""
    for start, end, offset in reversed(pieces):
        if reading - offset > start:
            return min(end, reading - offset)
    return pieces[0][0]


@lru_cache(maxsize=256)
def offset_pieces(zone: ZoneInfo, low: int, high: int) -> tuple[Piece, ...]:
    """`[low, high)` cut where `zone` changes its UTC offset."""
    pieces = []
    piece_start, offset = low, offset_at(zone, low)
    sample = low
    while sample < high - 1:
        following = min(sample + OFFSET_SAMPLE, high - 1)
        if offset_at(zone, following) != offset:
            change = _change(zone, sample, following, offset)
            pieces.append((piece_start, change, offset))
            piece_start, offset = change, offset_at(zone, change)
        sample = following
    pieces.append((piece_start, high, offset))
    return tuple(pieces)


def offset_at(zone: ZoneInfo, instant: int) -> int:
    return int(datetime.fromtimestamp(instant, zone).utcoffset().total_seconds())


def _change(zone: ZoneInfo, low: int, high: int, offset: int) -> int:
    """The first instant in `(low, high]` at which the offset is no longer `offset`."""
    while high - low > 1:
        middle = (low + high) // 2
        if offset_at(zone, middle) == offset:
            low = middle
        else:
            high = middle
    return high


# -- Arithmetic on intervals -------------------------------------------------------------------


def floor_seconds(moment: datetime) -> int:
    return math.floor(moment.timestamp())


def ceil_seconds(moment: datetime) -> int:
    return math.ceil(moment.timestamp())


def from_seconds(instant: int) -> datetime:
    return datetime.fromtimestamp(instant, UTC)


def outward(intervals: Iterable[Interval]) -> list[Seconds]:
    """Intervals as whole seconds, widened to the second: for time that must be avoided."""
    return merged((floor_seconds(interval.start), ceil_seconds(interval.end)) for interval in intervals)


def merged(pairs: Iterable[Seconds]) -> list[Seconds]:
    """In order, overlapping and touching ones joined, empty ones dropped."""
    joined: list[list[int]] = []
    for start, end in sorted(pairs):
        if start >= end:
            continue
        if joined and start <= joined[-1][1]:
            joined[-1][1] = max(joined[-1][1], end)
        else:
            joined.append([start, end])
    return [(start, end) for start, end in joined]


def without(pairs: Sequence[Seconds], cuts: Sequence[Seconds]) -> list[Seconds]:
    """`pairs` minus `cuts`; both merged and in order."""
    left = []
    first_cut = 0
    for start, end in pairs:
        # Cuts that end before this pair cannot touch any later pair either.
        while first_cut < len(cuts) and cuts[first_cut][1] <= start:
            first_cut += 1
        index = first_cut
        while index < len(cuts) and cuts[index][0] < end:
            cut_start, cut_end = cuts[index]
            if cut_start > start:
                left.append((start, cut_start))
            start = max(start, cut_end)
            index += 1
        if start < end:
            left.append((start, end))
    return left
