"""One upgrade's whole life through the product, in a real browser, with no demo shortcut.

An administrator registers a new customer in Django admin: the organisation, its lead contact,
a deployment of two server groups on the lab's ports and the lead's account. The lab fleet
(`manage.py labfleet`, a real process) takes the new servers on. The new lead requests the
upgrade and fills the checklist; support reviews it, books the prerequisite check, records it
once it has taken place, approves and issues the scheduling link; the customer books a window
through it; on the day the engineer finds it on "My windows", gets it ready with the customer
and runs it to the sign-off. Then the request and the window are completed, the deployment
records what its servers report, and every later move is refused.

The second story ends in a rollback the lead contact authorises: the load balancer answers, every
lab server reports the old version, the request shows rolled back, and the customer asks again.

The clock moves (time-machine, ticking) to the check and to the window, as days would pass;
Celery workers, the live server and the prober run in this process and see the same clock.
"""

import os
import re
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import time_machine
from django.db import connection
from django.test import Client
from playwright.sync_api import Browser, Page, expect

from portal.models import Contact, Deployment, ServerGroup
from scheduling.models import MaintenanceWindow
from tests.conftest import live_context, log_in, open_from_menu, save_screenshot, wait_for
from upgrades.choices import RequestState, RunState
from upgrades.models import Run, UpgradeRequest

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("lasting_sessions")]

PROJECT = Path(__file__).resolve().parents[2]
LIVE = 45_000  # ms: the live page hears of a step at its next poll
ROLES = "lead,application_admin,load_balancer_admin,server_admin,database_admin,network_admin,directory_admin"
OLD = {"cloudpaging": "9.4.2", "openjdk": "17.0.10", "tomcat": "9.0.85"}
# What the new customer writes for the items the portal cannot know (S11).
ANSWERS = {
    "Remote access method agreed": "Through our support VPN, account cp-vendor.",
    "Test machine and test user account": "LAB-PC-03, test user WG\\cp-test.",
    "Installation files on an accessible share, or internet access": "The servers reach the internet.",
    "VM snapshots immediately before the upgrade": "Our hypervisor team takes them in vCenter.",
    "Full backup of the StreamDB database": "The DBA takes it the evening before.",
    "Repository validated": "Every package shows a good publishing status.",
}


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


@pytest.fixture
def lab_fleet(transactional_db, tmp_path):
    """`manage.py labfleet` as `make run` starts it, on this test's database, watching for lab
    deployments registered while it runs; quick operations and health checks."""
    database = urlsplit(os.environ["DATABASE_URL"])
    environment = {**os.environ, "DATABASE_URL": urlunsplit(database._replace(path="/" + connection.settings_dict["NAME"]))}
    environment.pop("DATABASE_POOL", None)
    log = tmp_path / "labfleet.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "labfleet", "--data-dir", str(tmp_path / "lab"), "--watch", "0.3",
             "--op-seconds", "0.1", "--check-interval", "0.1", "--check-timeout", "0.5", "--rise", "1", "--fall", "1"],
            cwd=PROJECT, env=environment, stdout=output, stderr=subprocess.STDOUT,
        )
    yield log
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def people(browser: Browser, live_server):
    """A browser context per person: their own cookies."""
    contexts = []

    def person(email: str) -> Page:
        context = live_context(browser, live_server)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        log_in(page, email)
        return page

    yield person
    for context in contexts:
        context.close()


def shot(page: Page, name: str) -> None:
    save_screenshot(page, f"lifecycle-{name}")


def status(page: Page):
    return page.get_by_role("status").first


# -- The administrator registers a customer ----------------------------------------------------


def register_customer(admin: Page, *, name: str, slug: str, lead: str, lead_email: str, ports: list[int]) -> Deployment:
    """Organisation with its lead contact, deployment, two groups, four lab servers and the lead's
    invitation, all through Django admin's pages."""
    admin.goto("/admin/portal/organisation/add/")
    admin.get_by_label("Name:").fill(name)
    admin.get_by_label("Time zone:").fill("Europe/London")
    admin.get_by_label("Support region:").select_option("europe")
    expect(admin.get_by_label("Slug:")).to_have_value(slug)  # made from the name as it was typed
    admin.get_by_text("Add another Contact").click()
    admin.locator("input[name='contacts-0-name']").fill(lead)
    admin.locator("input[name='contacts-0-email']").fill(lead_email)
    admin.locator("input[name='contacts-0-time_zone']").fill("Europe/London")
    admin.locator("input[name='contacts-0-roles']").fill(ROLES)
    admin.get_by_role("button", name="Save", exact=True).click()
    expect(admin.locator(".messagelist")).to_contain_text("was added successfully")

    lb_port, *server_ports = ports
    admin.goto("/admin/portal/deployment/add/")
    _autocomplete(admin, name)
    admin.get_by_label("Name:").fill("Production")
    admin.get_by_label("Cloudpaging Server:").fill(OLD["cloudpaging"])
    admin.get_by_label("OpenJDK:").fill(OLD["openjdk"])
    admin.get_by_label("Apache Tomcat:").fill(OLD["tomcat"])
    admin.get_by_label("Load balancer vendor:").fill("F5")
    admin.get_by_label("Load balancer model:").fill("BIG-IP i2600")
    admin.get_by_label("Load balancer health checks").check()
    admin.get_by_label("Service address:").fill(f"http://127.0.0.1:{lb_port}")
    admin.get_by_role("button", name="Save", exact=True).click()
    expect(admin.locator(".messagelist")).to_contain_text("was added successfully")
    deployment = Deployment.objects.get(organisation__slug=slug)

    for position in (1, 2):
        admin.goto("/admin/portal/servergroup/add/")
        admin.get_by_label("Deployment:").select_option(label=str(deployment))
        admin.get_by_label("Position:").fill(str(position))
        admin.get_by_role("button", name="Save", exact=True).click()
        expect(admin.locator(".messagelist")).to_contain_text("was added successfully")
    groups = {group.position: group.pk for group in ServerGroup.objects.filter(deployment=deployment)}
    for index, port in enumerate(server_ports):
        position, role = index // 2 + 1, ("admin_license", "stream")[index % 2]
        admin.goto("/admin/portal/server/add/")
        admin.locator("#id_deployment").fill(str(deployment.pk))
        admin.locator("#id_group").fill(str(groups[position]))
        admin.get_by_label("Role:").select_option(role)
        admin.get_by_label("Hostname:").fill(f"{('cpadmin', 'cpstream')[index % 2]}{position:02d}.{slug}.example")
        admin.get_by_label("Address:").fill("127.0.0.1")
        admin.get_by_label("Port:").fill(str(port))
        admin.get_by_label("Driver:").select_option("lab")
        admin.get_by_role("button", name="Save", exact=True).click()
        expect(admin.locator(".messagelist")).to_contain_text("was added successfully")

    admin.goto("/admin/portal/user/add/")
    admin.get_by_label("Email:").fill(lead_email)
    admin.get_by_label("Full name:").fill(lead)
    admin.get_by_label("Role:").select_option("customer")
    admin.locator("#id_contact").fill(str(Contact.objects.get(email=lead_email).pk))
    admin.get_by_role("button", name="Save", exact=True).click()
    expect(admin.locator(".messagelist")).to_contain_text("is invited")
    return deployment


def _autocomplete(admin: Page, text: str) -> None:
    """Django admin's autocomplete (select2): open it, type, take the first match."""
    admin.locator(".field-organisation .select2-selection").click()
    admin.locator(".select2-search__field").fill(text)
    admin.locator(".select2-results__option", has_text=text).first.click()


def wait_for_the_lab(lb_port: int, log: Path) -> None:
    """The lab fleet took the new servers on: its balancer answers with four healthy members."""
    def healthy() -> bool:
        try:
            members = httpx.get(f"http://127.0.0.1:{lb_port}/_lb/status", timeout=2).json()["members"]
        except (httpx.HTTPError, ValueError):
            return False
        return len(members) == 4 and all(member["healthy"] for member in members)

    try:
        wait_for(healthy, timeout=30, interval=0.2)
    except AssertionError:
        raise AssertionError(f"the lab fleet did not serve port {lb_port}:\n{log.read_text()[-3000:]}") from None


def lab_versions(lb_port: int) -> set[str]:
    members = httpx.get(f"http://127.0.0.1:{lb_port}/_lb/status", timeout=5).json()["members"]
    return {member["versions"]["cloudpaging"] for member in members}


# -- The request, the review, the approval -------------------------------------------------------


def item(page: Page, title: str):
    return page.locator("li.item").filter(has=page.locator(".item-head strong", has_text=re.compile(f"^{re.escape(title)}")))


def request_the_upgrade(customer: Page) -> UpgradeRequest:
    open_from_menu(customer, "My organisation")
    customer.get_by_role("link", name="Production").click()
    customer.get_by_role("button", name="Request an upgrade").click()
    customer.locator("article").filter(has=customer.get_by_text("10.0.0", exact=True)).get_by_role("radio").check()
    customer.get_by_role("button", name="Start the request").click()
    expect(status(customer)).to_contain_text("Your request is started")
    for title, text in [*ANSWERS.items(), *((f"Backup of the relevant directories on {h}", "Copied to \\\\backup01")
                                            for h in _servers_of(customer))]:
        row = item(customer, title)
        row.get_by_role("button", name=re.compile(r"^(Provide|Edit)$")).click()
        row.get_by_placeholder("Describe how this prerequisite is met").fill(text)
        row.get_by_role("button", name="Save").click()
        expect(row.locator(".item-head .badge")).to_have_text("Provided")
    shot(customer, "01-customer-checklist")
    customer.get_by_role("button", name="Submit to support").click()
    expect(status(customer)).to_contain_text("Submitted")
    return UpgradeRequest.objects.get(pk=int(customer.url.rstrip("/").rsplit("/", 1)[1]))


def _servers_of(page: Page) -> list[str]:
    return [text.removeprefix("Backup of the relevant directories on ").strip()
            for text in page.locator("li.item .item-head strong").all_inner_texts()
            if text.startswith("Backup of the relevant directories on ")]


def review_and_approve(desk: Page, request: UpgradeRequest, customer: Page) -> None:
    desk.goto(f"/requests/{request.pk}/")
    desk.get_by_role("button", name="Assign to me").click()
    accept = desk.get_by_role("button", name="Accept")
    for left in range(accept.count(), 0, -1):
        accept.first.click()
        expect(accept).to_have_count(left - 1)
    desk.locator("summary", has_text="Schedule the prerequisite check").click()
    desk.locator("form.check-grid button.slot").first.click()
    expect(status(desk)).to_contain_text("The prerequisite check is scheduled")
    request.refresh_from_db()

    # The check takes place: the clock moves to it, and its outcome can be recorded.
    with time_machine.travel(request.check_at + timedelta(minutes=50), tick=True):
        desk.reload()
        desk.locator("summary", has_text="Record the check's outcome").click()
        desk.get_by_label("Passed").check()
        desk.get_by_role("button", name="Record").click()
        expect(status(desk)).to_contain_text("The outcome of the check is recorded")
        desk.get_by_role("button", name="Approve").click()
        expect(desk.locator(".page-head .badge").first).to_have_text("Approved")
        desk.get_by_role("button", name=re.compile("Issue the scheduling link")).click()
        expect(status(desk)).to_contain_text("The scheduling link is issued")
        shot(desk, "02-support-approved-link-issued")


def book_the_window(customer: Page, request: UpgradeRequest) -> MaintenanceWindow:
    customer.goto(f"/requests/{request.pk}/")
    customer.get_by_role("button", name="Book the maintenance window").first.click()
    customer.locator("button.slot.standard").first.click()
    customer.get_by_role("button", name="Confirm booking").click()
    expect(status(customer)).to_contain_text("Your window is booked")
    shot(customer, "03-customer-booked")
    return MaintenanceWindow.objects.get(request=request, purpose="upgrade")


# -- On the day ---------------------------------------------------------------------------------


def get_ready_and_start(engineer: Page, customer: Page, run: Run) -> None:
    """From "My windows" to a started run: the S11 readiness, then the start."""
    expect(engineer.get_by_role("heading", level=1)).to_have_text("My windows")
    row = engineer.locator("tr", has_text="Open now").filter(has_text=run.deployment.organisation.name)
    shot(engineer, "04-engineer-my-windows")
    row.get_by_role("button", name="Get ready").click()
    customer.goto(f"/requests/{run.request_id}/")
    customer.get_by_role("button", name="Live upgrade page").click()
    customer.get_by_role("button", name="The snapshots are taken").click()
    expect(status(customer)).to_contain_text("Recorded: VM snapshots taken")
    customer.get_by_role("button", name="The StreamDB backup is taken").click()
    expect(status(customer)).to_contain_text("Recorded: Full StreamDB backup taken")
    engineer.reload()
    engineer.get_by_role("button", name="Run the preflight").click()
    expect(engineer.locator(".readiness-list")).to_contain_text("Every server (4) answers", timeout=LIVE)
    engineer.goto("/my-windows/")
    engineer.locator("tr", has_text="Open now").get_by_role("button", name="Start the upgrade").click()
    expect(status(engineer)).to_contain_text("The upgrade has started")


def confirm_tests(engineer: Page, customer: Page) -> None:
    engineer.get_by_role("button", name="Confirm as engineer").click(timeout=LIVE)
    expect(status(engineer)).to_contain_text("Your confirmation is recorded")
    customer.get_by_role("button", name="Confirm as administrator").click(timeout=LIVE)
    expect(status(customer)).to_contain_text("Your confirmation is recorded")


def test_a_new_customer_goes_from_registration_to_a_completed_upgrade(people, lab_fleet, workers, world, inbox):
    ports = _free_ports(5)
    admin = people("admin@vendor.example")
    deployment = register_customer(admin, name="Woodgrove College", slug="woodgrove-college", lead="Nina Patel",
                                   lead_email="nina.patel@woodgrove.example", ports=ports)
    open_the_account(inbox, "nina.patel@woodgrove.example")
    wait_for_the_lab(ports[0], lab_fleet)

    customer = people("nina.patel@woodgrove.example")
    expect(customer.get_by_role("heading", level=1)).to_contain_text("My upgrades")
    request = request_the_upgrade(customer)
    desk = people("support@vendor.example")
    review_and_approve(desk, request, customer)

    with time_machine.travel(request.check_at + timedelta(hours=1), tick=True):
        window = book_the_window(customer, request)
        run = Run.objects.get(window=window)
        assert run.state == RunState.SCHEDULED
        customer.get_by_role("link", name="Window page").first.click()
        expect(customer.locator(".window-plan")).to_contain_text("Run the database upgrade command")

    # The day comes: the clock moves to the window, opened a minute ago.
    with time_machine.travel(window.start + timedelta(minutes=1), tick=True):
        engineer = people(window.engineer.email)
        get_ready_and_start(engineer, customer, run)
        customer.goto(f"/runs/{run.pk}/")
        for _ in range(5):  # before, against group 2, group 1, group 2 upgraded, final
            confirm_tests(engineer, customer)
        customer.get_by_role("button", name="Sign off the upgrade").click(timeout=LIVE)
        expect(status(customer)).to_contain_text("Signed off")
        shot(customer, "05-customer-signed-off")

        # The world: every lab server runs 10.0.0, and the records say what the servers said.
        assert lab_versions(ports[0]) == {"10.0.0"}
        deployment.refresh_from_db()
        assert deployment.cloudpaging_version == "10.0.0"
        customer.goto(f"/requests/{request.pk}/")
        expect(customer.locator(".page-head .badge").first).to_have_text("Completed")
        expect(customer.get_by_text("Withdraw the request")).to_have_count(0)
        desk.goto(f"/windows/{window.pk}/")
        expect(desk.locator(".page-head .badge").first).to_have_text("Completed")
        expect(desk.get_by_text("Cancel the window")).to_have_count(0)
        shot(desk, "06-support-window-completed")
        customer.goto(f"/deployments/{deployment.pk}/")
        expect(customer.locator("main")).to_contain_text("10.0.0")

        # Every later move is refused, and says why.
        withdraw = customer.request.post(f"/api/v1/requests/{request.pk}/withdraw/", data={"reason": "Late"},
                                         headers={"X-CSRFToken": _csrf(customer)})
        assert withdraw.status == 409 and "completed" in withdraw.json()["detail"]
        cancel = desk.request.post(f"/api/v1/windows/{window.pk}/cancel/", data={"reason": "Tidy up"},
                                   headers={"X-CSRFToken": _csrf(desk)})
        assert cancel.status == 409 and "completed" in cancel.json()["detail"]
    assert UpgradeRequest.objects.get(pk=request.pk).state == RequestState.COMPLETED


def _csrf(page: Page) -> str:
    return next(cookie["value"] for cookie in page.context.cookies() if cookie["name"] == "csrftoken")


# -- The second story: a rollback the customer authorises ----------------------------------------


def api(client, method: str, path: str, body: dict | None = None) -> dict:
    answer = getattr(client, method)(f"/api/v1/{path}", body or {}, content_type="application/json")
    assert answer.status_code < 300, (path, answer.status_code, answer.content[:400])
    return answer.json() if answer.content else {}


def registered_through_the_api(desk, admin: Page, ports: list[int]) -> Deployment:
    """Support registers the customer through the API; the administrator invites the lead from
    Django admin."""
    lb_port, *server_ports = ports
    api(desk, "post", "organisations/", {"name": "Tailspin Academy", "slug": "tailspin", "hosting": "on_premises",
                                         "time_zone": "Europe/London", "support_region": "europe"})
    contact = api(desk, "post", "contacts/", {"organisation": "tailspin", "name": "Omar Haddad",
                                              "email": "omar.haddad@tailspin.example", "time_zone": "Europe/London",
                                              "roles": ROLES.split(",")})
    deployment = api(desk, "post", "deployments/", {
        "organisation": "tailspin", "name": "Production", "cloudpaging_version": OLD["cloudpaging"],
        "openjdk_version": OLD["openjdk"], "tomcat_version": OLD["tomcat"], "load_balancer_vendor": "F5",
        "health_checks": True, "server_platform": "virtual", "service_url": f"http://127.0.0.1:{lb_port}"})
    for position in (1, 2):
        group = api(desk, "post", "server-groups/", {"deployment": deployment["id"]})
        for index, role in enumerate(("admin_license", "stream")):
            api(desk, "post", "servers/", {
                "deployment": deployment["id"], "group": group["id"], "role": role, "driver": "lab",
                "hostname": f"{('cpadmin', 'cpstream')[index]}{position:02d}.tailspin.example",
                "address": "127.0.0.1", "port": server_ports[2 * (position - 1) + index]})
    admin.goto("/admin/portal/user/add/")
    admin.get_by_label("Email:").fill(contact["email"])
    admin.get_by_label("Full name:").fill(contact["name"])
    admin.get_by_label("Role:").select_option("customer")
    admin.locator("#id_contact").fill(str(contact["id"]))
    admin.get_by_role("button", name="Save", exact=True).click()
    expect(admin.locator(".messagelist")).to_contain_text("is invited")
    return Deployment.objects.get(pk=deployment["id"])


def open_the_account(inbox, email: str, password: str = "demo-password") -> None:
    """The invited person chooses their password from the link in the invitation's mail."""
    mail = wait_for(lambda: next((m for m in inbox if m["To"] == email and "invites you" in m.get_payload()), None),
                    timeout=30)
    link = re.search(r"https?://\S+/accounts/invitation/\S+/", mail.get_payload()).group(0)
    answer = Client().post(urlsplit(link).path, {"new_password1": password, "new_password2": password})
    assert answer.status_code == 302, answer.content[:400]


def approved_and_booked_through_the_api(customer, desk, engineer_client, deployment: Deployment) -> MaintenanceWindow:
    request = api(customer, "post", "requests/", {"deployment": deployment.pk, "release": "10.0.0"})
    for item in request["items"]:
        if item["required"] and item["state"] == "missing" and not item["measured"]:
            api(customer, "post", f"checklist-items/{item['id']}/provide/", {"text": "In place: see our runbook."})
    api(customer, "post", f"requests/{request['id']}/submit/")
    api(desk, "post", f"requests/{request['id']}/assign/")
    for item in api(desk, "get", f"requests/{request['id']}/")["items"]:
        if item["state"] == "provided":
            api(desk, "post", f"checklist-items/{item['id']}/accept/")
    check = api(desk, "get", f"requests/{request['id']}/slots/?purpose=check")["slots"] or api(
        desk, "get", f"requests/{request['id']}/slots/?purpose=check&week=1")["slots"]
    api(desk, "post", f"requests/{request['id']}/schedule-check/", {"start": check[0]["start"]})
    upgrade = UpgradeRequest.objects.get(pk=request["id"])
    with time_machine.travel(upgrade.check_at + timedelta(minutes=50), tick=True):
        api(engineer_client, "post", f"requests/{request['id']}/record-check/", {"outcome": "passed", "notes": ""})
        api(desk, "post", f"requests/{request['id']}/approve/")
        api(desk, "post", f"requests/{request['id']}/issue-link/")
        for week in range(7):
            slots = api(customer, "get", f"requests/{request['id']}/slots/?week={week}")["slots"]
            standard = [slot for slot in slots if slot["standard"]]
            if standard:
                break
        window = api(customer, "post", f"requests/{request['id']}/window/", {"start": standard[0]["start"]})
    assert window["state"] == "confirmed" and window["run"]
    return MaintenanceWindow.objects.get(pk=window["id"])


def test_a_rollback_the_lead_authorises_ends_with_the_service_back_and_the_customer_may_ask_again(
        people, lab_fleet, workers, world, client_for, support, engineer, inbox):
    ports = _free_ports(5)
    admin = people("admin@vendor.example")
    deployment = registered_through_the_api(client_for(support), admin, ports)
    open_the_account(inbox, "omar.haddad@tailspin.example")
    wait_for_the_lab(ports[0], lab_fleet)
    lead = deployment.organisation.contacts.get().user
    window = approved_and_booked_through_the_api(client_for(lead), client_for(support), client_for(engineer),
                                                  deployment)
    run = window.run

    with time_machine.travel(window.start + timedelta(minutes=1), tick=True):
        erin = people(window.engineer.email)
        omar = people(lead.email)
        get_ready_and_start(erin, omar, run)
        omar.goto(f"/runs/{run.pk}/")
        confirm_tests(erin, omar)  # before the upgrade
        # On the lab page, the next operation of cpadmin02 is made to fail: step 6 stops group 2.
        erin.goto(f"/deployments/{deployment.pk}/lab/")
        erin.locator("tr", has_text="cpadmin02.tailspin.example").get_by_role(
            "button", name="Fail next operation").click()
        expect(status(erin)).to_contain_text("Fail next operation: done on cpadmin02.tailspin.example")
        erin.goto(f"/runs/{run.pk}/")
        confirm_tests(erin, omar)  # against group 2 while group 1 is out
        expect(erin.locator(".failure")).to_contain_text("Stop services on server group 2", timeout=LIVE)

        erin.get_by_role("button", name="Assign to me").click()
        # Less than an hour of the window is left: the page advises the rollback, its form open.
        expect(erin.locator(".run-controls")).to_contain_text("Less than one hour of the window is left")
        choice = erin.locator("details", has=erin.locator("summary", has_text="Request a rollback"))
        expect(choice).to_have_attribute("open", "")
        erin.get_by_label("Restore the database from backup").check()
        erin.get_by_label("Reason, for the customer").fill("Group 2 will not stop; the window closes soon.")
        erin.get_by_role("button", name="Ask the customer to authorise").click()
        expect(status(erin)).to_contain_text("The rollback is requested")
        omar.reload()
        omar.get_by_label("Your reason").fill("Go back to 9.4.2; we try again next term.")
        omar.get_by_role("button", name="Authorise the rollback").click()
        expect(status(omar)).to_contain_text("The rollback is authorised")
        expect(omar.locator("#run-phase")).to_contain_text("Rolled back", timeout=LIVE)
        shot(omar, "07-customer-rolled-back")

        # The world: the service answers, every server runs 9.4.2 again, nothing claimed that is not so.
        assert httpx.get(f"http://127.0.0.1:{ports[0]}/", timeout=5).status_code == 200
        assert lab_versions(ports[0]) == {"9.4.2"}
        deployment.refresh_from_db()
        assert deployment.cloudpaging_version == "9.4.2"
        omar.goto(f"/requests/{run.request_id}/")
        expect(omar.locator(".page-head .badge").first).to_have_text("Rolled back")
        omar.get_by_role("link", name="Request the upgrade again").click()
        omar.locator("article").filter(has=omar.get_by_text("10.0.0", exact=True)).get_by_role("radio").check()
        omar.get_by_role("button", name="Start the request").click()
        expect(status(omar)).to_contain_text("Your request is started")
        shot(omar, "08-customer-asks-again")
    assert UpgradeRequest.objects.filter(deployment=deployment, state=RequestState.DRAFT).exists()
    assert Run.objects.get(pk=run.pk).state == RunState.ROLLED_BACK
