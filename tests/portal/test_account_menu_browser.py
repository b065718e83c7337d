"""The person's own pages are in one menu under their name in the top bar, which works by
keyboard alone: Enter opens it, Escape closes it and gives the focus back to the name, and a
click elsewhere closes it."""

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import log_in

pytestmark = pytest.mark.browser


def test_the_account_menu_opens_and_closes_by_keyboard_and_leads_to_each_page(page: Page):
    log_in(page, "engineer@vendor.example")
    banner = page.get_by_role("banner")
    name = banner.locator("details.account-menu > summary")
    notices = banner.get_by_role("link", name="Notices", exact=True)
    expect(name).to_contain_text("Erin Walsh")
    expect(notices).to_be_hidden()

    name.focus()
    page.keyboard.press("Enter")
    for label in ("Sign-in, tokens and sessions", "Notices", "Calendar feed", "Second factor"):
        expect(banner.get_by_role("link", name=label, exact=True)).to_be_visible()
    page.keyboard.press("Escape")
    expect(notices).to_be_hidden()
    expect(name).to_be_focused()

    page.keyboard.press("Enter")
    page.get_by_role("heading", level=1).click()  # elsewhere
    expect(notices).to_be_hidden()

    name.click()
    notices.click()
    expect(page.get_by_role("heading", name="Your notices")).to_be_visible()
    name.click()
    expect(banner.get_by_role("link", name="Notices", exact=True)).to_have_attribute("aria-current", "page")
