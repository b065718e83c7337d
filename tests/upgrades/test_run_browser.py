"""The live page in a real browser, two people on the same URL: the engineer starts the run and
confirms the functionality tests, the customer watches the phase change live, confirms as the
administrator and signs off; then both open the report. A real worker, the lab fleet over HTTP,
and the live server (WSGI: the page follows the events by polling, as live.js falls back to)."""

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import save_screenshot, watcher
from tests.upgrades.runs import confirmed_window, lab_deployment
from upgrades.choices import RunState
from upgrades.services.plans import run_create

pytestmark = pytest.mark.browser
LIVE = 45_000  # ms: a step's news reaches the page at the next poll


def confirm_tests(engineer: Page, customer: Page) -> None:
    """Both sides confirm the functionality tests that wait for them (S12)."""
    engineer.get_by_role("button", name="Confirm as engineer").click(timeout=LIVE)
    expect(engineer.get_by_role("status").first).to_contain_text("Your confirmation is recorded")
    customer.get_by_role("button", name="Confirm as administrator").click(timeout=LIVE)
    expect(customer.get_by_role("status").first).to_contain_text("Your confirmation is recorded")


def test_engineer_and_customer_drive_a_major_upgrade_to_its_sign_off(browser, live_server, workers, start_lab,
                                                                     northwind, major, engineer, customer):
    deployment, lab = lab_deployment(start_lab, northwind, groups=2, name="Browser lab")
    run = run_create(window=confirmed_window(deployment, major, engineer=engineer, customer=customer))
    erin = watcher(browser, live_server, "engineer@vendor.example")
    olivia = watcher(browser, live_server, "lead@northwind.example")
    for page in (erin, olivia):
        page.goto(f"/runs/{run.pk}/")
    expect(olivia.locator("#run-phase")).to_contain_text("Preparing: the service is not affected yet")
    expect(olivia.get_by_role("button", name="Start the upgrade")).to_have_count(0)

    # S11, immediately before: the customer's snapshots, the engineer's backup, the preflight.
    erin.get_by_role("button", name="Start the upgrade").click()
    expect(erin.get_by_role("status").first).to_contain_text("Not ready to start")
    olivia.get_by_role("button", name="The snapshots are taken").click()
    expect(olivia.get_by_role("status").first).to_contain_text("Recorded: VM snapshots taken")
    erin.get_by_role("button", name="I took the StreamDB backup").click()
    erin.get_by_role("button", name="Run the preflight").click()
    expect(erin.locator(".readiness-list")).to_contain_text("Every server (4) answers", timeout=LIVE)
    expect(olivia.locator(".readiness-list")).to_contain_text("Every server (4) answers", timeout=LIVE)
    save_screenshot(erin, "run-live-engineer-ready")

    erin.get_by_role("button", name="Start the upgrade").click()
    expect(erin.get_by_role("status").first).to_contain_text("The upgrade has started")

    confirm_tests(erin, olivia)  # before the upgrade
    confirm_tests(erin, olivia)  # against group 2 while group 1 is out
    # The customer does nothing: the page follows the run into the downtime on its own.
    expect(olivia.locator("#run-phase")).to_contain_text("Downtime: the service is unavailable", timeout=LIVE)
    expect(olivia.locator("#run-log li").last).not_to_have_class("empty")
    save_screenshot(olivia, "run-live-customer-downtime")
    erin.reload()
    save_screenshot(erin, "run-live-engineer-downtime")

    confirm_tests(erin, olivia)  # against group 1, upgraded
    confirm_tests(erin, olivia)  # against group 2, upgraded
    confirm_tests(erin, olivia)  # final
    olivia.get_by_label("Comment").fill("Tested from the library PCs: all good.", timeout=LIVE)
    expect(olivia.get_by_label("Your name")).to_have_value("Olivia Bennett")
    save_screenshot(olivia, "run-live-customer-sign-off")
    olivia.get_by_role("button", name="Sign off the upgrade").click()

    expect(olivia.get_by_role("status").first).to_contain_text("Signed off")
    expect(olivia.locator("#run-phase")).to_contain_text("Full service restored")
    run.refresh_from_db()
    assert run.state == RunState.COMPLETED
    expect(erin.locator("#run-phase")).to_contain_text("Full service restored", timeout=LIVE)
    save_screenshot(erin, "run-live-engineer-completed")

    olivia.get_by_role("link", name="Read the report").click()
    expect(olivia.get_by_role("heading", level=1)).to_contain_text("Upgrade report")
    expect(olivia.locator(".compare")).to_contain_text("Downtime")
    expect(olivia.locator("#log")).to_contain_text("cpadmin01.browser-lab.example")
    save_screenshot(olivia, "run-report")
