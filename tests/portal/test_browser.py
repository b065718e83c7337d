"""Stories told through a real browser: Debian's chromium, driven by Playwright, against the
live server with the demo world. Each story leaves screenshots of the pages it visits in
`screenshots/` for people to look at."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from portal import demo

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser(django_db_setup):
    """One chromium for this module's stories.

    Playwright's sync API keeps its event loop running in this thread for as long as it is
    started, and Django refuses database work in a thread with a running loop. So the browser
    lives for this module only (a later test, or anything calling async_to_sync, must not find
    the loop), and for that time the database work the tests do themselves (the world, the
    flush after each transactional test) is allowed beside it. The live server answers the
    browser from its own thread, where no loop runs."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server, world) -> Page:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"browser-{name}.png", full_page=True)


def log_in(page: Page, *, email: str, password: str = demo.PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def open_from_menu(page: Page, label: str) -> None:
    page.get_by_role("banner").get_by_role("link", name=label, exact=True).click()


def test_the_northwind_lead_logs_in_and_sees_the_production_servers(page: Page):
    log_in(page, email="lead@northwind.example")
    expect(page.get_by_role("banner")).to_contain_text("Olivia Bennett")
    open_from_menu(page, "My organisation")

    expect(page.get_by_role("heading", level=1)).to_have_text("Northwind University")
    expect(page).to_have_url(re.compile(r"/organisations/northwind/$"))
    screenshot(page, "northwind-organisation")

    page.get_by_role("link", name="Production").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Production")
    groups = page.locator("article").filter(has=page.locator("header", has_text=re.compile(r"^Group \d$")))
    expect(groups).to_have_count(2)
    for position, group in enumerate(groups.all(), start=1):
        expect(group.locator("header")).to_have_text(f"Group {position}")
        expect(group.get_by_role("cell", name=f"cpadmin{position:02d}.northwind.example")).to_be_visible()
        expect(group.get_by_role("cell", name=f"cpstream{position:02d}.northwind.example")).to_be_visible()
    assert_no_secret(page)
    screenshot(page, "northwind-deployment")


def test_a_wrong_password_shows_an_error_and_stays_on_the_log_in_page(page: Page):
    log_in(page, email="lead@northwind.example", password="not-the-password")

    expect(page.get_by_role("alert")).to_contain_text("e-mail address and password do not match")
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_label("E-mail address")).to_have_value("lead@northwind.example")
    expect(page.get_by_label("Password")).to_have_value("")
    screenshot(page, "login-wrong-password")


def test_support_finds_contoso_and_sees_the_legacy_tls_warning(page: Page):
    log_in(page, email="support@vendor.example")
    expect(page.get_by_role("banner")).to_contain_text("Sam Okafor")
    open_from_menu(page, "Organisations")
    expect(page.get_by_role("heading", level=1)).to_have_text("Organisations")
    results = page.locator("#results")
    expect(results.get_by_role("link", name="Northwind University")).to_be_visible()

    # A full page load would drop this mark; an htmx swap keeps it.
    page.evaluate("window.stillTheSamePage = true")
    page.get_by_role("searchbox", name="Search organisations").press_sequentially("Conto")

    expect(page).to_have_url(re.compile(r"/organisations/\?q=Conto$"))
    expect(results.get_by_role("link", name="Contoso College")).to_be_visible()
    expect(results.get_by_role("link", name="Northwind University")).to_have_count(0)
    assert page.evaluate("window.stillTheSamePage") is True
    screenshot(page, "support-organisation-search")

    results.get_by_role("link", name="Contoso College").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Contoso College")
    page.get_by_role("link", name="Production").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Production")
    expect(page.get_by_role("alert").filter(has_text="A10 load balancer allowing TLS 1.0")).to_be_visible()
    assert_no_secret(page)
    screenshot(page, "contoso-deployment")


def assert_no_secret(page: Page) -> None:
    html = page.content()
    assert "demo-ssh-secret" not in html
    assert "gAAAAA" not in html  # how every Fernet token begins
