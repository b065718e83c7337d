"""The second factor, told through a real browser: a support person sets up an authenticator app,
logs out, cannot log in again without its code, and logs in with it."""

import re
import time

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from playwright.sync_api import Page, expect

from portal.models import User
from tests.conftest import fresh_totp_code, give_code, open_account_page, save_screenshot, submit_log_in, totp_code

pytestmark = pytest.mark.browser


def screenshot(page: Page, name: str) -> None:
    save_screenshot(page, f"mfa-{name}")


def test_support_sets_up_an_authenticator_app_and_cannot_log_in_without_its_code(page: Page):
    support = User.objects.get(email="support@vendor.example")
    Authenticator.objects.filter(user=support).delete()  # a new colleague: no second factor yet

    # The password alone lets them in only as far as setting up the second factor.
    submit_log_in(page, support.email)
    expect(page.get_by_role("heading", name="Set up your second factor")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    screenshot(page, "set-up")
    page.goto("/organisations/")
    expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/activate/"))

    # They type the secret into their app instead of scanning, and the code it shows.
    secret = page.get_by_label("Secret, to type into the app instead of scanning").input_value()
    code_field = page.get_by_label("Code from the app")
    expect(code_field).to_be_focused()
    code_field.fill(totp_code(secret))
    code_field.press("Enter")

    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = page.get_by_label("Unused codes").input_value().split()
    assert len(codes) == 10
    screenshot(page, "recovery-codes")
    page.get_by_role("button", name="I have saved them: continue").click()
    expect(page).to_have_url(re.compile(r"/support/waiting/$"))
    page.get_by_role("button", name="Log out").click()

    # A minute later: the password alone is not enough.
    with time_machine.travel(time.time() + 60, tick=True):
        submit_log_in(page, support.email)
        expect(page.get_by_role("heading", name="Your second factor")).to_be_visible()
        expect(page.get_by_role("button", name="Log out")).to_have_count(0)
        screenshot(page, "code-asked")
        page.goto("/support/waiting/")
        expect(page).to_have_url(re.compile(r"/accounts/login/"))

        submit_log_in(page, support.email)
        give_code(page, "000000")
        expect(page.get_by_role("alert")).to_contain_text("Incorrect code")
        expect(page.get_by_role("button", name="Log out")).to_have_count(0)
        screenshot(page, "code-wrong")

        field = page.get_by_label("Code", exact=True)
        field.fill(totp_code(secret))
        field.press("Enter")

        expect(page).to_have_url(re.compile(r"/support/waiting/$"))
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        expect(page.get_by_role("banner")).to_contain_text("Sam Okafor")
        screenshot(page, "signed-in")


def test_a_customer_adds_a_security_key_and_logs_in_with_it(page: Page, settings):
    """A full WebAuthn ceremony, with chromium's virtual authenticator standing in for the key."""
    settings.MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = True  # the live server speaks plain HTTP on localhost
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "usb", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True,
    }})

    submit_log_in(page, "lead@northwind.example")
    open_account_page(page, "Second factor")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    screenshot(page, "customer-offered")
    page.goto("/accounts/2fa/webauthn/add/")
    page.get_by_label("Name").fill("Olivia's key")
    screenshot(page, "security-key-add")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    page.get_by_role("button", name="I have saved them: continue").click()
    page.get_by_role("button", name="Log out").click()

    submit_log_in(page, "lead@northwind.example")
    expect(page.get_by_role("heading", name="Your second factor")).to_be_visible()
    page.get_by_role("button", name="Use a security key").click()

    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.get_by_role("banner")).to_contain_text("Olivia Bennett")
    open_account_page(page, "Second factor")
    expect(page.get_by_role("heading", name="Security keys and passkeys")).to_be_visible()
    screenshot(page, "customer-with-a-key")
    page.get_by_role("button", name="Manage").click()
    expect(page.get_by_role("cell", name="Olivia's key")).to_be_visible()
    screenshot(page, "security-keys")


def test_staff_who_log_in_through_django_admin_give_their_code_before_going_on(page: Page):
    support = User.objects.get(email="support@vendor.example")
    page.goto("/admin/login/?next=/admin/")
    page.get_by_label("Email").fill(support.email)
    page.get_by_label("Password").fill("demo-password")
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    expect(page.get_by_role("link", name="Use your password")).to_have_count(0)
    screenshot(page, "admin-log-in-asks-the-code")
    page.get_by_label("Code").fill(fresh_totp_code(support))
    page.get_by_role("button", name="Confirm").click()

    expect(page).to_have_url(re.compile(r"/admin/$"))
