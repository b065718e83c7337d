"""Single sign-on per organisation: people sign in through their organisation's identity provider
(OpenID Connect or SAML 2.0, real ones on loopback), are matched to that organisation's contacts
by e-mail, and act with the roles granted in the portal, whatever the provider says."""

import base64

import pytest
from allauth.socialaccount.models import SocialAccount, SocialApp
from django.test import Client
from django.urls import reverse

from portal import credentials, services
from portal.models import Contact, SecurityEvent, User
from tests.portal.identity import CLIENT_SECRET, at_the_provider, local, oidc_sign_on, provider_form, saml_sign_on

HOST = "portal.example"
SITE = f"http://{HOST}"


@pytest.fixture
def browser_client(settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, HOST]
    return Client(HTTP_HOST=HOST)


@pytest.fixture
def northwind_sso(identity_providers, northwind):
    return oidc_sign_on(identity_providers.northwind, key="northwind-sso", organisation=northwind,
                        domains=["northwind.example"], site=SITE)


@pytest.fixture
def fabrikam_sso(identity_providers, fabrikam):
    return saml_sign_on(identity_providers.fabrikam, name="Fabrikam Health sign-in", slug="fabrikam",
                        organisation=fabrikam, domains=["fabrikam.example"], site=SITE)


def start(client: Client, email: str):
    """"Log in with single sign-on" with `email` on the log-in page."""
    return client.post(reverse("sign-on"), {"email": email})


def sign_in_oidc(client: Client, email: str, *, typed: str | None = None):
    """The whole OpenID Connect round: the portal sends the person to the provider, they sign in
    there as `email`, the provider sends them back. The portal's last answer."""
    sent = start(client, typed or email)
    assert sent.status_code == 302, sent.content
    back = at_the_provider(sent["Location"], email=email)
    assert back.status_code == 302, back.text
    assert back.headers["location"].startswith(f"{SITE}/accounts/oidc/"), back.headers["location"]
    return client.get(local(back.headers["location"]))


def saml_response(client: Client, email: str, *, typed: str | None = None) -> dict:
    sent = start(client, typed or email)
    assert sent.status_code == 302, sent.content
    answer = at_the_provider(sent["Location"], email=email)
    assert answer.status_code == 200 and "SAMLResponse" in answer.text, answer.text
    action, fields = provider_form(answer.text)
    assert action == f"{SITE}/accounts/saml/fabrikam/acs/"
    return fields


def post_saml(client: Client, fields: dict):
    posted = client.post("/accounts/saml/fabrikam/acs/", fields)
    assert posted.status_code == 302
    return client.get(posted["Location"])


def refused(answer, client: Client, *, status: int = 403, saying: str = "") -> str:
    """The portal's answer refuses, says `saying`, and nobody is signed in. Its page."""
    page = answer.content.decode()
    assert answer.status_code == status, page
    assert saying in page
    assert signed_in_as(client) is None
    return page


def signed_in_as(client: Client) -> User | None:
    page = client.get(reverse("home"))
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if page.status_code in (200, 302) and user_id else None


def test_a_contact_without_an_account_signs_in_through_their_organisations_provider_with_portal_roles(
        browser_client, northwind_sso, northwind, contoso):
    rahul = Contact.objects.get(organisation=northwind, email="rahul.mehta@northwind.example")
    assert not User.objects.filter(contact=rahul).exists()

    landed = sign_in_oidc(browser_client, "rahul.mehta@northwind.example")

    assert landed.status_code == 302 and landed["Location"] == "/"
    user = signed_in_as(browser_client)
    assert user is not None and user.contact == rahul and user.is_customer and not user.has_usable_password()
    # Their organisation's pages, and nobody else's.
    assert browser_client.get(reverse("organisation-detail", args=["northwind"])).status_code == 200
    assert browser_client.get(reverse("organisation-detail", args=["contoso"])).status_code == 404
    # The provider put Rahul in its "lead" group; in the portal he is application administrator,
    # and a lead's move (granting roles) is refused him.
    rahul.refresh_from_db()
    assert rahul.roles == ["application_admin"]
    patched = browser_client.patch(f"/api/v1/contacts/{rahul.pk}/", {"roles": ["application_admin", "lead"]},
                                   content_type="application/json")
    assert patched.status_code == 403
    rahul.refresh_from_db()
    assert rahul.roles == ["application_admin"]
    # The security log says how he came in.
    assert SecurityEvent.objects.filter(kind="sign_on_account_opened", user=user).exists()
    assert SecurityEvent.objects.get(kind="log_in", user=user).details == {"sign_on": "northwind-sso"}


def test_the_next_sign_in_is_the_same_account_and_a_removed_contact_is_refused(
        browser_client, northwind_sso, northwind, customer):
    sign_in_oidc(browser_client, "rahul.mehta@northwind.example")
    first = signed_in_as(browser_client)
    browser_client.post(reverse("logout"))

    sign_in_oidc(Client(HTTP_HOST=HOST), "rahul.mehta@northwind.example")
    assert User.objects.filter(email="rahul.mehta@northwind.example").count() == 1
    assert SocialAccount.objects.filter(user=first).count() == 1

    services.contact_delete(contact=Contact.objects.get(pk=first.contact_id), by=customer)
    again = Client(HTTP_HOST=HOST)
    refused(sign_in_oidc(again, "rahul.mehta@northwind.example"), again, saying="closed")


def test_the_lead_whose_log_in_address_differs_signs_in_as_their_own_account(
        browser_client, northwind_sso, customer):
    # Olivia logs in as lead@northwind.example; her provider knows her contact address.
    sign_in_oidc(browser_client, "olivia.bennett@northwind.example")
    assert signed_in_as(browser_client) == customer
    assert User.objects.filter(contact=customer.contact).count() == 1


def test_an_address_that_is_no_contact_of_the_organisation_is_refused_and_told_whom_to_ask(
        browser_client, northwind_sso):
    page = refused(sign_in_oidc(browser_client, "visitor@northwind.example"), browser_client,
                   saying="Northwind University has no contact with the address visitor@northwind.example")

    assert "lead" in page
    assert not User.objects.filter(email="visitor@northwind.example").exists()
    event = SecurityEvent.objects.get(kind="sign_on_refused")
    assert event.email == "visitor@northwind.example"


def test_an_organisations_provider_cannot_sign_in_someone_of_another_organisation(
        browser_client, northwind_sso, outsider):
    # Northwind's provider vouches for Contoso's lead: the portal does not take its word for it.
    refused(sign_in_oidc(browser_client, "lead@contoso.example", typed="anyone@northwind.example"), browser_client)

    assert not SocialAccount.objects.filter(user=outsider).exists()


def test_a_fabrikam_contact_signs_in_through_saml_and_sees_their_organisation(browser_client, fabrikam_sso,
                                                                              fabrikam):
    liam = Contact.objects.get(organisation=fabrikam, email="liam.murphy@fabrikam.example")

    landed = post_saml(browser_client, saml_response(browser_client, "liam.murphy@fabrikam.example"))

    assert landed.status_code == 302 and landed["Location"] == "/"
    user = signed_in_as(browser_client)
    assert user.contact == liam
    assert browser_client.get(reverse("organisation-detail", args=["fabrikam"])).status_code == 200
    assert browser_client.get(reverse("organisation-detail", args=["northwind"])).status_code == 404
    assert SecurityEvent.objects.get(kind="log_in", user=user).details == {"sign_on": "fabrikam-saml"}


def test_a_saml_response_changed_on_the_way_signs_nobody_in(browser_client, fabrikam_sso, fabrikam_lead):
    fields = saml_response(browser_client, "liam.murphy@fabrikam.example")
    xml = base64.b64decode(fields["SAMLResponse"]).decode()
    assert "liam.murphy@fabrikam.example" in xml
    forged = xml.replace("liam.murphy@fabrikam.example", "chloe.nguyen@fabrikam.example")
    fields["SAMLResponse"] = base64.b64encode(forged.encode()).decode()

    refused(post_saml(browser_client, fields), browser_client, saying="could not be used")
    assert SecurityEvent.objects.filter(kind="sign_on_refused").exists()


def test_a_saml_response_is_taken_once(browser_client, fabrikam_sso):
    fields = saml_response(browser_client, "liam.murphy@fabrikam.example")
    assert post_saml(browser_client, fields).status_code == 302
    browser_client.post(reverse("logout"))

    refused(post_saml(browser_client, fields), browser_client)


def test_an_organisation_that_signs_in_only_through_its_provider_refuses_passwords(
        browser_client, northwind_sso, customer, client):
    northwind_sso.passwords_allowed = False
    northwind_sso.save()

    page = client.post(reverse("login"), {"username": "lead@northwind.example", "password": "demo-password"})
    assert page.status_code == 200
    assert "Northwind University signs in through Northwind University sign-in" in page.content.decode()
    assert "_auth_user_id" not in client.session
    token = client.post("/api/v1/token/", {"email": "lead@northwind.example", "password": "demo-password"},
                        content_type="application/json")
    assert token.status_code == 400
    assert "single sign-on" in token.json()["non_field_errors"][0]

    sign_in_oidc(browser_client, "olivia.bennett@northwind.example")
    assert signed_in_as(browser_client) == customer


def test_other_organisations_still_log_in_with_their_password(northwind_sso, client, outsider):
    northwind_sso.passwords_allowed = False
    northwind_sso.save()
    answer = client.post(reverse("login"), {"username": "lead@contoso.example", "password": "demo-password"})
    assert answer.status_code == 302
    assert client.session["_auth_user_id"] == str(outsider.pk)


def test_a_domain_without_single_sign_on_is_told_to_use_the_password_and_keeps_the_address(
        browser_client, northwind_sso):
    page = refused(start(browser_client, "marcus@contoso.example"), browser_client, status=400,
                   saying="No single sign-on is set up for contoso.example")

    assert 'value="marcus@contoso.example"' in page


def test_a_provider_that_does_not_answer_is_said_so(browser_client, northwind_sso):
    northwind_sso.app.settings = {"server_url": "http://127.0.0.1:9/nowhere", "oauth_pkce_enabled": True}
    northwind_sso.app.save()

    answer = start(browser_client, "rahul.mehta@northwind.example")

    assert answer.status_code == 502
    assert "does not answer" in answer.content.decode()
    assert "log in with your password" in answer.content.decode()


def test_a_cancelled_sign_in_at_the_provider_signs_nobody_in(browser_client, northwind_sso):
    sent = start(browser_client, "rahul.mehta@northwind.example")
    state = dict(part.split("=", 1) for part in sent["Location"].split("?", 1)[1].split("&"))["state"]

    cancelled = browser_client.get(f"/accounts/oidc/northwind-sso/login/callback/?error=access_denied&state={state}")

    refused(cancelled, browser_client)


@pytest.fixture
def vendor_sso(identity_providers, world):
    return oidc_sign_on(identity_providers.vendor, key="vendor-sso", organisation=None,
                        domains=["vendor.example"], site=SITE)


def test_vendor_staff_with_an_authenticator_give_it_after_their_provider(browser_client, vendor_sso, support):
    answer = sign_in_oidc(browser_client, "support@vendor.example")

    assert answer.status_code == 302 and answer["Location"] == reverse("mfa_authenticate")
    assert "_auth_user_id" not in browser_client.session


@pytest.mark.parametrize("provider_asks", [True, False])
def test_a_provider_that_asks_for_a_second_factor_stands_for_the_portals(
        browser_client, vendor_sso, world, provider_asks):
    from portal.choices import Role

    User.objects.create_user("new.engineer@vendor.example", None, full_name="Nia Engineer", role=Role.ENGINEER)
    vendor_sso.second_factor = provider_asks
    vendor_sso.save()

    answer = sign_in_oidc(browser_client, "new.engineer@vendor.example")
    assert answer.status_code == 302 and answer["Location"] == "/"
    # Staff must have a second factor: asked to set one up unless their provider asked for one.
    landed = browser_client.get("/", follow=True)
    assert landed.status_code == 200
    assert (landed.request["PATH_INFO"] == reverse("mfa_activate_totp")) is not provider_asks


def test_only_existing_vendor_staff_sign_in_through_the_vendors_provider(browser_client, vendor_sso):
    refused(sign_in_oidc(browser_client, "new.engineer@vendor.example"), browser_client,
            saying="No vendor staff account has the address new.engineer@vendor.example")
    assert not User.objects.filter(email="new.engineer@vendor.example").exists()


def test_the_client_secret_is_sealed_at_rest_and_rotates_with_the_keys(browser_client, northwind_sso, rotated_keys):
    stored = SocialApp.objects.values_list("secret", flat=True).get(pk=northwind_sso.app_id)
    assert CLIENT_SECRET not in stored and credentials.reveal(stored) == CLIENT_SECRET

    rotated_keys()

    # The provider checks the secret the portal sends when it exchanges the code.
    sign_in_oidc(browser_client, "rahul.mehta@northwind.example")
    assert signed_in_as(browser_client).email == "rahul.mehta@northwind.example"
