"""Single sign-on in a browser, from nothing but what the product makes: an administrator sets up
Northwind University's identity provider in the admin, Northwind's lead adds a colleague with
their roles, and the colleague signs in through the provider (on loopback) and lands on
Northwind's pages with the roles the lead gave, not the ones the provider claims."""

import json

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from allauth.socialaccount.models import SocialApp

from portal import credentials
from portal.choices import ContactRole

from tests.conftest import log_in, save_screenshot
from tests.portal.identity import CLIENT_ID, CLIENT_SECRET, IDP_PASSWORD, oidc_sign_on

pytestmark = pytest.mark.browser
LEAD_LABEL = ContactRole.LEAD.label


def test_a_colleague_signs_in_through_northwinds_provider_with_the_roles_the_lead_gave(
        page, live_server, identity_providers, northwind):
    northwind_idp = identity_providers.northwind

    # The administrator adds the provider (allauth's social application), then Northwind's sign-on.
    log_in(page, "admin@vendor.example")
    page.goto("/admin/socialaccount/socialapp/add/")
    page.select_option("#id_provider", "openid_connect")
    page.fill("#id_provider_id", "northwind-sso")
    page.fill("#id_name", "Northwind University sign-in")
    page.fill("#id_client_id", CLIENT_ID)
    page.fill("#id_secret", CLIENT_SECRET)
    page.fill("#id_settings", json.dumps({"server_url": northwind_idp.provider.issuer, "oauth_pkce_enabled": True}))
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    stored = SocialApp.objects.get(provider_id="northwind-sso").secret
    assert CLIENT_SECRET not in stored and credentials.reveal(stored) == CLIENT_SECRET  # sealed at rest
    northwind_idp.client.redirect_uris.append(f"{live_server.url}/accounts/oidc/northwind-sso/login/callback/")

    page.goto("/admin/portal/signon/add/")
    page.select_option("#id_app", label="Northwind University sign-in")
    page.select_option("#id_organisation", label="Northwind University")
    page.fill("#id_domains-0-domain", "Northwind.Example")
    save_screenshot(page, "sign-on-admin")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    page.goto("/")
    page.get_by_role("button", name="Log out").click()

    # Northwind's lead adds Ines as its server administrator.
    log_in(page, "lead@northwind.example")
    page.goto(reverse("organisation-detail", args=["northwind"]))
    page.get_by_role("button", name="Add a contact").click()
    page.get_by_label("Name").fill("Ines Alvarez")
    page.get_by_label("Email").fill("ines.alvarez@northwind.example")
    page.get_by_label("Hypervisor / server administrator").check()
    page.get_by_role("button", name="Add contact").click()
    expect(page.get_by_role("row").filter(has_text="ines.alvarez@northwind.example")).to_contain_text(
        "Hypervisor / server administrator")
    page.get_by_role("button", name="Log out").click()

    # Ines signs in through Northwind's provider: the portal sends her there by her address.
    page.goto(reverse("login"))
    page.locator("#id_sign_on_email").fill("ines.alvarez@northwind.example")
    save_screenshot(page, "sign-on-log-in")
    page.get_by_role("button", name="Continue with single sign-on").click()
    expect(page.get_by_role("heading", name="Northwind University sign-in")).to_be_visible()
    page.get_by_label("E-mail").fill("ines.alvarez@northwind.example")
    page.get_by_label("Password").fill(IDP_PASSWORD)
    save_screenshot(page, "sign-on-provider")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("banner")).to_contain_text("Ines Alvarez")
    page.goto(reverse("organisation-detail", args=["northwind"]))
    expect(page.get_by_role("heading", name="Northwind University").first).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="ines.alvarez@northwind.example")).to_contain_text(
        "Hypervisor / server administrator")
    save_screenshot(page, "sign-on-landed")
    # The provider says she is in its "lead" group; in the portal she is not the lead, and only
    # the lead or support give roles.
    page.get_by_role("row").filter(has_text="ines.alvarez@northwind.example").get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Hypervisor / server administrator")).to_be_checked()
    expect(page.get_by_label("Hypervisor / server administrator")).to_be_disabled()
    expect(page.get_by_label(LEAD_LABEL)).not_to_be_checked()
    expect(page.get_by_label(LEAD_LABEL)).to_be_disabled()
    assert page.goto(reverse("organisation-detail", args=["contoso"])).status == 404


def test_someone_the_provider_knows_but_the_portal_does_not_is_told_whom_to_ask(page, live_server, identity_providers,
                                                                                 northwind):
    oidc_sign_on(identity_providers.northwind, key="northwind-sso", organisation=northwind,
                 domains=["northwind.example"], site=live_server.url)
    page.goto(reverse("login"))
    page.get_by_label("Your e-mail address at work").fill("visitor@northwind.example")
    page.get_by_label("Your e-mail address at work").press("Enter")
    page.get_by_label("E-mail").fill("visitor@northwind.example")
    page.get_by_label("Password").fill(IDP_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_contain_text(
        "Northwind University has no contact with the address visitor@northwind.example")
    save_screenshot(page, "sign-on-refused")
    page.get_by_role("link", name="Back to log in").click()
    expect(page.get_by_role("button", name="Log in", exact=True)).to_be_visible()
