"""The line of communication, end to end, on Northwind's lab fleet with a real worker, a real
SMTP server and three browsers: the engineer's, the customer lead's and one of the customer's
service users', who has no account and reads the public status page.

During the live run the engineer posts a progress note, which the lead reads without a reload
and answers; a step fails and the run pauses: the lead and the support desk get one mail each;
the engineer's update on the failure is on the status page, under "Service at risk"; the run
goes on and completes, the subscribers hear it is over with the downtime measured, and the
report keeps the conversation.

Screenshots: `screenshots/communication-*.png`.
"""

import re
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from portal import recipients
from portal.choices import NoticeState
from portal.models import Notice
from scheduling.services.status import status_page_save
from tests.conftest import live_context, mail_text, save_screenshot, wait_for, watcher
from tests.upgrades.decide_stories import ADMIN_1, drive, make_run, paused, step, waiting_for_sign_off
from tests.upgrades.runs import start
from upgrades.choices import RunState
from upgrades.services.decisions import failure_take, step_retry
from upgrades.services.runs import run_sign_off

pytestmark = pytest.mark.browser

STUDENT = "student@northwind.example"
FAILURE = "The installer cannot write to C:\\Program Files"
UPDATE = "An upgrade step failed. The service stays available while we fix it."


def _all_sent(inbox) -> list:
    wait_for(lambda: not Notice.objects.exclude(state=NoticeState.SENT).exists(), timeout=30)
    wait_for(lambda: len(inbox) == Notice.objects.count())
    return inbox


def _to(inbox, address: str) -> list:
    return [message for message in inbox if message["To"].lower() == address]


def _subject(message) -> str:
    """The subject as read, unfolded."""
    return " ".join(message["Subject"].split())


def test_engineer_and_customer_talk_the_service_users_are_told_and_the_report_keeps_it(
        workers, inbox, browser, live_server, client, northwind_lab, northwind_deployment, customer, engineer,
        support):
    # The lead has switched the status page on; a student subscribes and confirms by mail.
    page = status_page_save(deployment=northwind_deployment, by=customer, service_name="AppsAnywhere", enabled=True)
    client.post(reverse("status-subscribe", args=[page.token]), {"email": STUDENT})
    (confirmation,) = _to(_all_sent(inbox), STUDENT)
    confirm = urlsplit(re.search(r"https?://\S+/confirm/", mail_text(confirmation)).group(0)).path
    assert "Subscription confirmed" in client.post(confirm).content.decode()

    northwind_lab.control.inject(ADMIN_1, "fail_next", reason=FAILURE)
    run = make_run(deployment=northwind_deployment, version="9.5.0", by=customer)
    erin = watcher(browser, live_server, "engineer@vendor.example")
    olivia = watcher(browser, live_server, "lead@northwind.example")
    start(run, engineer=engineer, customer=customer)
    erin.goto(f"/runs/{run.pk}/")
    olivia.goto(f"/runs/{run.pk}/")

    # A progress note with one click; the lead reads it without a reload and answers.
    erin.get_by_role("button", name="Going to plan so far.").click()
    expect(olivia.locator("#conversation-messages")).to_contain_text("Going to plan so far.")
    olivia.get_by_label("Message").fill("Thanks. Our helpdesk is standing by.")
    olivia.get_by_role("button", name="Send").click()
    expect(erin.locator("#conversation-messages")).to_contain_text("Our helpdesk is standing by.")

    # The first step of the at-risk phase fails and the run pauses.
    run = drive(run, engineer=engineer, customer=customer, until=paused, timeout=60)
    expect(erin.locator("#run-news")).to_contain_text("paused", ignore_case=True)
    sent = _all_sent(inbox)
    lead_address = next(iter(recipients.of_users([customer])))
    support_address = next(iter(recipients.of_users([support])))
    failure_mails = {address: [message for message in _to(sent, address)
                               if _subject(message).endswith("the run is paused")]
                     for address in (lead_address, support_address)}
    assert {address: len(mails) for address, mails in failure_mails.items()} == {lead_address: 1, support_address: 1}
    assert FAILURE in mail_text(failure_mails[lead_address][0])

    # The engineer tells the service users too; they read it under "Service at risk".
    erin.get_by_label("Message").fill(UPDATE)
    erin.get_by_label("Also an update for the service's users").check()
    erin.get_by_role("button", name="Send").click()
    expect(olivia.locator("#conversation-messages")).to_contain_text(UPDATE)
    student = live_context(browser, live_server).new_page()
    student.goto(reverse("status-page", args=[page.token]))
    expect(student.get_by_role("status")).to_contain_text("Service at risk")
    expect(student.locator(".status-updates")).to_contain_text(UPDATE)
    expect(student.locator("main")).not_to_contain_text("Erin Walsh")
    save_screenshot(erin, "communication-engineer-live-page")
    save_screenshot(student, "communication-status-page-update")

    # The engineer takes the failure and retries; the run goes on, the lead signs it off.
    failure_take(run=run, by=engineer)
    step_retry(step=step(run, "stop-g1"), by=engineer, reason="Permissions corrected on the server")
    run = drive(run, engineer=engineer, customer=customer, until=waiting_for_sign_off, timeout=90)
    run_sign_off(run=run, by=customer, name="Olivia Bennett", comment="All good")
    run.refresh_from_db()
    assert run.state == RunState.COMPLETED

    # The subscribers hear it is over, with the downtime the prober measured.
    over = [message for message in _to(_all_sent(inbox), STUDENT) if _subject(message).endswith("is over")]
    assert len(over) == 1
    assert "Measured downtime" in mail_text(over[0])
    student.reload()
    expect(student.locator("article").first).to_contain_text("Completed")

    # The report keeps the conversation, the update for the users included.
    olivia.goto(reverse("run-report", args=[run.pk]))
    messages = olivia.locator(".report-messages li")
    expect(messages).to_have_count(3)
    expect(messages.nth(0)).to_contain_text("Going to plan so far.")
    expect(messages.nth(1)).to_contain_text("Our helpdesk is standing by.")
    expect(messages.nth(2)).to_contain_text(UPDATE)
    for context in (erin.context, olivia.context, student.context):
        context.close()
