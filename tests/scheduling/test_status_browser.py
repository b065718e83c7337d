"""The lead switches on the status page for their users in a real browser, from the deployment's
page, and opens it as their users will: the coming window with its times, no log-in needed.

Screenshot: `screenshots/status-page.png`.
"""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from scheduling.choices import Cover
from scheduling.services.booking import window_book
from tests.conftest import log_in, open_from_menu, save_screenshot
from tests.dates import FRIDAY

pytestmark = [pytest.mark.browser, pytest.mark.day(FRIDAY)]


def test_the_lead_switches_the_page_on_and_opens_it(page: Page, approved, customer, engineer):
    start = FRIDAY.at(hour=10, minute=0) + timedelta(days=11)  # a Tuesday
    window_book(upgrade=approved, start=start, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)
    log_in(page, customer.email)

    open_from_menu(page, "My organisation")
    page.get_by_role("link", name=approved.deployment.name).click()
    page.get_by_role("button", name="Status page for your users").click()
    page.get_by_label("Service name").fill("AppsAnywhere")
    page.get_by_label("Status page switched on").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("The status page is on.")).to_be_visible()
    address = page.get_by_role("link", name="/status/").get_attribute("href")

    page.context.clear_cookies()  # as one of their users, who has no account
    page.goto(urlsplit(address).path)
    expect(page.get_by_role("heading", name="AppsAnywhere", level=1)).to_be_visible()
    expect(page.get_by_text("Service at risk from")).to_be_visible()
    expect(page.get_by_text("Times are in Europe/London.")).to_be_visible()
    save_screenshot(page, "status-page")
