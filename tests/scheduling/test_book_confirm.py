"""Booking in two steps: a slot chosen on the calendar is shown to confirm (its times by the
chosen clock and support's, how long, its cover, who is told, a note); only "Confirm booking"
books, "Choose another" goes back. Without JavaScript it is a GET, then a POST."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from scheduling.models import MaintenanceWindow
from scheduling.selectors import slots_for
from scheduling.services.links import link_issue, link_token
from tests.dates import FRIDAY

pytestmark = pytest.mark.day(FRIDAY)


@pytest.fixture
def book_url(approved, support):
    return reverse("book", args=[link_token(link_issue(upgrade=approved, by=support))])


def _standard(upgrade, **kwargs):
    return next(slot for slot in slots_for(upgrade=upgrade, **kwargs)
                if slot.standard and slot.start > timezone.now() + timedelta(days=7))


def test_a_slot_on_the_calendar_asks_for_the_choice_without_booking(client_for, customer, book_url):
    page = client_for(customer).get(book_url).content.decode()

    assert '<form method="get"' in page and 'class="slot-calendar-form"' in page
    assert 'name="action" value="book"' not in page  # the calendar itself books nothing


def test_the_chosen_slot_is_summed_up_before_it_is_booked(client_for, customer, book_url, approved):
    slot = _standard(approved)

    response = client_for(customer).get(book_url, {"start": slot.start.isoformat(), "tz": "Asia/Tokyo", "week": 1})

    page = response.content.decode()
    assert response.status_code == 200 and not MaintenanceWindow.objects.exists()
    tokyo, london = (slot.start.astimezone(ZoneInfo(zone)) for zone in ("Asia/Tokyo", "Europe/London"))
    assert f"{tokyo:%H:%M} JST" in page and f"{london:%H:%M}" in page and "Europe/London" in page
    assert "minutes" in page and "Within support hours" in page
    assert "Olivia Bennett" in page and "the engineer assigned to it" in page
    assert 'name="note"' in page and "Confirm booking" in page
    assert f'value="{slot.start.isoformat()}"' in page
    back = f"{book_url}?tz=Asia%2FTokyo&amp;week=1"
    assert f'href="{back}"' in page and "Choose another" in page


def test_an_out_of_hours_choice_says_support_confirms_it(client_for, customer, book_url, approved):
    slot = next(slot for slot in slots_for(upgrade=approved) if not slot.standard)

    page = client_for(customer).get(book_url, {"start": slot.start.isoformat()}).content.decode()

    assert "Out of hours: support confirms" in page and not MaintenanceWindow.objects.exists()


def test_a_choice_that_is_not_free_is_refused_with_the_calendar(client_for, customer, book_url):
    response = client_for(customer).get(book_url, {"start": "2031-01-01T03:07:00+00:00"})

    page = response.content.decode()
    assert response.status_code == 409 and "no longer free" in page and 'class="slot standard' in page


def test_confirming_books_with_the_note_the_window_page_shows(client_for, customer, book_url, approved):
    slot = _standard(approved)

    client_for(customer).post(book_url, {"action": "book", "start": slot.start.isoformat(),
                                         "note": "  Call Rahul on the day, not Olivia.  "})

    window = MaintenanceWindow.objects.get()
    assert window.start == slot.start and window.note == "Call Rahul on the day, not Olivia."
    page = client_for(customer).get(reverse("window-detail", args=[window.pk])).content.decode()
    assert "Call Rahul on the day, not Olivia." in page


def test_the_htmx_choice_swaps_only_the_calendar(client_for, customer, book_url, approved):
    slot = _standard(approved)

    response = client_for(customer).get(book_url, {"start": slot.start.isoformat()}, HTTP_HX_REQUEST="true")

    page = response.content.decode()
    assert page.lstrip().startswith('<div id="booking" ') and "Confirm booking" in page
    assert 'hx-target="#booking"' in page  # "Choose another" swaps the calendar back


# Moving: the same two steps, the window's current time marked ------------------------------


@pytest.fixture
def booked(client_for, customer, book_url, approved):
    client_for(customer).post(book_url, {"action": "book", "start": _standard(approved).start.isoformat()})
    return MaintenanceWindow.objects.get()


def _pages(client, url, **query):
    """Every page of seven days of a calendar, as the person pages through them."""
    return [client.get(url, {**query, "week": week}).content.decode() for week in range(7)]


def test_moving_on_the_booking_page_marks_the_current_time(client_for, customer, book_url, booked):
    local = booked.start.astimezone(ZoneInfo("Europe/London"))

    pages = _pages(client_for(customer), book_url, reschedule=1, tz="Europe/London")

    marked = [page for page in pages if 'aria-current="true"' in page]
    assert marked and f'{local:%H:%M} <small>current</small>' in marked[0]
    assert all(f'value="{booked.start.isoformat()}"' not in page for page in pages)  # not offered as a new time


def test_a_move_on_the_booking_page_is_confirmed_before_it_happens(client_for, customer, book_url, approved, booked):
    later = next(slot for slot in slots_for(upgrade=approved, exclude_window=booked)
                 if slot.standard and slot.start > booked.start)
    browser = client_for(customer)

    page = browser.get(book_url, {"reschedule": 1, "start": later.start.isoformat()}).content.decode()
    assert "Move the window to this time?" in page and "Confirm the move" in page
    assert MaintenanceWindow.objects.get().start == booked.start

    browser.post(book_url, {"action": "reschedule", "start": later.start.isoformat(), "note": "Exams moved"})

    assert MaintenanceWindow.objects.get().start == later.start
    assert approved.timeline.filter(action="window_rescheduled", reason__endswith="Exams moved").exists()


def test_the_window_page_moves_in_two_steps_with_the_current_time_marked(client_for, customer, approved, booked):
    url = reverse("window-detail", args=[booked.pk])
    browser = client_for(customer)
    local = booked.start.astimezone(ZoneInfo(customer.time_zone))

    first = browser.get(url).content.decode()
    assert "?move=1" in first and "<select name=\"start\"" not in first
    pages = _pages(browser, url, move=1)
    assert any(f'{local:%H:%M} <small>current</small>' in page for page in pages)

    later = next(slot for slot in slots_for(upgrade=approved, exclude_window=booked)
                 if slot.standard and slot.start > booked.start)
    chosen = browser.get(url, {"start": later.start.isoformat(), "week": 0}).content.decode()
    assert "Confirm the move" in chosen and "Choose another" in chosen
    assert MaintenanceWindow.objects.get().start == booked.start

    browser.post(reverse("window-action", args=[booked.pk, "reschedule"]),
                 {"start": later.start.isoformat(), "reason": "Our exams"})

    assert MaintenanceWindow.objects.get().start == later.start
    assert "Our exams" in browser.get(url).content.decode()


def test_the_window_page_refuses_a_choice_that_is_not_free(client_for, customer, booked):
    response = client_for(customer).get(reverse("window-detail", args=[booked.pk]),
                                         {"start": "2031-01-01T03:07:00+00:00"})

    assert response.status_code == 409 and "no longer free" in response.content.decode()
