"""Support registers a new deployment of Northwind's and its servers, then corrects them on the
same page: a mistyped address is fixed (a bad port first comes back with the reason and what was
typed), and a server registered by mistake is removed, with the group it leaves empty. The
deployment's page shows the servers as they are now and who changed them."""

import pytest
from playwright.sync_api import expect

from portal import credentials
from portal.models import Deployment, Server, User
from tests.axe import violations
from tests.conftest import log_in, open_from_menu, save_screenshot
from tests.portal.fleet_pages import add_servers

pytestmark = pytest.mark.browser
SERVERS = [  # group, role, host name, address
    ("New group (1)", "Admin/License server", "cpadmin01.hill.example", "10.0.6.11"),
    ("Group 1", "Stream (Paging) server", "cpstream01.hill.example", "10.0.6.21"),  # meant 10.0.6.12
    ("New group (2)", "Admin/License server", "cpadmin02.hill.example", "10.0.6.21"),
    ("Group 2", "Stream (Paging) server", "cpstream02.hill.example", "10.0.6.22"),
    ("New group (3)", "Admin/License server", "cpadmin03.hill.example", "10.0.6.31"),  # not theirs
]


def test_support_corrects_and_removes_servers_they_registered(page, live_server):
    log_in(page, "support@vendor.example")
    open_from_menu(page, "Organisations")
    page.get_by_role("link", name="Northwind University").click()
    page.get_by_role("button", name="Add a deployment").click()
    page.get_by_label("Name", exact=True).fill("Hill campus")
    page.get_by_label("Cloudpaging Server").fill("9.4.2")
    page.get_by_label("OpenJDK").fill("17.0.10")
    page.get_by_label("Apache Tomcat").fill("9.0.85")
    page.get_by_label("Load balancer vendor").fill("F5")
    page.get_by_label("Load balancer health checks").check()
    page.get_by_role("button", name="Register and go on to its servers").click()
    expect(page.get_by_role("status")).to_contain_text("Hill campus is registered")
    add_servers(page, SERVERS)

    # cpstream01's address was mistyped: its form comes filled in, from the keyboard.
    page.get_by_role("button", name="Edit cpstream01.hill.example").focus()
    page.keyboard.press("Enter")
    heading = page.get_by_role("heading", name="Edit cpstream01.hill.example")
    expect(heading).to_be_focused()
    expect(page.get_by_role("row").filter(has_text="cpstream01.hill.example")).to_have_attribute("aria-current", "true")
    expect(page.get_by_label("Host name")).to_have_value("cpstream01.hill.example")
    expect(page.get_by_label("New password or key passphrase")).to_have_value("")
    page.locator("input[name=address]").fill("10.0.6.12")
    page.get_by_label("Port").fill("70000")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("A port is a number from 1 to 65535.")).to_be_visible()
    expect(page.locator("input[name=address]")).to_have_value("10.0.6.12")
    save_screenshot(page, "onboarding-server-edit")
    assert violations(page) == []
    page.get_by_label("Port").fill("")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_contain_text("cpstream01.hill.example is saved in group 1.")
    row = page.get_by_role("row").filter(has_text="cpstream01.hill.example")
    expect(row).to_contain_text("10.0.6.12")
    expect(row).to_contain_text("stored, encrypted")  # the password left empty is kept
    expect(page).to_have_url(f"{live_server.url}/deployments/{Deployment.objects.get(name='Hill campus').pk}/servers/")

    # cpadmin03 is not theirs: asked first, it goes, and so does the group it leaves empty.
    page.get_by_role("button", name="Remove cpadmin03.hill.example").click()
    expect(page.get_by_role("heading", name="Remove cpadmin03.hill.example?")).to_be_focused()
    expect(page.get_by_text("Group 3 has no other server, so it goes too.")).to_be_visible()
    save_screenshot(page, "onboarding-server-remove")
    assert violations(page) == []
    page.get_by_role("button", name="Keep it").click()
    expect(page.get_by_role("heading", name="Add a server")).to_be_visible()
    page.get_by_role("button", name="Remove cpadmin03.hill.example").click()
    page.get_by_role("button", name="Yes, remove cpadmin03.hill.example").click()
    expect(page.get_by_role("status")).to_contain_text(
        "cpadmin03.hill.example is removed. Group 3 had no server left and is removed.")
    expect(page.get_by_role("cell", name="cpadmin03.hill.example")).to_have_count(0)
    expect(page.get_by_text("Group 3", exact=True)).to_have_count(0)
    save_screenshot(page, "onboarding-servers-corrected")

    page.get_by_role("link", name="Hill campus").click()
    expect(page.get_by_role("heading", name="Hill campus")).to_be_visible()
    expect(page.get_by_text("No zero-downtime upgrade possible")).to_have_count(0)
    support = User.objects.get(email="support@vendor.example")
    expect(page.get_by_role("row").filter(has_text="Server cpadmin03.hill.example deleted")).to_contain_text(
        support.full_name)
    deployment = Deployment.objects.get(name="Hill campus")
    servers = Server.objects.filter(deployment=deployment).order_by("group__position", "role")
    assert [(s.group.position, s.role, s.hostname, s.address) for s in servers] == [
        (1, "admin_license", "cpadmin01.hill.example", "10.0.6.11"),
        (1, "stream", "cpstream01.hill.example", "10.0.6.12"),
        (2, "admin_license", "cpadmin02.hill.example", "10.0.6.21"),
        (2, "stream", "cpstream02.hill.example", "10.0.6.22"),
    ]
    assert all(credentials.reveal(server.secret_token) == "s3cret-pass" for server in servers)
    assert list(deployment.groups.values_list("position", flat=True).order_by("position")) == [1, 2]
