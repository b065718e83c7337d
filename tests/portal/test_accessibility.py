"""Pages pass axe-core's WCAG 2.1 A and AA rules (axe-core vendored under tests/vendor/), as each
person who uses them sees them."""

from pathlib import Path

import pytest
from django.urls import reverse

from tests.conftest import log_in
from tests.factories import RunFactory
from tests.upgrades.runs import confirmed_window
from upgrades.models import Release

pytestmark = pytest.mark.browser
AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe-core" / "axe-4.14.1.min.js"
LEVELS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture
def axe_page(browser, live_server, world):
    """A laptop-sized tab whose pages axe can be run in (the portal's policy allows no script
    but its own: this tab does not enforce it)."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900},
                                  bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("levels => axe.run(document, {runOnly: {type: 'tag', values: levels}})"
                          ".then(result => result.violations.map(v => v.id + ': ' + v.help + ' at '"
                          " + v.nodes.map(n => n.target.join(' ')).slice(0, 5).join(', ')))", LEVELS)
    return found


@pytest.fixture
def run(northwind_deployment, engineer, customer):
    """Northwind's upgrade to 10.0.0, its window open and its run waiting for the engineer."""
    return RunFactory(window=confirmed_window(northwind_deployment, Release.objects.get(version="10.0.0"),
                                              engineer=engineer, customer=customer))


NORTHWIND_RUN = [
    lambda run: ("run-live", run.pk), lambda run: ("run-report", run.pk),
    lambda run: ("window-detail", run.window_id), lambda run: ("request-detail", run.request_id),
]
PAGES = {
    None: ["login", "password_reset"],
    "lead@northwind.example": [
        "request-list", ("organisation-detail", "northwind"), ("low-usage-hours", "northwind"),
        "account-security", "release-list", ("release-detail", "10.0.0"), *NORTHWIND_RUN,
    ],
    "support@vendor.example": ["organisation-list", "request-list", "windows", ("organisation-detail", "contoso"),
                               *NORTHWIND_RUN],
    "engineer@vendor.example": ["my-windows", *NORTHWIND_RUN],
    "admin@vendor.example": ["demo-rearm"],
}


@pytest.mark.parametrize("person", list(PAGES), ids=lambda person: person or "anonymous")
def test_pages_pass_wcag_21_aa(axe_page, person, run):
    if person:
        log_in(axe_page, person)
    found = {}
    for name in PAGES[person]:
        name = name(run) if callable(name) else name
        url = reverse(name) if isinstance(name, str) else reverse(name[0], args=name[1:])
        axe_page.goto(url)
        if problems := violations(axe_page):
            found[url] = problems
    assert found == {}
