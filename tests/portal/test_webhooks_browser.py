"""Northwind's lead connects their service desk from their organisation's page (Debian's
chromium through Playwright, against the live server, with a real receiver on loopback): a bad
address is refused with a message, the secret is shown once, "Send test" shows the receiver's
answer without a reload, a rotation shows the new secret.

Screenshot: `screenshots/webhooks.png`.
"""

import pytest
from playwright.sync_api import Page, expect
from standardwebhooks.webhooks import Webhook

from portal.models import WebhookEndpoint
from tests.conftest import log_in, open_from_menu, save_screenshot

pytestmark = pytest.mark.browser


def test_the_lead_adds_an_endpoint_tests_it_and_rotates_its_secret(page: Page, webhook_receiver):
    log_in(page, "lead@northwind.example")
    open_from_menu(page, "My organisation")
    page.get_by_role("button", name="Manage webhooks").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks and chat messages")

    page.get_by_label("Name").fill("Service desk")
    page.get_by_label("Address").fill("https://192.168.10.4/hooks")
    page.get_by_label("A run started").check()
    page.get_by_label("A step failed and the run paused").check()
    page.get_by_role("button", name="Add the endpoint").click()
    expect(page.get_by_text("192.168.10.4 is a private or local address")).to_be_visible()
    assert not WebhookEndpoint.objects.exists()

    page.get_by_label("Address").fill(webhook_receiver.url)
    page.get_by_role("button", name="Add the endpoint").click()
    secret = page.get_by_role("textbox", name="The signing secret").input_value()
    assert secret.startswith("whsec_")

    page.get_by_role("button", name="Send test").click()
    expect(page.get_by_role("status").filter(has_text="The test was delivered")).to_contain_text(
        "the receiver answered 204")
    ((headers, body),) = webhook_receiver.received
    assert Webhook(secret).verify(body, headers)["type"] == "webhook.test"
    expect(page.locator(".delivery-log")).to_have_count(0)  # the log shows on the next visit

    page.get_by_role("button", name="Rotate secret").click()
    rotated = page.get_by_role("textbox", name="The signing secret").input_value()
    assert rotated.startswith("whsec_") and rotated != secret
    expect(page.locator(".delivery-log")).to_contain_text("webhook.test")
    save_screenshot(page, "webhooks")
