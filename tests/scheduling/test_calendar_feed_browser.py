"""A customer contact subscribes to their organisation's windows in a real browser: from the menu's
"Calendar feed" they make their feed, copy the address shown, and a calendar app fetching it (no
session, over HTTP) finds their window; once they revoke it, the address answers 404.

Screenshot: `screenshots/calendar-feed.png`.
"""

from datetime import timedelta

import httpx
import pytest
from icalendar import Calendar
from playwright.sync_api import Page, expect

from scheduling.choices import Cover
from scheduling.invites import invite_uid
from scheduling.services.booking import window_book
from tests.conftest import log_in, open_account_page, save_screenshot
from tests.dates import FRIDAY

pytestmark = [pytest.mark.browser, pytest.mark.day(FRIDAY)]


def test_a_contact_makes_their_feed_subscribes_and_revokes_it(page: Page, approved, customer, engineer):
    start = FRIDAY.at(hour=10, minute=0) + timedelta(days=11)  # a Tuesday
    window = window_book(upgrade=approved, start=start, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)
    log_in(page, customer.email)

    open_account_page(page, "Calendar feed")
    expect(page.get_by_text("You have no calendar feed.")).to_be_visible()
    page.get_by_role("button", name="Make my calendar feed").click()
    address = page.get_by_label("For Google Calendar").input_value()
    webcal = page.get_by_label("For Outlook and Apple Calendar").input_value()
    assert webcal == "webcal://" + address.split("://", 1)[1]
    save_screenshot(page, "calendar-feed")

    fetched = httpx.get(address)  # as a calendar app: no cookie, only the address
    assert fetched.status_code == 200
    (event,) = Calendar.from_ical(fetched.text).walk("VEVENT")
    assert str(event["UID"]) == invite_uid(window)
    assert event.DTSTART == start

    page.get_by_role("button", name="Revoke the feed").click()
    expect(page.get_by_text("Your calendar feed is revoked")).to_be_visible()
    expect(page.get_by_text("You have no calendar feed.")).to_be_visible()
    assert httpx.get(address).status_code == 404
