"""Support sets up a new customer from the menu, without typing an address: the organisation, one
deployment, two groups of two servers, and the lead contact, invited. The lead opens the mailed
link, chooses a password, and finds their organisation."""

import re

import pytest
from playwright.sync_api import expect

from portal.models import Contact, Deployment, Organisation, Server, User
from tests.conftest import log_in, open_from_menu, save_screenshot, wait_for
from tests.portal.fleet_pages import add_servers

pytestmark = pytest.mark.browser
PASSWORD = "a-long-passphrase-of-mine"
SERVERS = [  # group, role, host name, address
    ("New group (1)", "Admin/License server", "cpadmin01.tailspin.example", "10.0.4.11"),
    ("Group 1", "Stream (Paging) server", "cpstream01.tailspin.example", "10.0.4.12"),
    ("New group (2)", "Admin/License server", "cpadmin02.tailspin.example", "10.0.4.21"),
    ("Group 2", "Stream (Paging) server", "cpstream02.tailspin.example", "10.0.4.22"),
]


def test_support_sets_up_a_customer_whose_lead_opens_their_account(page, worker, inbox, settings, live_server):
    settings.SITE_URL = live_server.url
    log_in(page, "support@vendor.example")
    open_from_menu(page, "Organisations")
    page.get_by_role("button", name="New customer").click()

    page.get_by_label("Name", exact=True).fill("Tailspin Academy")
    page.get_by_label("Time zone").select_option("Europe/Dublin")
    page.get_by_label("Support region").select_option(label="Europe, Middle East and Africa")
    save_screenshot(page, "onboarding-organisation")
    page.get_by_role("button", name="Register and go on to its deployment").click()

    expect(page.get_by_role("status")).to_contain_text("Tailspin Academy is registered")
    page.get_by_label("Name", exact=True).fill("Main campus")
    page.get_by_label("Cloudpaging Server").fill("9.4.2")
    page.get_by_label("OpenJDK").fill("17.0.10")
    page.get_by_label("Apache Tomcat").fill("9.0.85")
    page.get_by_label("Load balancer vendor").fill("F5")
    page.get_by_label("Load balancer model").fill("BIG-IP i4800")
    page.get_by_label("Load balancer health checks").check()
    page.get_by_label("Service address").fill("https://cloudpaging.tailspin.example/")
    page.get_by_role("button", name="Register and go on to its servers").click()

    expect(page.get_by_role("status")).to_contain_text("Main campus is registered")
    # A mistyped host name comes back with the reason and what was typed; the password does not.
    page.get_by_label("Host name").fill("cpadmin01 tailspin")
    page.locator("input[name=address]").fill("10.0.4.11")
    page.get_by_label("Password or key passphrase").fill("s3cret-pass")
    page.get_by_role("button", name="Add server").click()
    expect(page.locator(".errorlist").first).to_be_visible()
    expect(page.get_by_text("is not a host name")).to_be_visible()
    expect(page.locator("input[name=address]")).to_have_value("10.0.4.11")
    expect(page.get_by_label("Password or key passphrase")).to_have_value("")
    add_servers(page, SERVERS)
    expect(page.get_by_role("cell", name="stored, encrypted")).to_have_count(4)
    save_screenshot(page, "onboarding-servers")
    page.get_by_role("button", name="Next: contacts").click()

    page.get_by_label("Name", exact=True).fill("Ada Lovelace")
    page.get_by_label("Email", exact=True).fill("ada@tailspin.example")
    page.get_by_label("Lead contact").check()
    page.get_by_role("button", name="Add and invite").click()
    expect(page.get_by_role("status")).to_contain_text("Ada Lovelace is added and invited")
    expect(page.get_by_role("row").filter(has_text="ada@tailspin.example")).to_contain_text("invited")
    save_screenshot(page, "onboarding-contacts")
    page.get_by_role("button", name="Done: to the organisation").click()
    expect(page.get_by_role("heading", name="Tailspin Academy")).to_be_visible()
    expect(page.get_by_text("Not fully set up yet")).to_have_count(0)
    page.get_by_role("button", name="Log out").click()

    wait_for(lambda: len(inbox) == 1, timeout=20)
    (mail,) = inbox
    assert mail["To"] == "ada@tailspin.example"
    link = re.search(r"https?://\S+/accounts/invitation/\S+/", mail.get_payload()).group(0)
    page.goto(link)
    page.locator("input[name=new_password1]").fill(PASSWORD)
    page.locator("input[name=new_password2]").fill(PASSWORD)
    page.get_by_role("button", name="Open my account").click()
    expect(page.get_by_role("status")).to_contain_text("your account is open")
    page.get_by_role("button", name="Log out").click()
    page.goto("/accounts/login/")
    page.get_by_label("E-mail address", exact=True).fill("ada@tailspin.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    open_from_menu(page, "My organisation")
    expect(page.get_by_role("heading", name="Tailspin Academy")).to_be_visible()
    expect(page.get_by_role("link", name="Main campus")).to_be_visible()

    organisation = Organisation.objects.get(name="Tailspin Academy")
    assert (organisation.slug, organisation.time_zone, organisation.support_region, organisation.hosting) == (
        "tailspin-academy", "Europe/Dublin", "europe", "on_premises")
    deployment = Deployment.objects.get(organisation=organisation)
    assert (deployment.name, deployment.cloudpaging_version, deployment.openjdk_version, deployment.tomcat_version,
            deployment.load_balancer_vendor, deployment.load_balancer_model, deployment.health_checks,
            deployment.service_url) == ("Main campus", "9.4.2", "17.0.10", "9.0.85", "F5", "BIG-IP i4800", True,
                                        "https://cloudpaging.tailspin.example/")
    servers = Server.objects.filter(deployment=deployment).order_by("group__position", "role")
    assert [(s.group.position, s.role, s.hostname, s.address, s.username) for s in servers] == [
        (1, "admin_license", "cpadmin01.tailspin.example", "10.0.4.11", "cpadmin"),
        (1, "stream", "cpstream01.tailspin.example", "10.0.4.12", "cpadmin"),
        (2, "admin_license", "cpadmin02.tailspin.example", "10.0.4.21", "cpadmin"),
        (2, "stream", "cpstream02.tailspin.example", "10.0.4.22", "cpadmin"),
    ]
    assert all(server.has_secret and "s3cret" not in server.secret_token for server in servers)
    assert deployment.groups.count() == 2
    (contact,) = Contact.objects.filter(organisation=organisation)
    assert (contact.name, contact.email, contact.roles) == ("Ada Lovelace", "ada@tailspin.example", ["lead"])
    account = User.objects.get(contact=contact)
    assert account.is_active and account.role == "customer" and account.check_password(PASSWORD)
