"""Pages pass axe-core's WCAG 2.1 A and AA rules (axe-core vendored under tests/vendor/), as each
person who uses them sees them: every page of the tenancy matrix (tests/portal/test_tenancy.py)
as each persona it answers 200 to, and a run's pages in the states a run passes through."""

import pytest
from django.conf import settings
from django.urls import reverse

from tests.axe import violations
from tests.conftest import BROWSER_ACCEPT, live_context, log_in
from tests.factories import RunFactory
from tests.portal.test_tenancy import MATRIX, PERSONAS, northwind_rows  # noqa: F401 (a fixture)
from tests.upgrades.runs import confirmed_window
from upgrades.models import Release

pytestmark = pytest.mark.browser


@pytest.fixture
def run(northwind_deployment, engineer, customer):
    """Northwind's upgrade to 10.0.0, its window open and its run waiting for the engineer."""
    return RunFactory(window=confirmed_window(northwind_deployment, Release.objects.get(version="10.0.0"),
                                              engineer=engineer, customer=customer))


NORTHWIND_RUN = [
    lambda run: ("run-live", run.pk), lambda run: ("run-report", run.pk),
    lambda run: ("window-detail", run.window_id), lambda run: ("request-detail", run.request_id),
]
# Setting up a customer, and a deployment's page with its runs.
SETTING_UP = [
    "organisation-create", ("deployment-create", "northwind"), lambda run: ("deployment-servers", run.deployment_id),
    ("setup-contacts", "northwind"), lambda run: ("deployment-detail", run.deployment_id),
]
PAGES = {
    None: ["login", "password_reset"],
    "lead@northwind.example": [
        "request-list", ("organisation-detail", "northwind"), ("low-usage-hours", "northwind"),
        "account-security", "account-notices", "release-list", ("release-detail", "10.0.0"), *NORTHWIND_RUN,
    ],
    "support@vendor.example": ["waiting-for-me", "account-notices", "organisation-list", "request-list", "windows",
                               ("organisation-detail", "contoso"), *NORTHWIND_RUN, *SETTING_UP],
    "engineer@vendor.example": ["my-windows", *NORTHWIND_RUN],
    "admin@vendor.example": ["demo-rearm"],
}


@pytest.mark.parametrize("person", list(PAGES), ids=lambda person: person or "anonymous")
def test_pages_pass_wcag_21_aa(page, person, run):
    if person:
        log_in(page, person)
    found = {}
    for name in PAGES[person]:
        name = name(run) if callable(name) else name
        url = reverse(name) if isinstance(name, str) else reverse(name[0], args=name[1:])
        page.goto(url)
        if problems := violations(page):
            found[url] = problems
    assert found == {}


# Pages of the tenancy matrix that are not pages: an event stream never finishes loading.
NOT_PAGES = {"run-events"}
# Pages drawn by their scripts after loading: checked once this shows.
DRAWN = {"api-docs": ".opblock"}


def signed_in_as(context, client_for, user, base_url: str) -> None:
    """Give the browser the session of a test client logged in as `user` (with their second
    factor): the log-in page itself is checked above, once per kind of person."""
    client = client_for(user)
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                          "url": base_url}])


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_page_of_the_tenancy_matrix_passes_as_each_person_who_may_see_it(
    browser, live_server, client_for, request, persona, northwind_rows,
):
    context = live_context(browser, live_server)
    if persona != "anonymous":
        signed_in_as(context, client_for, request.getfixturevalue(persona), live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    found, checked = {}, []
    for name, (arguments, statuses) in sorted(MATRIX.items()):
        if statuses[persona] != 200 or name in NOT_PAGES:
            continue
        url = reverse(name, kwargs=arguments(northwind_rows) if arguments else None)
        # Files (the schema, attachments, .ics, the notice) are downloads, not pages.
        head = context.request.get(url, headers={"Accept": BROWSER_ACCEPT})
        assert head.status == 200, f"{persona} GET {url}"
        if not head.headers.get("content-type", "").startswith("text/html"):
            continue
        page.goto(url)
        if name in DRAWN:
            page.locator(DRAWN[name]).first.wait_for()
        checked.append(url)
        if problems := violations(page):
            found[url] = problems
    context.close()
    assert checked, "no page checked"
    assert found == {}
