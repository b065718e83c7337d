"""Each role, from the log-in page to its first task done, only by clicking what the portal shows
(Debian's chromium through Playwright, against the live server), on data the portal's own
services made: the customer requests the upgrade on offer; support confirms the out-of-hours
window a customer booked; the engineer opens the run of the window assigned to them.

Screenshots: `screenshots/home-*.png`.
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from portal.models import Deployment, User
from scheduling.choices import Cover, WindowState
from scheduling.models import MaintenanceWindow
from scheduling.services.booking import window_book
from scheduling.services.links import link_issue
from scheduling.services.windows import window_confirm
from tests.conftest import live_context, log_in, save_screenshot
from tests.dates import FRIDAY
from tests.portal.test_accessibility import violations
from tests.scheduling.stories import approve
from upgrades.models import Release, UpgradeRequest

pytestmark = [pytest.mark.browser, pytest.mark.day(FRIDAY)]


def menu_entry(page: Page, label: str):
    return page.get_by_role("banner").get_by_role("link", name=re.compile(rf"^{re.escape(label)}"))


@pytest.fixture
def production(world) -> Deployment:
    return Deployment.objects.get(organisation__slug="northwind", name="Production")


@pytest.fixture
def out_of_hours_window(production) -> MaintenanceWindow:
    """Northwind's lead asks for an out-of-hours window (07:00 UTC, a week ahead) with the link
    support issued, through the portal's services (approval has stories of its own)."""
    customer = User.objects.get(email="lead@northwind.example")
    upgrade = approve(production, by=customer, release=Release.objects.get(version="10.0.0"))
    link_issue(upgrade=upgrade, by=User.objects.get(email="support@vendor.example"))
    start = (timezone.now() + timedelta(days=7)).replace(hour=7, minute=0, second=0, microsecond=0)
    return window_book(upgrade=upgrade, start=start, engineer_ids=[User.objects.get(email="engineer@vendor.example").pk],
                       cover=Cover.OUT_OF_HOURS, by=customer)


def test_the_customer_requests_the_release_on_offer_from_their_home(page: Page, production):
    log_in(page, "lead@northwind.example")

    expect(page.get_by_role("heading", level=1)).to_have_text("My upgrades")
    card = page.locator("article.deployment-home", has=page.get_by_role("heading", name="Production"))
    expect(card).to_contain_text("10.0.0 is available")
    save_screenshot(page, "home-customer")
    card.get_by_role("button", name="Request the upgrade to 10.0.0").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Production: 9.4.2 → 10.0.0")
    upgrade = UpgradeRequest.objects.get(deployment=production)
    assert page.url.endswith(f"/requests/{upgrade.pk}/")

    # Home again, from the menu: the offer has become the request and what it waits for.
    menu_entry(page, "My upgrades").click()
    expect(card).to_contain_text("Waiting for you")
    expect(card.get_by_role("button", name=re.compile("Request the upgrade"))).to_have_count(0)
    save_screenshot(page, "home-customer-requested")


def test_support_confirms_the_out_of_hours_window_waiting_in_the_inbox(page: Page, out_of_hours_window):
    log_in(page, "support@vendor.example")

    expect(page.get_by_role("heading", level=1)).to_have_text("Waiting for me")
    expect(menu_entry(page, "Waiting for me")).to_have_text(re.compile(r"Waiting for me\s*1$"))
    inbox = page.locator("section", has=page.get_by_role("heading", name=re.compile("Out-of-hours windows to confirm")))
    expect(inbox).to_contain_text("Northwind University")
    save_screenshot(page, "home-support")
    inbox.get_by_role("link").first.click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Maintenance window")
    page.get_by_role("button", name="Confirm the window").click()

    expect(page.get_by_role("status").first).to_be_visible()
    out_of_hours_window.refresh_from_db()
    assert out_of_hours_window.state == WindowState.CONFIRMED
    menu_entry(page, "Waiting for me").click()
    expect(menu_entry(page, "Waiting for me")).to_have_text("Waiting for me")
    expect(page.get_by_role("heading", name=re.compile("Out-of-hours windows"))).to_have_count(0)


def test_the_engineer_lands_on_their_windows_and_opens_the_run(page: Page, out_of_hours_window):
    window_confirm(window=out_of_hours_window, by=User.objects.get(email="support@vendor.example"))

    log_in(page, "engineer@vendor.example")

    expect(page.get_by_role("heading", level=1)).to_have_text("My windows")
    expect(menu_entry(page, "My windows")).to_have_text(re.compile(r"My windows\s*1$"))
    row = page.locator("tr", has_text="Northwind University")
    save_screenshot(page, "home-engineer")
    row.get_by_role("link", name="Live page").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Northwind University: upgrade to 10.0.0")


@pytest.fixture
def axe_page(browser, live_server, world):
    """A tab that lets axe's script in (as tests/portal/test_accessibility.py's does)."""
    context = live_context(browser, live_server, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def test_the_homes_pass_wcag_21_aa(axe_page: Page, out_of_hours_window):
    """The homes with something in them: the customer's request waiting for support, a failure
    nobody has taken and the window in support's inbox."""
    from tests.factories import DeploymentFactory, RunFactory
    from upgrades.choices import RunState, StepState

    run = RunFactory(state=RunState.PAUSED, window__request__deployment=DeploymentFactory(server_groups=2))
    run.steps.filter(pk=run.steps.order_by("position").first().pk).update(state=StepState.FAILED)
    found = {}
    for email in ("lead@northwind.example", "support@vendor.example", "engineer@vendor.example"):
        log_in(axe_page, email)
        found[email] = violations(axe_page)
        axe_page.get_by_role("button", name="Log out").click()
    assert found == {email: [] for email in found}
