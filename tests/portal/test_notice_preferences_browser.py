"""The lead contact opens "Notices" from the account menu, switches off the start of a run, and
sees what stays on and why."""

from playwright.sync_api import expect

from portal.choices import NoticeKind
from portal.models import NoticePreference, User
from tests.conftest import log_in, open_account_page, save_screenshot


def test_the_lead_switches_off_the_start_and_sees_the_failures_stay_on(page):
    log_in(page, "lead@northwind.example")
    open_account_page(page, "Notices")
    expect(page.get_by_role("heading", name="Your notices")).to_be_visible()

    paused = page.get_by_role("group", name="A step failed and the run is paused")
    expect(paused.get_by_label("Not at all")).to_be_disabled()
    expect(paused).to_contain_text("Always sent to you: The lead contact is available for the whole window")

    page.get_by_role("group", name="An upgrade's run has started").get_by_label("Not at all").check()
    page.get_by_role("button", name="Save your choices").click()
    expect(page.get_by_text("Your choices are saved.")).to_be_visible()
    expect(page.get_by_role("group", name="An upgrade's run has started").get_by_label("Not at all")).to_be_checked()
    save_screenshot(page, "account-notices")

    lead = User.objects.get(email="lead@northwind.example")
    assert NoticePreference.objects.get(user=lead, kind=NoticeKind.RUN_STARTED).wanted is False
