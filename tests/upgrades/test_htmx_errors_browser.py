"""Whatever the server answers an htmx interaction is seen on the page: a refusal made for the
page (a form with its errors) is swapped in with what the person typed kept; any other error is
said in the page's alert region; a session that ended goes to the log-in page; what an answer
changes elsewhere on the page ("Next steps") follows without a reload."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from tests.conftest import log_in, save_screenshot
from tests.upgrades.test_browser_flow import checklist_item, expect_state

pytestmark = pytest.mark.browser
ITEM = "Test machine and test user account"
FAKE_PNG = {"name": "screenshot.png", "mimeType": "image/png", "buffer": b"MZ\x90\x00 not a picture"}


def open_item(page: Page, request_id: int):
    page.goto(reverse("request-detail", args=[request_id]))
    item = checklist_item(page, ITEM)
    item.get_by_role("button", name=re.compile(r"^(Provide|Edit)$")).click()
    return item


def test_an_item_saved_empty_says_why_in_place(page, draft):
    log_in(page, "lead@northwind.example")
    item = open_item(page, draft.pk)

    item.get_by_role("button", name="Save").click()

    expect(item.locator(".errorlist")).to_be_visible()
    expect(item.get_by_role("button", name="Save")).to_be_visible()  # still editing
    expect_state(item, "Missing")
    save_screenshot(page, "item-refused-empty")


def test_a_file_that_is_not_what_its_name_says_is_refused_and_the_text_is_kept(page, draft):
    log_in(page, "lead@northwind.example")
    item = open_item(page, draft.pk)
    item.get_by_placeholder("Describe how this prerequisite is met").fill("Machine LAB-PC-07, user cp-test.")
    item.get_by_label("Attach files").set_input_files(FAKE_PNG)

    item.get_by_role("button", name="Save").click()

    expect(item.locator(".errorlist")).to_contain_text("“screenshot.png” does not contain what its name says (.png)")
    expect(item.get_by_placeholder("Describe how this prerequisite is met")).to_have_value(
        "Machine LAB-PC-07, user cp-test.")
    expect_state(item, "Missing")


def test_an_error_the_page_did_not_expect_is_said_in_the_alert_region(page, draft):
    log_in(page, "lead@northwind.example")
    page.goto(reverse("request-detail", args=[draft.pk]))
    alert = page.locator("#request-error")
    expect(alert).to_be_hidden()

    # An item that is not there any more (a 404 page, nothing to swap in).
    page.evaluate("htmx.ajax('GET', '/items/999999/', {target: 'main', swap: 'none'})")

    expect(alert).to_be_visible()
    expect(alert).to_contain_text("That is no longer there")
    expect(page.get_by_role("heading", level=1)).to_be_visible()  # the page itself stays


def test_a_session_that_ended_goes_to_the_log_in_page_not_into_the_item(page, draft):
    log_in(page, "lead@northwind.example")
    item = open_item(page, draft.pk)
    item.get_by_placeholder("Describe how this prerequisite is met").fill("Machine LAB-PC-07.")
    page.context.clear_cookies(name="sessionid")  # signed out elsewhere, or timed out

    item.get_by_role("button", name="Save").click()

    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    expect(page.get_by_role("button", name="Log in", exact=True)).to_be_visible()


def test_next_steps_count_what_is_still_missing_as_items_are_provided(page, draft):
    log_in(page, "lead@northwind.example")
    item = open_item(page, draft.pk)
    next_steps = page.locator("aside").filter(has_text="Next steps")
    before = int(re.search(r"(\d+) required items? still missing", next_steps.inner_text()).group(1))
    page.evaluate("window.stillTheSamePage = true")

    item.get_by_placeholder("Describe how this prerequisite is met").fill("Machine LAB-PC-07, user cp-test.")
    item.get_by_role("button", name="Save").click()

    expect_state(item, "Provided")
    expect(next_steps).to_contain_text(f"{before - 1} required item")
    assert page.evaluate("window.stillTheSamePage") is True
