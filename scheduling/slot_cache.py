"""Free slots computed once per state of the calendar, kept in each process.

Fifty customers who are told "this slot was just taken" are shown the same free slots: the
first answer computes them, the others read them. What keeps a kept answer true is a number
in the database, `scheduling_calendar_version` (scheduling migration 0009), which its triggers
change in the same transaction as any write of what the slot engine reads (regions, hours,
engineers, time off, blackouts, low-usage hours, windows, an account made inactive), from any
process, page, admin or shell. So:

1. The number is read first, then (when nothing is kept under it) the inputs: a change
   committed in between makes the kept answer newer than its number, never older.
2. A transaction that has itself changed the calendar sees its own uncommitted rows: it is
   told so (the number reads as None) and neither reads nor keeps anything.
3. A process keeps the answers of the last number it read only, and a bounded number of them.
4. A process computes a key once at a time: whoever asks for it meanwhile waits and shares.

The key names everything else the answer depends on (the customer's region and clock, the
window's length, the horizon, the window being moved), so it is safe in process memory.
"""

import threading
from collections.abc import Callable, Hashable

from django.db import connection

from scheduling.slots import Slot

# Answers kept per process (customers, lengths and horizons asked about since the last change).
MOST = 256

# The number the answers were computed under, and the answers: one pair, replaced whole, so
# that a thread that read another number never adds to the wrong answers.
_kept: tuple[int | None, dict[Hashable, tuple[Slot, ...]]] = (None, {})
# The computations under way, by (number, key): a lock each, held by the one computing.
_computing: dict[tuple[int, Hashable], threading.Lock] = {}
_computing_guard = threading.Lock()


def calendar_version() -> int | None:
    """The calendar's number now, or None when it must not be relied on (this transaction
    changed the calendar; or the row is missing)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT version, current_setting('scheduling.calendar_changed', true) FROM scheduling_calendar_version"
        )
        row = cursor.fetchone()
    if row is None or row[1] == "on":
        return None
    return row[0]


def slots(key: Hashable, compute: Callable[[], list[Slot]]) -> list[Slot]:
    """The slots kept under `key` for the calendar as it stands, else `compute()`d and kept.
    Those who ask for the same key at once wait for one computation and share it: a race's
    losers all ask the moment the winner has changed the calendar."""
    version = calendar_version()
    if version is None:
        return compute()
    found = _found(version, key)
    if found is None:
        with _computing_guard:
            computing = _computing.setdefault((version, key), threading.Lock())
        with computing:
            found = _found(version, key)
            if found is None:
                found = tuple(compute())
                _keep(version, key, found)
        with _computing_guard:
            _computing.pop((version, key), None)
    return list(found)


def _found(version: int, key: Hashable) -> tuple[Slot, ...] | None:
    kept_version, kept = _kept
    return kept.get(key) if kept_version == version else None


def _keep(version: int, key: Hashable, found: tuple[Slot, ...]) -> None:
    global _kept
    kept_version, kept = _kept
    if version != kept_version:
        # A newer calendar (or an older number, read by a request that began before a change):
        # what is kept belongs to another number.
        kept = {}
        _kept = (version, kept)
    if len(kept) >= MOST:
        kept.clear()
    kept[key] = found


def forget() -> None:
    """Drop what this process keeps."""
    global _kept
    _kept = (None, {})
