"""The mail of a booked or moved window tells the customer's people where to move or cancel it:
the window's page, which offers both once they log in. Read from a real SMTP server."""

from datetime import datetime, timedelta, timezone

import pytest
from django.urls import reverse

from portal.choices import NoticeState
from portal.models import Notice
from scheduling.choices import Cover
from scheduling.services.booking import window_book
from scheduling.services.windows import window_reschedule
from tests.conftest import wait_for

START = datetime(2027, 3, 9, 10, 0, tzinfo=timezone.utc)
LEAD = "olivia.bennett@northwind.example"  # Olivia Bennett, who logs in as lead@northwind.example


@pytest.fixture(autouse=True)
def before_the_window(time_machine):
    time_machine.move_to(START - timedelta(days=10), tick=True)


def _text(message) -> str:
    return next(part for part in message.walk() if part.get_content_type() == "text/plain").get_payload(decode=True).decode()


def _sent(inbox, count: int) -> None:
    wait_for(lambda: set(Notice.objects.values_list("state", flat=True)) == {NoticeState.SENT})
    wait_for(lambda: len(inbox) == count)


def test_the_booked_and_the_moved_mail_lead_to_the_page_that_moves_or_cancels(
        worker, inbox, client_for, customer, engineer, approved, settings):
    window = window_book(upgrade=approved, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)
    _sent(inbox, Notice.objects.count())
    window_reschedule(window=window, start=START + timedelta(days=1), engineer_ids=[engineer.pk],
                      cover=Cover.STANDARD, by=customer)
    _sent(inbox, Notice.objects.count())

    page_url = settings.SITE_URL.rstrip("/") + reverse("window-detail", args=[window.pk])
    booked, moved = [message for message in inbox if message["To"] == LEAD]
    for message in (booked, moved):
        assert f"To move or cancel it (up to 48 hours before it starts), log in to the portal: {page_url}" in _text(message)
    (to_engineer,) = [message for message in inbox if message["To"] == engineer.email][:1]
    assert "To move or cancel it" not in _text(to_engineer)  # the engineer's calendar is the desk's to change

    page = client_for(customer).get(reverse("window-detail", args=[window.pk])).content.decode()
    assert "Move to another time" in page and "Cancel the window" in page
