"""Stories told through a real browser: Debian's chromium, driven by Playwright, against the
live server with the demo world. Each story leaves screenshots of the pages it visits in
`screenshots/` for people to look at."""

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import log_in, open_account_page, open_from_menu, save_screenshot, submit_log_in

pytestmark = pytest.mark.browser


def screenshot(page: Page, name: str) -> None:
    save_screenshot(page, f"browser-{name}")


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
    submit_log_in(page, email="lead@northwind.example", password="not-the-password")

    expect(page.get_by_role("alert")).to_contain_text("e-mail address and password do not match")
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_label("E-mail address", exact=True)).to_have_value("lead@northwind.example")
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


def test_a_person_makes_a_token_uses_it_once_shown_and_revokes_it(page: Page, live_server):
    log_in(page, email="lead@northwind.example")
    open_account_page(page, "Sign-in, tokens and sessions")
    expect(page.get_by_role("heading", level=1)).to_have_text("Tokens and sessions")
    expect(page.get_by_role("cell", name="Chrome on Linux this session")).to_be_visible()

    # By keyboard: open the form, name the token, make it read-only, send it with Enter.
    page.get_by_text("Make a new token").focus()
    page.keyboard.press("Enter")
    page.get_by_label("Name").fill("Inventory script")
    page.get_by_label("Read only").check()
    page.get_by_label("Expires after (days)").fill("30")
    page.get_by_label("Expires after (days)").press("Enter")

    key_field = page.get_by_label("The new token's key")
    expect(key_field).to_be_focused()
    key = key_field.input_value()
    assert key.startswith("pt_")
    screenshot(page, "token-made")

    api = f"{live_server.url}/api/v1/organisations/"
    answer = httpx.get(api, headers={"Authorization": f"Token {key}"})
    assert answer.status_code == 200
    assert [row["slug"] for row in answer.json()["results"]] == ["northwind"]

    page.goto("/account/security/")
    row = page.get_by_role("row", name=re.compile("Inventory script"))
    expect(row).to_contain_text(key[:10])
    expect(row).to_contain_text("Read only")
    assert key not in page.content()

    row.get_by_role("button", name="Revoke the token Inventory script").click()
    expect(page.get_by_role("status")).to_contain_text("“Inventory script” was revoked")
    expect(page.get_by_role("row", name=re.compile("Inventory script"))).to_contain_text("Revoked")
    screenshot(page, "token-revoked")

    refused = httpx.get(api, headers={"Authorization": f"Token {key}"})
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]


def test_first_loads_ask_for_nothing_that_is_not_there(page: Page):
    """The log-in page and Django admin's, loaded fresh: no request answers 404 (the icon, say)."""
    missing = []
    page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)

    page.goto("/accounts/login/")
    page.goto("/admin/login/")
    page.wait_for_load_state("networkidle")

    assert missing == []
    assert page.evaluate("fetch('/favicon.ico').then(answer => answer.ok && answer.url.endsWith('.svg'))")
