"""The zone the times are read in: a searchable field (the browser's own list of zones, filled by
a small script, so the page carries none), the browser's zone first when the person has not
chosen one, and a name that is no zone refused in plain words."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from scheduling.models import MaintenanceWindow
from scheduling.selectors import slots_for
from scheduling.services.booking import window_book
from scheduling.services.links import link_issue, link_token
from tests.dates import FRIDAY

pytestmark = pytest.mark.day(FRIDAY)


@pytest.fixture
def book_url(approved, support):
    return reverse("book", args=[link_token(link_issue(upgrade=approved, by=support))])


@pytest.fixture
def window(approved, customer) -> MaintenanceWindow:
    slot = next(slot for slot in slots_for(upgrade=approved)
                if slot.standard and slot.start > timezone.now() + timedelta(days=7))
    return window_book(upgrade=approved, start=slot.start, engineer_ids=list(slot.engineer_ids), cover="standard",
                       by=customer)


def test_the_booking_page_offers_a_searchable_zone_starting_from_the_browsers(client_for, customer, book_url):
    page = client_for(customer).get(book_url).content.decode()

    assert '<select name="tz"' not in page
    assert 'name="tz" value="Europe/London" list="time-zones" data-zone-picker data-zone-default' in page
    assert '<datalist id="time-zones"></datalist>' in page and "portal/zone-picker.js" in page


def test_a_zone_once_chosen_is_kept(client_for, customer, book_url):
    page = client_for(customer).get(book_url, {"tz": "Asia/Tokyo"}).content.decode()

    assert 'value="Asia/Tokyo" list="time-zones" data-zone-picker autocomplete' in page


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "europe/london", "GMT+25"])
def test_a_name_that_is_no_zone_is_refused_in_plain_words(client_for, customer, book_url, zone):
    response = client_for(customer).get(book_url, {"tz": zone})

    page = response.content.decode()
    assert response.status_code == 400 and f"“{zone}” is not a known time zone" in page
    assert "Times are in <strong>Europe/London</strong>" in page  # the calendar stays, on the customer's clock


def test_a_booking_posted_with_a_bad_zone_books_nothing(client_for, customer, book_url, approved):
    slot = slots_for(upgrade=approved)[0]

    response = client_for(customer).post(book_url, {"start": slot.start.isoformat(), "tz": "Nowhere"})

    assert response.status_code == 400 and not MaintenanceWindow.objects.exists()


def test_the_window_page_is_light_and_refuses_a_bad_zone(client_for, customer, support, window):
    url = reverse("window-detail", args=[window.pk])

    for person in (customer, support):
        response = client_for(person).get(url)
        assert response.status_code == 200 and len(response.content) < 60_000, len(response.content)
    refused = client_for(customer).get(url, {"tz": "Atlantis"})
    assert refused.status_code == 400 and "“Atlantis” is not a known time zone" in refused.content.decode()
