"""A status page's Atom feed and calendar (webcal): the calendar keeps each window's UID, raises
its SEQUENCE when it moves and marks it cancelled; neither names a server or a person."""

from datetime import timedelta
from xml.etree import ElementTree

import pytest
from django.urls import reverse
from icalendar import Calendar

from scheduling.choices import Cover
from scheduling.services.windows import window_cancel, window_reschedule
from tests.scheduling.status_world import START

ATOM = "{http://www.w3.org/2005/Atom}"


pytestmark = pytest.mark.usefixtures("ten_days_before")


@pytest.fixture
def window(status_window):
    return status_window


def _events(client, page) -> list:
    response = client.get(reverse("status-calendar", args=[page.token]))
    assert response["Content-Type"].startswith("text/calendar")
    return Calendar.from_ical(response.content).walk("VEVENT")


def test_the_feed_is_atom_with_one_entry_per_window(client, status_page, window):
    response = client.get(reverse("status-feed", args=[status_page.token]))

    feed = ElementTree.fromstring(response.content)
    assert response["Content-Type"].startswith("application/atom+xml")
    assert feed.tag == f"{ATOM}feed"
    (entry,) = feed.findall(f"{ATOM}entry")
    assert entry.find(f"{ATOM}id").text == f"urn:uuid:{window.uid}"
    assert "Maintenance of AppsAnywhere: Tuesday 9 March 2027, 10:00 to" in entry.find(f"{ATOM}title").text
    assert window.engineer.full_name not in response.content.decode()


def test_the_calendar_keeps_the_uid_and_raises_the_sequence_when_the_window_moves(
        client, customer, engineer, status_page, window):
    (before,) = _events(client, status_page)

    window_reschedule(window=window, start=START + timedelta(days=1), engineer_ids=[engineer.pk],
                      cover=Cover.STANDARD, by=customer)
    (after,) = _events(client, status_page)

    assert str(after["UID"]) == str(before["UID"])
    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])
    assert after.DTSTART.date() == (START + timedelta(days=1)).date()
    assert str(after["STATUS"]) == "CONFIRMED"
    assert str(after.DTSTART.tzinfo) == "Europe/London"


def test_a_cancelled_window_stays_in_the_calendar_as_cancelled(client, customer, status_page, window):
    (before,) = _events(client, status_page)

    window_cancel(window=window, by=customer, reason="Exams")
    (after,) = _events(client, status_page)

    assert str(after["UID"]) == str(before["UID"])
    assert str(after["STATUS"]) == "CANCELLED"
    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])
