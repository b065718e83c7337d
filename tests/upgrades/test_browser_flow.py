"""The upgrade request from both sides, in a real browser: Debian's chromium driven by
Playwright against the live server, with the customer and support in two browser contexts (two
people, two sessions), a real Celery worker delivering the outbox and a real SMTP server
receiving it (S2, S6, S8, S10, S11).

Each step leaves a screenshot in `screenshots/upgrade-flow-*.png`.
"""

import re
from datetime import timedelta

import pytest
import time_machine
from playwright.sync_api import Browser, Locator, Page, expect

from tests.conftest import live_context, log_in, open_from_menu, save_screenshot, wait_for

# What the Northwind production deployment (two groups of two virtual servers behind an F5
# with health checks) asks for before a major upgrade.
CONTACT_ITEMS = [
    "Lead contact, available for the whole window",
    "Application administrator, available during the window",
    "Load balancer administrator, available during the window",
    "Hypervisor / server administrator, contactable in case of issues",
    "Database administrator, contactable in case of issues",
    "Network administrator, contactable in case of issues",
    "Active Directory administrator, contactable in case of issues",
]
SERVERS = ["cpadmin01", "cpstream01", "cpadmin02", "cpstream02"]
CUSTOMER_ITEMS = {
    "Remote access method agreed": "Through the support VPN, as for our support calls.",
    "Test machine and test user account": "Machine LAB-PC-07.",
    "Installation files on an accessible share, or internet access": r"\\files.northwind.example\cloudpaging\10.0.0",
    "VM snapshots immediately before the upgrade": "Tom Hughes takes them in vCenter at the start of the window.",
    "Full backup of the StreamDB database": "Priya Shah runs the full backup the evening before.",
    "Repository validated": "Every package shows a good publishing status; the report is attached.",
    **{
        f"Backup of the relevant directories on {server}.northwind.example": f"Copy to \\\\backup01\\{server}."
        for server in SERVERS
    },
}
ATTACHED_TO = "Repository validated"
SENT_BACK = "Test machine and test user account"
SEND_BACK_REASON = "Which test user account should the engineer use? Please name it."
OPTIONAL_ITEMS = ["Servers reachable at the expected versions"]
# Progress counts the required items; optional ones are counted apart.
TOTAL = len(CONTACT_ITEMS) + len(CUSTOMER_ITEMS)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("lasting_sessions")]


@pytest.fixture
def open_page(browser: Browser, live_server, world):
    """A page in a browser context of its own: each person has their own cookies."""
    contexts = []

    def make() -> Page:
        context = live_context(browser, live_server, viewport={"width": 1280, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield make
    for context in contexts:
        context.close()


def screenshot(page: Page, name: str) -> None:
    save_screenshot(page, f"upgrade-flow-{name}")


def checklist_item(page: Page, title: str) -> Locator:
    return page.locator("li.item").filter(has=page.locator(".item-head strong", has_text=re.compile(f"^{re.escape(title)}$")))


def expect_state(item: Locator, state: str) -> None:
    expect(item.locator(".item-head .badge")).to_have_text(state)


def expect_progress(page: Page, ready: int, accepted: int) -> None:
    expect(page.locator("#progress .progress-line")).to_contain_text(f"{ready} of {TOTAL} ready")
    expect(page.locator("#progress .progress-line")).to_contain_text(f"{accepted} accepted by support")


def mark_page(page: Page) -> None:
    """A full page load drops this mark; htmx swaps keep it."""
    page.evaluate("window.stillTheSamePage = true")


def assert_same_page(page: Page) -> None:
    assert page.evaluate("window.stillTheSamePage") is True, "the page reloaded instead of swapping the item"


def provide(page: Page, title: str, text: str, *, attachment: dict | None = None) -> None:
    """Fill in one item inline: open its form, write, optionally attach, save."""
    item = checklist_item(page, title)
    item.get_by_role("button", name=re.compile(r"^(Provide|Edit)$")).click()
    item.get_by_placeholder("Describe how this prerequisite is met").fill(text)
    if attachment:
        item.get_by_label("Attach files").set_input_files(attachment)
    item.get_by_role("button", name="Save").click()
    expect(item.get_by_role("button", name="Save")).to_have_count(0)
    expect_state(item, "Provided")
    expect(item.locator(".evidence")).to_contain_text(text.splitlines()[0])


def mails_to(inbox, address: str) -> dict[str, str]:
    """Subject -> text of what one address received; long subjects arrive folded (RFC 5322)."""
    return {
        re.sub(r"\r?\n", "", str(message["Subject"])): _text_of(message)
        for message in inbox
        if message["To"] == address
    }


def _text_of(message) -> str:
    """The plain text of a mail, also when a calendar invite (.ics) is attached to it."""
    part = next((part for part in message.walk() if part.get_content_type() == "text/plain"), message)
    return part.get_payload(decode=True).decode()


def test_a_major_upgrade_goes_from_request_to_approval_between_customer_and_support(open_page, worker, inbox):
    customer = open_page()
    desk = open_page()

    # 1. The Northwind lead opens the production deployment and asks for 10.0.0.
    log_in(customer, "lead@northwind.example")
    open_from_menu(customer, "My organisation")
    customer.get_by_role("link", name="Production").click()
    expect(customer.get_by_role("heading", level=1)).to_have_text("Production")
    customer.get_by_role("button", name="Request an upgrade").click()

    option = customer.locator("article").filter(has=customer.get_by_text("10.0.0", exact=True))
    expect(option).to_contain_text("Major upgrade")
    expect(option).to_contain_text("Service at risk / limited capability for 40 minutes (4 servers x 10 minutes).")
    expect(option).to_contain_text("Service downtime starting about 5 minutes in, for about 15 minutes.")
    option.get_by_role("radio").check()
    screenshot(customer, "01-customer-chooses-the-release")
    customer.get_by_role("button", name="Start the request").click()

    # 2. The request page: what the service users will notice, and the checklist. Contacts come
    #    from the organisation's records and are provided already; the rest is to do.
    expect(customer.get_by_role("heading", level=1)).to_have_text("Production: 9.4.2 → 10.0.0")
    expect(customer.get_by_role("status").first).to_contain_text("Your request is started")
    impact = customer.locator("section.impact")
    expect(impact).to_contain_text("40 minutes (4 servers x 10 minutes)")
    expect(impact).to_contain_text("downtime starting about 5 minutes in, for about 15 minutes")
    expect_progress(customer, ready=len(CONTACT_ITEMS), accepted=0)
    for title in CONTACT_ITEMS:
        item = checklist_item(customer, title)
        expect_state(item, "Provided")
        expect(item.get_by_role("button", name="Provide")).to_have_count(0)
        expect(item.get_by_role("link", name="Edit contacts")).to_be_visible()
    expect(checklist_item(customer, "Lead contact, available for the whole window")).to_contain_text("Olivia Bennett")
    for title in CUSTOMER_ITEMS:
        expect_state(checklist_item(customer, title), "Missing")
    screenshot(customer, "02-customer-new-request")

    # 3. The customer fills the checklist in place: each item is swapped by htmx, the progress
    #    follows out of band, and the page never reloads.
    mark_page(customer)
    for ready, (title, text) in enumerate(CUSTOMER_ITEMS.items(), start=len(CONTACT_ITEMS) + 1):
        attachment = None
        if title == ATTACHED_TO:
            attachment = {"name": "repository-report.txt", "mimeType": "text/plain",
                          "buffer": b"All 214 packages: publishing status good.\nNo moved .stp files.\n"}
        provide(customer, title, text, attachment=attachment)
        expect_progress(customer, ready=ready, accepted=0)
        if title == ATTACHED_TO:
            screenshot(customer, "03-customer-fills-in-the-checklist")
    assert_same_page(customer)
    expect(checklist_item(customer, ATTACHED_TO).get_by_role("link", name="repository-report.txt")).to_be_visible()
    expect_state(checklist_item(customer, OPTIONAL_ITEMS[0]), "Missing")
    expect(checklist_item(customer, OPTIONAL_ITEMS[0])).to_contain_text("(optional)")
    customer.get_by_role("button", name="Submit to support").click()
    expect(customer.get_by_role("status").first).to_contain_text("Submitted: support has been told")
    expect(customer.locator(".page-head .badge").first).to_have_text("Submitted")
    screenshot(customer, "04-customer-submitted")

    # 4. Support finds it among the requests nobody has taken yet, and takes it.
    log_in(desk, "support@vendor.example")
    open_from_menu(desk, "Waiting for me")
    not_taken = desk.locator("section").filter(has=desk.get_by_role("heading", name=re.compile("^Not taken yet")))
    expect(not_taken.get_by_role("row").filter(has_text="Northwind University")).to_contain_text(
        f"{len(CONTACT_ITEMS) + len(CUSTOMER_ITEMS)} of {TOTAL} ready"
    )
    screenshot(desk, "05-support-waiting-for-me")
    not_taken.get_by_role("link", name=re.compile("Northwind University")).click()
    desk.get_by_role("button", name="Assign to me").click()
    expect(desk.get_by_role("status").first).to_contain_text("The request is assigned to you.")
    expect(desk.locator(".page-head .badge").first).to_have_text("In review")

    # 5. Support reviews each item in place: one is sent back with a reason, the others accepted.
    mark_page(desk)
    reviewed = [title for title in [*CONTACT_ITEMS, *CUSTOMER_ITEMS] if title != SENT_BACK]
    for accepted, title in enumerate(reviewed, start=1):
        item = checklist_item(desk, title)
        item.get_by_role("button", name="Accept").click()
        expect_state(item, "Accepted")
    expect_progress(desk, ready=len(CONTACT_ITEMS) + len(CUSTOMER_ITEMS), accepted=len(reviewed))
    item = checklist_item(desk, SENT_BACK)
    item.locator("details.send-back summary").click()
    item.get_by_placeholder("What is missing?").fill(SEND_BACK_REASON)
    item.locator("details.send-back").get_by_role("button", name="Send back").click()
    expect_state(item, "Sent back")
    expect(item).to_contain_text(SEND_BACK_REASON)
    assert_same_page(desk)
    screenshot(desk, "06-support-sends-an-item-back")

    # 6. The customer sees why on their page, and puts it right.
    customer.reload()
    item = checklist_item(customer, SENT_BACK)
    expect_state(item, "Sent back")
    expect(item.locator(".alert")).to_contain_text(f"Sent back by Sam Okafor: {SEND_BACK_REASON}")
    expect(customer.locator("#progress")).to_contain_text(f"Still missing: {SENT_BACK}")
    screenshot(customer, "07-customer-sees-the-reason")
    mark_page(customer)
    provide(customer, SENT_BACK, "Machine LAB-PC-07, test user NW\\cp-upgrade-test.")
    expect(item.locator(".alert")).to_have_count(0)
    assert_same_page(customer)

    # 7. Support accepts it, books the prerequisite check with an engineer, records that it
    #    passed and approves.
    desk.reload()
    item = checklist_item(desk, SENT_BACK)
    expect_state(item, "Provided")
    item.get_by_role("button", name="Accept").click()
    expect_state(item, "Accepted")
    expect_progress(desk, ready=len(CONTACT_ITEMS) + len(CUSTOMER_ITEMS), accepted=len(CONTACT_ITEMS) + len(CUSTOMER_ITEMS))

    # The check is booked on a free slot of the slot engine: 10:00 in London on a working day.
    from scheduling.selectors import slots_for
    from upgrades.models import UpgradeRequest

    upgrade = UpgradeRequest.objects.get(deployment__organisation__slug="northwind", state="in_review")
    check_slot = next(
        slot for slot in slots_for(upgrade=upgrade, purpose="check", within=timedelta(days=14))
        if slot.start.astimezone(_london()).strftime("%H:%M") == "10:00"
    )
    check_at = check_slot.start.astimezone(_london())
    desk.locator("summary", has_text="Schedule the prerequisite check").click()
    desk.locator(f'form.check-grid button.slot[value="{check_slot.start.isoformat()}"]').click()
    expect(desk.get_by_role("status").first).to_contain_text("The prerequisite check is scheduled")
    expect(desk.locator(".page-head .badge").first).to_have_text("Prerequisite check scheduled")
    customer.reload()
    expect(customer.locator(".side-column")).to_contain_text(
        f"The prerequisite check is booked for {check_at:%A %-d %B}, 10:00"
    )
    expect(customer.locator(".side-column")).to_contain_text("with Erin Walsh")

    with time_machine.travel(check_slot.start + timedelta(minutes=10)):  # the check has started
        desk.locator("summary", has_text="Record the check's outcome").click()
        desk.get_by_label("Passed").check()
        desk.get_by_role("button", name="Record").click()
        expect(desk.get_by_role("status").first).to_contain_text("The outcome of the check is recorded.")
    expect(desk.locator(".side-column")).to_contain_text("Passed")
    screenshot(desk, "08-support-check-passed")

    desk.get_by_role("button", name="Approve").click()
    expect(desk.get_by_role("status").first).to_contain_text("Approved: the customer has been told")
    expect(desk.locator(".page-head .badge").first).to_have_text("Approved")
    screenshot(desk, "09-support-approved")

    # 8. The customer sees the approval; their checklist is closed.
    customer.reload()
    expect(customer.locator(".page-head .badge").first).to_have_text("Approved")
    expect(customer.locator("section.impact")).to_contain_text("Approved. Every prerequisite is in place")
    expect(customer.get_by_role("button", name=re.compile(r"^(Provide|Edit)$"))).to_have_count(0)
    timeline = customer.locator("ol.timeline")
    expect(timeline).to_contain_text("Sam Okafor sent back Test machine and test user account")
    expect(timeline).to_contain_text("approved the upgrade")
    screenshot(customer, "10-customer-sees-the-approval")

    # 9. The mail really went out: the worker delivered the outbox to the SMTP server.
    lead = "olivia.bennett@northwind.example"
    sent_back = "[Northwind University] Checklist item sent back: Test machine and test user account"
    approved = "[Northwind University] Upgrade approved: support will send you the scheduling link"
    wait_for(lambda: {sent_back, approved} <= set(mails_to(inbox, lead)), timeout=20)
    mail = mails_to(inbox, lead)
    assert SEND_BACK_REASON in mail[sent_back]
    assert "Upgrade: 9.4.2 to 10.0.0 (major)" in mail[approved] and "/requests/" in mail[approved]
    scheduled = mails_to(inbox, "engineer@vendor.example")
    assert "[Northwind University] Prerequisite check: Production before 10.0.0 confirmed" in scheduled


def _london():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Europe/London")


@pytest.fixture
def checked_request(world, worker, inbox):
    """Northwind's request to 10.0.0 with every required item accepted and a passed check; the
    optional, measured item stays missing, as it does when the preflight cannot reach the
    servers. The worker and the SMTP server take the notices this causes."""
    from portal.models import Deployment, User
    from tests.upgrades.desk import check_booked
    from upgrades.choices import CheckOutcome
    from upgrades.models import Release
    from upgrades.services import requests

    customer = User.objects.get(email="lead@northwind.example")
    engineer = User.objects.get(email="engineer@vendor.example")
    request = requests.request_create(
        deployment=Deployment.objects.get(organisation__slug="northwind", name="Production"),
        release=Release.objects.get(version="10.0.0"), by=customer,
    )
    check_booked(request, customer=customer, support=User.objects.get(email="support@vendor.example"),
                 engineer=engineer)
    with time_machine.travel(request.check_at + timedelta(minutes=10), tick=False):  # the check has started
        requests.request_record_check(upgrade=request, by=engineer, outcome=CheckOutcome.PASSED)
    return request


def test_an_optional_item_left_open_neither_holds_back_nor_shadows_the_approval(open_page, checked_request):
    desk = open_page()
    log_in(desk, "support@vendor.example")
    desk.goto(f"/requests/{checked_request.pk}/")

    next_steps = desk.locator(".side-column")
    expect(next_steps).not_to_contain_text("approval needs them all")
    expect(desk.get_by_role("button", name="Approve")).not_to_have_class(re.compile(r"\bsecondary\b"))
    screenshot(desk, "11-support-ready-to-approve-with-an-optional-item-open")
    desk.get_by_role("button", name="Approve").click()
    expect(desk.locator(".page-head .badge").first).to_have_text("Approved")

    customer = open_page()
    log_in(customer, "lead@northwind.example")
    customer.goto(f"/requests/{checked_request.pk}/")
    expect(customer.locator("section.impact")).to_contain_text("Approved.")
    expect(customer.locator("#progress")).not_to_contain_text("Still missing")
    screenshot(customer, "12-customer-approved-with-an-optional-item-open")
