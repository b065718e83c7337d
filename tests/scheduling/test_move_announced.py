"""A confirmed window moved out of hours from its page reads as one move to the people told:
"move requested" while support has to confirm (their calendars keep the entry), then one
"moved" with the calendar entry at the new time, the same UID and a higher SEQUENCE. Read back
from a real SMTP server."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar

from portal.models import User
from scheduling.choices import Cover
from scheduling.models import MaintenanceWindow
from scheduling.selectors import slots_for
from scheduling.services.booking import window_book
from scheduling.services.windows import window_confirm, window_reschedule
from tests.conftest import deliver_outbox
from tests.dates import FRIDAY

pytestmark = pytest.mark.day(FRIDAY)

OLIVIA = "olivia.bennett@northwind.example"


@pytest.fixture
def confirmed(inbox, approved, customer) -> MaintenanceWindow:
    slot = next(slot for slot in slots_for(upgrade=approved)
                if slot.standard and slot.start > timezone.now() + timedelta(days=7))
    window = window_book(upgrade=approved, start=slot.start, engineer_ids=list(slot.engineer_ids),
                         cover="standard", by=customer)
    deliver_outbox(inbox).clear()
    return window


def _night(window: MaintenanceWindow):
    return next(slot for slot in slots_for(upgrade=window.request, exclude_window=window)
                if not slot.standard and slot.start > window.start)


def _calendars(message) -> list:
    return [Calendar.from_ical(part.get_payload(decode=True)) for part in message.walk()
            if part.get_content_type() == "text/calendar"]


def _to(inbox, address: str) -> list:
    return [message for message in inbox if message["To"] == address]


def test_a_move_out_of_hours_reads_as_one_move_asked_then_one_move_made(client_for, inbox, customer, support,
                                                                        confirmed):
    night = _night(confirmed)

    client_for(customer).post(reverse("window-action", args=[confirmed.pk, "reschedule"]),
                              {"start": night.start.isoformat(), "reason": "Our exams end that evening"})

    deliver_outbox(inbox)
    (asked,) = _to(inbox, OLIVIA)
    assert "Out-of-hours move requested" in asked["Subject"] and not _calendars(asked)
    assert not [message for message in inbox if "Cancelled" in message["Subject"]]
    proposal = MaintenanceWindow.objects.get(move_of=confirmed)
    inbox.clear()

    client_for(support).post(reverse("window-action", args=[proposal.pk, "confirm"]))

    deliver_outbox(inbox)
    assert not [message for message in inbox if "Cancelled" in message["Subject"]]
    (moved,) = _to(inbox, OLIVIA)
    assert moved["Subject"].endswith("moved")
    ((event,),) = [calendar.events for calendar in _calendars(moved)]
    assert str(event["UID"]) == f"{confirmed.uid}@upgrade-portal" and event["SEQUENCE"] == 1
    assert event.start == night.start


def test_the_engineer_the_move_leaves_out_has_the_entry_removed_at_the_time_they_had(inbox, customer, support,
                                                                                     confirmed):
    night = _night(confirmed)
    other = User.objects.get(email="engineer.apac@vendor.example")
    proposal = window_reschedule(window=confirmed, start=night.start, engineer_ids=[other.pk],
                                 cover=Cover.OUT_OF_HOURS, by=customer)
    deliver_outbox(inbox).clear()

    window_confirm(window=proposal, by=support)

    deliver_outbox(inbox)
    (removed,) = _to(inbox, confirmed.engineer.email)
    assert "Cancelled" in removed["Subject"]
    ((event,),) = [calendar.events for calendar in _calendars(removed)]
    assert str(event["UID"]) == f"{confirmed.uid}@upgrade-portal" and event["SEQUENCE"] == 1
    assert event.start == confirmed.start
    (moved,) = _to(inbox, other.email)
    assert [event.start for calendar in _calendars(moved) for event in calendar.events] == [night.start]
