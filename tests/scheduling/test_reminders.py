"""Reminders before a confirmed window (7 days and 1 day by default), sent by beat's sweep:
once per window, day count, start and recipient, however often beat fires; a window moved
after its reminder is reminded again for its new time; nothing for windows that are not on."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone as django_timezone

from portal.models import Notice
from scheduling.choices import Cover
from scheduling.selectors import slots_for
from scheduling.services.booking import window_book
from scheduling.services.notices import people_of, reminders_enqueue
from scheduling.services.windows import window_cancel, window_reschedule
from scheduling.tasks import reminders_sweep
from tests.conftest import wait_for
from tests.dates import each_day

START = datetime(2027, 3, 9, 10, 0, tzinfo=timezone.utc)
BOOKED = datetime(2027, 2, 1, 12, 0, tzinfo=timezone.utc)
LEAD = "olivia.bennett@northwind.example"  # Olivia Bennett, who logs in as lead@northwind.example


@pytest.fixture
def book(approved, customer, engineer):
    def make(*, at: datetime = BOOKED, start: datetime = START, cover: str = Cover.STANDARD):
        with time_machine.travel(at, tick=False):
            return window_book(upgrade=approved, start=start, engineer_ids=[engineer.pk], cover=cover, by=customer)

    return make


def _remind(at: datetime) -> int:
    with time_machine.travel(at, tick=False):
        return reminders_enqueue()


def _reminders(window, days: int) -> set[str]:
    return set(Notice.objects.filter(key__startswith=f"window:{window.pk}:reminder:{days}d:").values_list("recipient", flat=True))


def test_a_window_is_reminded_a_week_and_a_day_before_once_each(book):
    window = book()
    people = people_of(window)

    assert _remind(START - timedelta(days=7, minutes=1)) == 0  # not yet
    assert _remind(START - timedelta(days=7) + timedelta(minutes=4)) == len(people)
    assert _remind(START - timedelta(days=7) + timedelta(minutes=9)) == 0  # beat fired again
    assert _remind(START - timedelta(days=3)) == 0
    assert _remind(START - timedelta(days=1) + timedelta(minutes=1)) == len(people)
    assert _remind(START - timedelta(hours=2)) == 0
    assert _remind(START + timedelta(minutes=5)) == 0  # started: too late for anything

    assert _reminders(window, 7) == _reminders(window, 1) == set(people)
    week = Notice.objects.get(key__startswith=f"window:{window.pk}:reminder:7d:", recipient=LEAD)
    assert week.subject.endswith("in 7 days") and "Tuesday 9 March 2027, 10:00 GMT" in week.body
    assert "ready to forward" in week.body
    day = Notice.objects.get(key__startswith=f"window:{window.pk}:reminder:1d:", recipient=LEAD)
    assert day.subject.endswith("tomorrow")


@each_day
def test_a_window_booked_on_any_day_is_reminded_a_week_and_a_day_before(day, approved, customer):
    slot = next(slot for slot in slots_for(upgrade=approved)
                if slot.standard and slot.start > django_timezone.now() + timedelta(days=7, hours=1))
    window = window_book(upgrade=approved, start=slot.start, engineer_ids=list(slot.engineer_ids),
                         cover=Cover.STANDARD, by=customer)
    people = people_of(window)

    assert _remind(slot.start - timedelta(days=7, minutes=1)) == 0
    assert _remind(slot.start - timedelta(days=7) + timedelta(minutes=4)) == len(people)
    assert _remind(slot.start - timedelta(days=2)) == 0
    assert _remind(slot.start - timedelta(days=1) + timedelta(minutes=1)) == len(people)
    assert _remind(slot.start + timedelta(minutes=5)) == 0

    local = slot.start.astimezone(ZoneInfo("Europe/London"))
    reminder = Notice.objects.get(key__startswith=f"window:{window.pk}:reminder:1d:", recipient=LEAD)
    assert f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M %Z}" in reminder.body


def test_a_window_booked_three_days_ahead_is_only_reminded_the_day_before(book):
    window = book(at=START - timedelta(days=3))

    assert _remind(START - timedelta(days=2)) == 0  # the invite of yesterday said it all
    assert _remind(START - timedelta(hours=23)) > 0

    assert not _reminders(window, 7) and _reminders(window, 1)


def test_after_a_pause_of_beat_only_the_nearest_reminder_goes_out(book):
    window = book()

    _remind(START - timedelta(hours=20))

    assert not _reminders(window, 7) and _reminders(window, 1)


def test_a_window_moved_after_its_reminder_is_reminded_for_the_new_time(book, customer, engineer):
    window = book()
    _remind(START - timedelta(days=7) + timedelta(minutes=1))
    later = START + timedelta(days=1)

    with time_machine.travel(START - timedelta(days=7) + timedelta(hours=2), tick=False):
        window_reschedule(window=window, start=later, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)
    fresh = _remind(later - timedelta(days=7) + timedelta(minutes=1))

    assert fresh == len(people_of(window))
    keys = set(Notice.objects.filter(key__contains=":reminder:7d:", recipient=LEAD).values_list("key", flat=True))
    assert keys == {f"window:{window.pk}:reminder:7d:{START.isoformat()}", f"window:{window.pk}:reminder:7d:{later.isoformat()}"}
    moved = Notice.objects.get(key=f"window:{window.pk}:reminder:7d:{later.isoformat()}", recipient=LEAD)
    assert "Wednesday 10 March 2027, 10:00 GMT" in moved.body


def test_cancelled_and_unconfirmed_windows_are_not_reminded(book, customer):
    cancelled = book()
    with time_machine.travel(BOOKED, tick=False):
        window_cancel(window=cancelled, by=customer, reason="Budget freeze.")
    requested = book(start=START + timedelta(hours=10), cover=Cover.OUT_OF_HOURS)

    assert _remind(START - timedelta(days=1) + timedelta(minutes=1)) == 0
    assert not Notice.objects.filter(key__contains=":reminder:").exists()
    assert requested.state == "requested"


def test_the_engineer_reads_the_reminder_on_their_own_clock(book, engineer):
    window = book()

    _remind(START - timedelta(days=1) + timedelta(minutes=1))

    reminder = Notice.objects.get(key__startswith=f"window:{window.pk}:reminder:1d:", recipient=engineer.email)
    assert "Tuesday 9 March 2027, 10:00 GMT" in reminder.body  # Erin works from London
    assert "ready to forward" not in reminder.body  # the notice is for the customer's users


def test_beats_sweep_mails_the_reminder_through_the_worker(worker, inbox, approved, customer, engineer):
    start = (django_timezone.now() + timedelta(hours=20)).replace(second=0, microsecond=0)
    window = window_book(upgrade=approved, start=start, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)
    # The invite went out ten days ago, so tomorrow's reminder is due now.
    Notice.objects.filter(key__contains=":invite:").update(created_at=django_timezone.now() - timedelta(days=10))

    reminders_sweep.delay()
    reminders_sweep.delay()  # beat fired twice

    wait_for(lambda: [m for m in inbox if m["To"] == LEAD and "Reminder" in m["Subject"]])
    wait_for(lambda: Notice.objects.filter(key__contains=":reminder:1d:", state="sent").count() == len(people_of(window)))
    # One solo worker takes its queue in order: both sweeps ran before these deliveries.
    assert Notice.objects.filter(key__contains=":reminder:", recipient=LEAD).count() == 1
    assert len([m for m in inbox if m["To"] == LEAD and "Reminder" in m["Subject"]]) == 1
