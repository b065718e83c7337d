"""Every response carries a Content-Security-Policy: the portal's pages allow no inline script or
style at all, the API and the admin (whose own templates carry style attributes) no inline
script; and in a real browser no page of either breaks the policy."""

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from portal.middleware import POLICY, THIRD_PARTY_POLICY
from tests.conftest import BROWSER_ACCEPT, log_in
from tests.upgrades.runs import open_run


def test_the_portals_pages_allow_nothing_inline(client_for, support):
    policy = client_for(support).get(reverse("request-list"))["Content-Security-Policy"]

    assert "script-src 'self';" in policy and "style-src 'self';" in policy
    assert "unsafe-inline" not in policy


@pytest.mark.parametrize("url", ["/api/v1/", "/api/v1/requests/", "/api/docs/", "/admin/"])
def test_the_api_and_the_admin_carry_a_policy_too(client_for, admin_user, url):
    response = client_for(admin_user).get(url, HTTP_ACCEPT=BROWSER_ACCEPT)

    assert response.status_code == 200
    assert response["Content-Security-Policy"] == THIRD_PARTY_POLICY
    assert "script-src 'self';" in THIRD_PARTY_POLICY and "unsafe-inline" not in POLICY


def _visit_all(page: Page, paths: list[str]) -> list[str]:
    broken = []
    page.on("console", lambda message: broken.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text else None)
    for path in paths:
        page.goto(path)
        page.wait_for_load_state("networkidle")
    return broken


@pytest.mark.browser
def test_no_page_breaks_the_policy_in_a_browser(page: Page, northwind_deployment, release, customer):
    run = open_run(deployment=northwind_deployment, release=release, by=customer)
    upgrade = run.request
    log_in(page, "admin@vendor.example")

    broken = _visit_all(page, [
        "/organisations/", "/organisations/northwind/", reverse("request-list"),
        reverse("request-detail", args=[upgrade.pk]), reverse("windows"), reverse("run-live", args=[run.pk]),
        reverse("run-report", args=[run.pk]), "/admin/", "/admin/portal/organisation/", "/api/v1/", "/api/docs/",
    ])

    assert broken == []
    expect(page.locator("#swagger-ui")).to_contain_text("Upgrade portal API")  # its set-up ran as a file
