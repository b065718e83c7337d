"""Engineer and customer talk on the live upgrade, each in their own browser: a progress note
posted with one click appears on the customer's page without a reload, the customer's reply on
the engineer's; an internal note stays on the vendor's side; the report keeps the conversation."""

import pytest
from playwright.sync_api import expect

from tests.axe import page_violations
from tests.conftest import watcher
from tests.upgrades.runs import confirmed_window, lab_deployment, start
from upgrades.models import Message
from upgrades.services.plans import run_create

pytestmark = pytest.mark.browser


def test_engineer_and_customer_talk_on_the_live_page(browser, live_server, start_lab, northwind, minor, engineer,
                                                      customer):
    deployment, lab = lab_deployment(start_lab, northwind, groups=2, name="Talking lab")
    run = run_create(window=confirmed_window(deployment, minor, engineer=engineer, customer=customer))
    start(run, engineer=engineer, customer=customer)  # no worker: the run waits at its first step
    erin = watcher(browser, live_server, "engineer@vendor.example")
    olivia = watcher(browser, live_server, "lead@northwind.example")
    erin.goto(f"/runs/{run.pk}/")
    olivia.goto(f"/runs/{run.pk}/")
    olivia_messages = olivia.locator("#conversation-messages")
    expect(olivia_messages).to_contain_text("No messages yet")

    # One click: the engineer's progress note, on the customer's page without a reload.
    erin.get_by_role("button", name="Going to plan so far.").click()
    expect(olivia_messages.locator("li.said")).to_have_count(1)
    expect(olivia_messages).to_contain_text("Erin Walsh")
    expect(olivia_messages).to_contain_text("Going to plan so far.")
    expect(olivia.locator("#run-news")).to_contain_text("Erin Walsh wrote: Going to plan so far.")

    # The customer replies from the page; the engineer reads it without a reload.
    olivia.get_by_label("Message").fill("Thanks. Our helpdesk is standing by.")
    olivia.get_by_role("button", name="Send").click()
    expect(olivia.get_by_label("Message")).to_have_value("")
    expect(erin.locator("#conversation-messages")).to_contain_text("Our helpdesk is standing by.")
    expect(olivia_messages.locator("li.said")).to_have_count(2)  # once, though both the answer and the stream bring news

    # An internal note: on the engineer's page at once, never on the customer's.
    erin.get_by_label("Message").fill("Their LB admin is slow today: chase at 10:30")
    erin.get_by_label("Internal note").check()
    erin.get_by_role("button", name="Send").click()
    expect(erin.locator("#conversation-messages li.internal")).to_contain_text("chase at 10:30")
    olivia.reload()
    expect(olivia_messages.locator("li.said")).to_have_count(2)
    expect(olivia_messages).not_to_contain_text("chase at 10:30")

    # An empty message is refused on the form, which says so.
    olivia.get_by_role("button", name="Send").click()
    expect(olivia.locator("#conversation-form [role=alert]")).to_contain_text("Write the message first.")
    assert Message.objects.filter(run=run).count() == 3

    # Both live pages pass axe as they stand now.
    for side in (erin, olivia):
        assert page_violations(side, live_server.url) == [], side.url

    # The report keeps what both sides wrote, in order.
    olivia.get_by_role("button", name="Report").click()
    expect(olivia.locator(".report-messages li")).to_have_count(2)
    expect(olivia.locator(".report-messages li").first).to_contain_text("Going to plan so far.")
    assert page_violations(olivia, live_server.url) == []
    erin.context.close()
    olivia.context.close()
