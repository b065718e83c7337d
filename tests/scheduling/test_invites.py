"""Calendar entries that follow the booking: a confirmed window reaches every contact and the
engineer as an .ics invite over real SMTP (sent by a real Celery worker); a reschedule updates
the same entry (same UID, higher SEQUENCE), a cancellation removes it."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from portal.choices import NoticeState
from portal.models import Contact, Notice, User
from scheduling.choices import Cover, Purpose
from scheduling.invites import REQUEST, invite_ics
from scheduling.services import notices
from scheduling.services.booking import check_book, window_book
from scheduling.services.windows import window_cancel, window_confirm, window_reschedule
from tests.conftest import wait_for
from tests.factories import UpgradeRequestFactory

START = datetime(2027, 3, 9, 10, 0, tzinfo=timezone.utc)  # GMT in London
SUMMER = datetime(2027, 7, 6, 9, 0, tzinfo=timezone.utc)  # BST in London: 10:00 on the customer's clock
LONDON = ZoneInfo("Europe/London")
LEAD = "olivia.bennett@northwind.example"  # Olivia Bennett, who logs in as lead@northwind.example


@pytest.fixture(autouse=True)
def before_the_window(time_machine):
    """Ten days before START, well before the customer's cut-off; time moves for the worker."""
    time_machine.move_to(START - timedelta(days=10), tick=True)


def _calendars(message) -> list[Calendar]:
    """The calendar parts of one e-mail, parsed back."""
    return [
        Calendar.from_ical(part.get_payload(decode=True))
        for part in message.walk() if part.get_content_type() == "text/calendar"
    ]


def _event(calendar: Calendar):
    (event,) = calendar.events
    return event


def _everyone(engineer: User) -> set[str]:
    """Northwind's contacts (its portal users among them, at their contact's address) and the
    window's engineer."""
    contacts = Contact.objects.filter(organisation__slug="northwind").values_list("email", flat=True)
    return {*contacts, engineer.email}


def _to(inbox, address: str) -> list:
    return [message for message in inbox if message["To"] == address]


def test_a_confirmed_booking_mails_every_contact_and_the_engineer_a_calendar_invite(worker, inbox, customer, engineer, approved):
    people = _everyone(engineer)

    window = window_book(upgrade=approved, start=SUMMER, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)

    wait_for(lambda: len(inbox) == len(people))
    wait_for(lambda: set(Notice.objects.values_list("state", flat=True)) == {NoticeState.SENT})
    assert {message["To"] for message in inbox} == people
    (message,) = _to(inbox, LEAD)
    (part,) = [part for part in message.walk() if part.get_content_type() == "text/calendar"]
    assert part.get_param("method") == "REQUEST"
    (calendar,) = _calendars(message)
    event = _event(calendar)
    assert calendar["METHOD"] == "REQUEST"
    assert str(event["UID"]) == f"{window.uid}@upgrade-portal" and event["SEQUENCE"] == 0
    # The customer's clock, with the zone's rules in the file for calendars that lack them.
    assert event["DTSTART"].params["TZID"] == "Europe/London"
    assert event.start == SUMMER and event.start.astimezone(LONDON).hour == 10
    assert event.end == window.end
    assert [tz.tz_name for tz in calendar.timezones] == ["Europe/London"]
    assert {str(attendee).removeprefix("mailto:") for attendee in event.get("ATTENDEE")} == people
    assert str(event["ORGANIZER"]) == "mailto:upgrades@vendor.example"
    assert "Service downtime starting about 5 minutes in" in str(event["DESCRIPTION"])
    # The letter itself carries the forwardable notice, on the reader's clock.
    text = next(part for part in message.walk() if part.get_content_type() == "text/plain").get_payload(decode=True).decode()
    assert "ready to forward" in text and "Service downtime from about 10:20 to about 10:35" in text


def test_a_reschedule_moves_the_same_entry_and_a_cancellation_removes_it(worker, inbox, customer, engineer, approved):
    people = _everyone(engineer)
    window = window_book(upgrade=approved, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)
    later = START + timedelta(days=1, hours=2)

    window_reschedule(window=window, start=later, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)
    window_cancel(window=window, by=customer, reason="Exams moved to that week.")

    wait_for(lambda: len(inbox) == 3 * len(people))
    first, moved, cancelled = (_calendars(message)[0] for message in _to(inbox, LEAD))
    assert len({str(_event(calendar)["UID"]) for calendar in (first, moved, cancelled)}) == 1
    assert [_event(calendar)["SEQUENCE"] for calendar in (first, moved, cancelled)] == [0, 1, 2]
    assert _event(first).start == START and _event(moved).start == later
    assert moved["METHOD"] == "REQUEST"
    assert cancelled["METHOD"] == "CANCEL" and _event(cancelled)["STATUS"] == "CANCELLED"
    assert "Exams moved to that week." in str(_event(cancelled)["DESCRIPTION"])
    assert _to(inbox, LEAD)[2]["Subject"].startswith("[Northwind University] Cancelled:")


def test_the_same_change_triggered_twice_mails_nobody_twice(customer, engineer, approved):
    window = window_book(upgrade=approved, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)
    written = Notice.objects.count()

    notices.window_confirmed(window=window)

    assert Notice.objects.count() == written
    assert set(Notice.objects.values_list("key", flat=True)) == {f"window:{window.pk}:invite:0"}


def test_an_out_of_hours_request_asks_support_and_is_invited_once_confirmed(customer, support, engineer, approved):
    window = window_book(upgrade=approved, start=START, engineer_ids=[engineer.pk], cover=Cover.OUT_OF_HOURS, by=customer)

    asked = Notice.objects.filter(key=f"window:{window.pk}:requested:0")
    told = Notice.objects.filter(key=f"window:{window.pk}:awaiting:0")
    assert support.email in asked.values_list("recipient", flat=True)
    assert LEAD in told.values_list("recipient", flat=True) and "waits for support" in told.get(recipient=LEAD).body
    assert not Notice.objects.filter(key__contains=":invite:").exists()

    window_confirm(window=window, by=support)

    invite = Notice.objects.get(key=f"window:{window.pk}:invite:1", recipient=LEAD)
    assert invite.attachments[0]["content_type"] == "text/calendar; method=REQUEST"
    assert _event(Calendar.from_ical(invite.attachments[0]["content"]))["STATUS"] == "CONFIRMED"


def test_the_engineer_taken_off_a_window_gets_the_cancellation(customer, engineer, approved):
    other = User.objects.get(email="engineer.apac@vendor.example")
    window = window_book(upgrade=approved, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)

    window_reschedule(window=window, start=START + timedelta(days=1), engineer_ids=[other.pk], cover=Cover.STANDARD,
                      by=customer)

    assert Notice.objects.filter(key=f"window:{window.pk}:cancel:1", recipient=engineer.email).exists()
    assert Notice.objects.filter(key=f"window:{window.pk}:invite:1", recipient=other.email).exists()
    assert not Notice.objects.filter(key=f"window:{window.pk}:cancel:1", recipient=LEAD).exists()


def test_the_prerequisite_check_is_a_calendar_entry_of_its_own(customer, support, engineer, northwind_deployment, release):
    request = UpgradeRequestFactory(in_review=True, deployment=northwind_deployment, release=release,
                                    requested_by=customer, assignee=support)

    check = check_book(upgrade=request, start=START, engineer_ids=[engineer.pk], by=support)

    assert check.purpose == Purpose.CHECK
    invite = Notice.objects.get(key=f"window:{check.pk}:invite:0", recipient=LEAD)
    event = _event(Calendar.from_ical(invite.attachments[0]["content"]))
    assert str(event["SUMMARY"]).startswith("Prerequisite check:")
    assert Notice.objects.filter(key=f"window:{check.pk}:invite:0", recipient=engineer.email).exists()
    assert "ready to forward" not in invite.body  # a check does not touch the service


def test_the_entry_is_written_on_the_organisations_own_clock(northwind, customer, engineer, approved):
    northwind.time_zone = "America/New_York"
    northwind.save()
    window = window_book(upgrade=approved, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)

    calendar = Calendar.from_ical(invite_ics(window=window, method=REQUEST, attendees=[LEAD]))

    event = _event(calendar)
    assert event["DTSTART"].params["TZID"] == "America/New_York"
    assert event["DTSTART"].to_ical() == b"20270309T050000"  # 10:00 UTC is 05:00 EST
    assert [tz.tz_name for tz in calendar.timezones] == ["America/New_York"]
