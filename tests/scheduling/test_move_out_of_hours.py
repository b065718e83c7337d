"""A confirmed window moved out of hours (S7): the confirmed time, its engineer and its calendar
entry stay until support confirms the new time. Declined, the window stays where it was;
confirmed, it takes the new time and the old one is free again. What each side receives is read
from a real SMTP server, sent by a real Celery worker."""

from datetime import datetime, timedelta, timezone

import pytest
from django.urls import reverse
from icalendar import Calendar

from portal.choices import NoticeState
from portal.models import Notice
from scheduling.choices import Cover, WindowState
from scheduling.models import MaintenanceWindow
from scheduling.services.booking import window_book
from scheduling.services.windows import window_cancel, window_confirm, window_reschedule
from tests.conftest import wait_for

START = datetime(2027, 3, 9, 10, 0, tzinfo=timezone.utc)
NIGHT = START + timedelta(days=2, hours=11)  # 21:00 in London, two days later
LEAD = "olivia.bennett@northwind.example"  # Olivia Bennett, who logs in as lead@northwind.example


@pytest.fixture(autouse=True)
def before_the_window(time_machine):
    time_machine.move_to(START - timedelta(days=10), tick=True)


@pytest.fixture
def confirmed(worker, inbox, customer, engineer, approved):
    window = window_book(upgrade=approved, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)
    _settle(inbox)
    return window


def _settle(inbox):
    """Wait for every notice written so far to reach the SMTP server, then forget them."""
    wait_for(lambda: set(Notice.objects.values_list("state", flat=True)) == {NoticeState.SENT})
    wait_for(lambda: len(inbox) + _settled[0] == Notice.objects.count())
    _settled[0] = Notice.objects.count()
    inbox.clear()


_settled = [0]


@pytest.fixture(autouse=True)
def nothing_settled():
    _settled[0] = 0


def _text(message) -> str:
    return next(part for part in message.walk() if part.get_content_type() == "text/plain").get_payload(decode=True).decode()


def _to(inbox, address: str) -> list:
    return [message for message in inbox if message["To"] == address]


def _calendar_mail(inbox) -> list:
    return [message for message in inbox if any(part.get_content_type() == "text/calendar" for part in message.walk())]


def _ask_to_move(window, customer, engineer):
    return window_reschedule(window=window, start=NIGHT, engineer_ids=[engineer.pk], cover=Cover.OUT_OF_HOURS,
                             by=customer, reason="Moved by the customer")


def _wait_for_mail(inbox, count: int):
    wait_for(lambda: set(Notice.objects.values_list("state", flat=True)) == {NoticeState.SENT})
    wait_for(lambda: len(inbox) == count)


def test_the_confirmed_time_stays_while_support_has_not_confirmed(confirmed, inbox, customer, support, engineer, approved):
    asked = Notice.objects.count()

    proposal = _ask_to_move(confirmed, customer, engineer)

    window = MaintenanceWindow.objects.get(pk=confirmed.pk)
    assert (window.state, window.start, window.engineer_id, window.sequence) == (WindowState.CONFIRMED, START, engineer.pk, 0)
    assert (proposal.state, proposal.start, proposal.move_of_id) == (WindowState.REQUESTED, NIGHT, window.pk)
    assert window.pending_move == proposal
    assert list(approved.windows.holding()) == [window]  # the request's window is still the confirmed one
    _wait_for_mail(inbox, Notice.objects.count() - asked)
    assert not _calendar_mail(inbox)  # nobody's calendar loses the entry
    (told,) = _to(inbox, LEAD)
    assert "Out-of-hours move requested" in told["Subject"] and "stays booked as confirmed" in _text(told)
    (desk,) = _to(inbox, support.email)
    assert "to confirm" in desk["Subject"]


def test_declined_the_window_stays_where_it_was(confirmed, inbox, customer, support, engineer):
    proposal = _ask_to_move(confirmed, customer, engineer)
    _settle(inbox)
    before = Notice.objects.count()

    window_cancel(window=proposal, by=support, reason="No engineer free that night.")

    window = MaintenanceWindow.objects.get(pk=confirmed.pk)
    assert (window.state, window.start, window.engineer_id, window.sequence) == (WindowState.CONFIRMED, START, engineer.pk, 0)
    assert MaintenanceWindow.objects.get(pk=proposal.pk).state == WindowState.CANCELLED
    assert window.pending_move is None
    _wait_for_mail(inbox, Notice.objects.count() - before)
    assert not _calendar_mail(inbox)
    (told,) = _to(inbox, LEAD)
    assert "Move not confirmed" in told["Subject"]
    assert "No engineer free that night." in _text(told) and "stays as confirmed" in _text(told)


def test_confirmed_the_window_takes_the_new_time_and_frees_the_old(confirmed, inbox, customer, support, engineer):
    proposal = _ask_to_move(confirmed, customer, engineer)
    _settle(inbox)
    before = Notice.objects.count()

    window_confirm(window=proposal, by=support)

    window = MaintenanceWindow.objects.get(pk=confirmed.pk)
    assert (window.state, window.start, window.cover, window.sequence) == (WindowState.CONFIRMED, NIGHT, Cover.OUT_OF_HOURS, 1)
    assert MaintenanceWindow.objects.get(pk=proposal.pk).state == WindowState.CANCELLED
    assert list(MaintenanceWindow.objects.filter(state__in=["requested", "confirmed"])) == [window]
    _wait_for_mail(inbox, Notice.objects.count() - before)
    (invite,) = _to(inbox, LEAD)
    (calendar,) = [Calendar.from_ical(part.get_payload(decode=True)) for part in invite.walk()
                   if part.get_content_type() == "text/calendar"]
    (event,) = calendar.events
    assert str(event["UID"]) == f"{confirmed.uid}@upgrade-portal" and event["SEQUENCE"] == 1 and event.start == NIGHT


def test_both_window_pages_say_what_waits(client_for, inbox, customer, support, confirmed, engineer):
    proposal = _ask_to_move(confirmed, customer, engineer)
    _settle(inbox)

    page = client_for(customer).get(reverse("window-detail", args=[confirmed.pk])).content.decode()
    desk = client_for(support).get(reverse("window-detail", args=[proposal.pk])).content.decode()

    assert "waits for support to confirm" in page and "Until then the window stays booked at this time" in page
    assert "requested move of" in desk and "Confirm the window" in desk and "Decline the move" in desk
