"""Booking the window in a real browser (Debian's chromium through Playwright, against the live
server): the customer opens the scheduling link, reads the free slots in another time zone,
books, and gets the confirmation and the notice to forward (S6, S7, S8); support finds the
window in the staff calendar.

Screenshots: `screenshots/booking-*.png`.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect

from portal.models import User
from scheduling.models import MaintenanceWindow
from scheduling.services.links import link_issue, link_token
from tests.conftest import live_context, log_in, open_from_menu, save_screenshot
from tests.dates import FRIDAY
from tests.scheduling.stories import approve

pytestmark = [pytest.mark.browser, pytest.mark.day(FRIDAY)]


@pytest.fixture
def open_page(browser: Browser, live_server, world):
    contexts = []

    def make(zone: str = "Europe/London") -> Page:
        # The browser's own clock: the booking page starts from it until the person chooses one.
        context = live_context(browser, live_server, timezone_id=zone)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def book_path(world):
    """An approved Northwind upgrade and its scheduling link (approval has its own stories)."""
    from portal.models import Deployment
    from upgrades.models import Release

    customer = User.objects.get(email="lead@northwind.example")
    release = Release.objects.get(version="10.0.0")
    upgrade = approve(Deployment.objects.get(organisation__slug="northwind", name="Production"), by=customer,
                      release=release)
    link = link_issue(upgrade=upgrade, by=User.objects.get(email="support@vendor.example"))
    return reverse("book", args=[link_token(link)])


def test_a_zone_typed_and_sent_with_enter_redraws_the_slots_once(open_page, book_path):
    """Enter in the zone field commits the value ("change") and sends the form ("submit"): one
    redraw, not two, so a slot chosen right after is not wiped by a late second answer."""
    customer = open_page()
    log_in(customer, "lead@northwind.example")
    customer.goto(book_path)
    expect(customer.locator(".earliest-slot")).to_contain_text("Earliest free slot")
    customer.evaluate("""() => { window.redraws = 0;
        document.body.addEventListener("htmx:afterSwap", (event) => {
            if (event.detail.target.id === "booking") window.redraws += 1; }); }""")

    zone = customer.get_by_label("Times shown in")
    zone.fill("America/New_York")
    zone.press("Enter")
    expect(customer.locator("#booking")).to_contain_text("Times are in America/New_York")
    customer.wait_for_load_state("networkidle")
    assert customer.evaluate("window.redraws") == 1

    customer.locator("table.slot-grid.standard button.slot").first.click()
    confirm = customer.locator(".slot-confirm")
    expect(confirm.get_by_role("heading")).to_have_text("Book this time?")
    customer.wait_for_load_state("networkidle")
    expect(confirm.get_by_role("heading")).to_have_text("Book this time?")


def test_the_customer_books_a_window_and_support_sees_it(open_page, book_path):
    customer = open_page()
    log_in(customer, "lead@northwind.example")
    customer.goto(book_path)
    expect(customer.get_by_role("heading", level=1)).to_have_text("Book the maintenance window")

    # A standard slot of the next seven days (well before the customer's cut-off), read first by
    # the London clock.
    expect(customer.locator(".earliest-slot")).to_contain_text("Earliest free slot")
    week = customer.locator(".week-nav strong")
    this_week = week.inner_text()
    customer.get_by_role("link", name="Next 7 days →").click()
    expect(week).not_to_have_text(this_week)
    slot = customer.locator("table.slot-grid.standard button.slot").first
    start = slot.get_attribute("value")
    london, new_york = (
        datetime.fromisoformat(start).astimezone(ZoneInfo(zone)).strftime("%H:%M")
        for zone in ("Europe/London", "America/New_York")
    )
    expect(slot).to_have_text(london)
    save_screenshot(customer, "booking-1-free-slots-london")

    # The zone changes in place (htmx): the same instant, another clock.
    zone = customer.get_by_label("Times shown in")
    zone.fill("America/New_York")
    zone.press("Enter")
    expect(customer.locator(f'button.slot[value="{start}"]')).to_have_text(new_york)
    expect(customer.locator("#booking")).to_contain_text("Times are in America/New_York")
    save_screenshot(customer, "booking-2-free-slots-new-york")

    # Two steps: the slot clicked is summed up to confirm, and nothing is booked yet.
    customer.locator(f'button.slot[value="{start}"]').click()
    confirm = customer.locator(".slot-confirm")
    expect(confirm.get_by_role("heading")).to_have_text("Book this time?")
    expect(confirm.get_by_role("heading")).to_be_focused()
    expect(confirm).to_contain_text(new_york)
    expect(confirm).to_contain_text("Europe/London")  # the organisation's clock too
    expect(confirm).to_contain_text("Olivia Bennett")
    save_screenshot(customer, "booking-2b-confirm-the-choice")
    assert not MaintenanceWindow.objects.exists()
    customer.get_by_role("button", name="Choose another").click()
    expect(customer.locator(f'button.slot[value="{start}"]')).to_be_visible()
    assert not MaintenanceWindow.objects.exists()

    # By keyboard this time: the slots are buttons.
    customer.locator(f'button.slot[value="{start}"]').focus()
    customer.keyboard.press("Enter")
    expect(confirm.get_by_role("heading")).to_be_focused()
    customer.get_by_label("Note for support and the engineer").fill("Call Rahul on the day.")
    customer.get_by_role("button", name="Confirm booking").click()
    expect(customer.get_by_role("status").first).to_contain_text("Your window is booked")
    summary = customer.locator(".window-summary")
    expect(summary).to_contain_text("Booked and confirmed")
    expect(summary).to_contain_text(new_york)
    expect(summary).to_contain_text("America/New_York")
    notice = customer.locator("textarea.notice-text")
    expect(notice).to_have_value(containing("Service at risk / limited capability from"))
    expect(notice).to_have_value(containing("Service downtime from about"))
    customer.get_by_role("button", name="Copy").click()
    expect(customer.get_by_role("button", name="Copied")).to_be_visible()
    save_screenshot(customer, "booking-3-booked-with-the-notice")

    window = MaintenanceWindow.objects.get()
    assert window.start.isoformat() == start and window.note == "Call Rahul on the day."

    desk = open_page()
    log_in(desk, "support@vendor.example")
    open_from_menu(desk, "Windows")
    desk.goto(f"/windows/?week={window.start.date().isoformat()}")
    block = desk.locator(f'a.window-block[href="/windows/{window.pk}/"]')
    expect(block).to_contain_text("Northwind University")
    expect(block).to_contain_text("Confirmed")
    save_screenshot(desk, "booking-4-staff-calendar-week")
    desk.get_by_role("button", name="List").click()
    expect(desk.locator("table.window-list")).to_contain_text("Northwind University")
    save_screenshot(desk, "booking-5-staff-calendar-list")
    desk.locator(f'table.window-list a[href="/windows/{window.pk}/"]').click()
    expect(desk.get_by_role("heading", level=1)).to_have_text("Maintenance window")
    expect(desk.locator(".notices")).to_contain_text("@northwind.example")
    save_screenshot(desk, "booking-6-window-page")


def containing(text: str):
    """A pattern for to_have_value: the value contains `text`."""
    import re

    return re.compile(re.escape(text))


def test_a_link_of_another_organisation_opens_a_clear_page(open_page, book_path):
    outsider = open_page()
    log_in(outsider, "lead@contoso.example")
    outsider.goto(book_path)

    expect(outsider.get_by_text("This link cannot be used")).to_be_visible()
    expect(outsider.locator("button.slot")).to_have_count(0)


def test_the_page_starts_on_the_browsers_clock_and_takes_a_typed_zone(open_page, book_path):
    customer = open_page("Asia/Tokyo")
    log_in(customer, "lead@northwind.example")
    customer.goto(book_path)

    zone = customer.get_by_label("Times shown in")
    expect(zone).to_have_value("Asia/Tokyo")
    expect(customer.locator("#booking")).to_contain_text("Times are in Asia/Tokyo")
    slot = customer.locator("table.slot-grid.standard button.slot").first
    start = datetime.fromisoformat(slot.get_attribute("value"))
    expect(slot).to_have_text(start.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%H:%M"))
    assert customer.locator("#time-zones option").count() > 300  # the browser's own list, searchable
    save_screenshot(customer, "booking-0-browser-zone")

    zone.fill("Nowhere/Land")
    zone.press("Enter")
    expect(customer.get_by_role("alert")).to_contain_text("“Nowhere/Land” is not a known time zone")

    zone.fill("America/Chicago")
    zone.press("Enter")
    expect(customer.locator("#booking")).to_contain_text("Times are in America/Chicago")


def test_support_books_the_check_on_the_week_grid_in_both_clocks(open_page, in_review, northwind):
    northwind.time_zone = "America/New_York"
    northwind.save()
    desk = open_page()
    log_in(desk, "support@vendor.example")
    desk.goto(f"/requests/{in_review.pk}/")

    desk.locator("summary", has_text="Schedule the prerequisite check").click()
    slot = desk.locator("form.check-grid button.slot").first
    start = datetime.fromisoformat(slot.get_attribute("value"))
    expect(slot).to_contain_text(start.astimezone(ZoneInfo("Europe/London")).strftime("%H:%M"))
    expect(slot.locator("small")).to_have_text(start.astimezone(ZoneInfo("America/New_York")).strftime("%H:%M"))
    save_screenshot(desk, "booking-7-support-books-the-check")
    slot.click()

    expect(desk.get_by_role("status").first).to_contain_text("The prerequisite check is scheduled")
    assert in_review.windows.get().start == start


def booked_a_week_out() -> MaintenanceWindow:
    """Northwind's approved upgrade, booked by its lead in the first standard slot a week out."""
    from datetime import timedelta

    from django.utils import timezone

    from scheduling.selectors import slots_for
    from scheduling.services.booking import window_book
    from upgrades.models import UpgradeRequest

    upgrade = UpgradeRequest.objects.get(deployment__organisation__slug="northwind", deployment__name="Production",
                                         state="approved")
    slot = next(slot for slot in slots_for(upgrade=upgrade)
                if slot.standard and slot.start > timezone.now() + timedelta(days=7))
    return window_book(upgrade=upgrade, start=slot.start, engineer_ids=list(slot.engineer_ids), cover="standard",
                       by=User.objects.get(email="lead@northwind.example"))


def test_the_customer_moves_the_window_from_its_page_in_two_steps(open_page, book_path):
    window = booked_a_week_out()
    booked = window.start
    customer = open_page()
    log_in(customer, "lead@northwind.example")
    customer.goto(f"/windows/{window.pk}/")

    customer.get_by_role("button", name="Move to another time").click()
    current = customer.locator(".slot.current")
    for _ in range(6):
        if current.count():
            break
        customer.get_by_role("link", name="Next 7 days →").click()
    expect(current).to_contain_text(booked.astimezone(ZoneInfo("Europe/London")).strftime("%H:%M") + " current")
    save_screenshot(customer, "booking-8-move-from-the-window-page")

    other = customer.locator("form.slot-calendar-form button.slot.standard").first
    other_start = other.get_attribute("value")
    other.click()
    expect(customer.get_by_role("heading", name="Move the window to this time?")).to_be_focused()
    customer.get_by_role("button", name="Choose another").click()
    expect(customer.locator(".slot.current")).to_be_visible()
    assert MaintenanceWindow.objects.get().start == booked

    customer.locator(f'button.slot[value="{other_start}"]').click()
    customer.get_by_label("Note for support and the engineer").fill("Exams that week")
    customer.get_by_role("button", name="Confirm the move").click()
    expect(customer.get_by_role("status").first).to_contain_text("The window is moved")
    assert MaintenanceWindow.objects.get().start.isoformat() == other_start


def test_the_customer_cancels_the_window_and_is_offered_the_cancellation_for_their_users(open_page, book_path):
    window = booked_a_week_out()
    customer = open_page()
    log_in(customer, "lead@northwind.example")
    customer.goto(f"/windows/{window.pk}/")
    notice = customer.locator("section.forward-notice")
    expect(notice.get_by_role("heading")).to_have_text("Notice for your service users")

    customer.locator("summary", has_text="Cancel the window").click()
    customer.get_by_label("Why is it cancelled?").fill("Our exams were moved to that week")
    customer.get_by_role("button", name="Cancel the window").click()

    expect(customer.get_by_role("status").first).to_contain_text("The window is cancelled")
    expect(notice.get_by_role("heading")).to_have_text("Cancellation notice for your service users")
    expect(notice.locator("textarea")).to_contain_text("Maintenance of Production cancelled")
    expect(notice.locator("textarea")).not_to_contain_text("will be upgraded")
    with customer.expect_download() as download:
        notice.get_by_role("link", name="Download (.txt)").click()
    assert download.value.suggested_filename.startswith("maintenance-cancellation-northwind-")
    save_screenshot(customer, "booking-9-cancelled-window-offers-its-cancellation")
