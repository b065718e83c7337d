"""The lab fleet's staff page in a real browser: an engineer breaks a server for a demonstration
and watches the load balancer take it out of the pool."""

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import log_in, save_screenshot

pytestmark = pytest.mark.browser


def test_an_engineer_crashes_a_lab_server_and_sees_it_leave_the_pool(page: Page, northwind_lab, northwind_deployment):
    log_in(page, "engineer@vendor.example")
    page.goto(f"/deployments/{northwind_deployment.pk}/")
    page.get_by_role("link", name="lab fleet").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Lab fleet")
    row = page.get_by_role("row").filter(has_text="cpadmin02.northwind.example")
    expect(row).to_contain_text("Cloudpaging 9.4.2")
    expect(row).to_contain_text("in the pool")
    save_screenshot(page, "lab-fleet")

    row.get_by_role("button", name="Crash").click()

    expect(page.get_by_role("status")).to_contain_text("Crash: done on cpadmin02.northwind.example")
    # The table refreshes itself (htmx, every 2 s) as the load balancer's checks see the crash.
    expect(page.get_by_role("row").filter(has_text="cpadmin02.northwind.example")).to_contain_text("out of the pool")
    save_screenshot(page, "lab-fleet-crashed")
