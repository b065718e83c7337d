"""Identity providers on loopback for the single sign-on stories (portal/identity_lab/), the
portal's sign-ons for them, and a person's steps on the providers' own sign-in pages."""

import re
from dataclasses import dataclass
from html import unescape
from urllib.parse import urlsplit

import httpx
from allauth.socialaccount.models import SocialApp

from portal.credentials import seal
from portal.identity_lab import IdentityLab, Person
from portal.identity_lab.oidc import OidcClient, OidcProvider
from portal.identity_lab.saml import SamlIdentityProvider
from portal.models import Organisation, SignOn, SignOnDomain
from portal.service_thread import ServiceThread

IDP_PASSWORD = "idp-passphrase"  # what people type at their provider, never a portal password
CLIENT_ID, CLIENT_SECRET = "upgrade-portal", "a-client-secret-of-the-portal"

NORTHWIND_PEOPLE = [
    # The provider says Rahul is in its "lead" group: the portal must not care.
    Person("nw-1002", "rahul.mehta@northwind.example", "Rahul Mehta", IDP_PASSWORD, groups=("lead", "it-admins")),
    Person("nw-1001", "olivia.bennett@northwind.example", "Olivia Bennett", IDP_PASSWORD),
    Person("nw-1009", "visitor@northwind.example", "Vera Visitor", IDP_PASSWORD),
    # Known to the provider before the portal: the browser story's newcomer.
    Person("nw-1100", "ines.alvarez@northwind.example", "Ines Alvarez", IDP_PASSWORD, groups=("lead",)),
    # A provider that vouches for someone of another organisation (misconfigured, or worse).
    Person("nw-6666", "lead@contoso.example", "Marcus Johnson", IDP_PASSWORD),
]
FABRIKAM_PEOPLE = [
    Person("fb-2002", "liam.murphy@fabrikam.example", "Liam Murphy", IDP_PASSWORD, groups=("staff",)),
]
VENDOR_PEOPLE = [
    Person("v-1", "support@vendor.example", "Sam Okafor", IDP_PASSWORD),
    Person("v-7", "new.engineer@vendor.example", "Nia Engineer", IDP_PASSWORD),
]


@dataclass
class Oidc:
    provider: OidcProvider
    client: OidcClient  # the portal, as registered at the provider
    title: str


@dataclass
class Providers:
    northwind: Oidc
    vendor: Oidc
    fabrikam: SamlIdentityProvider


def started_providers():
    """Northwind's and the vendor's OpenID Connect providers, Fabrikam's SAML identity provider,
    each serving on loopback; and a function that stops them."""
    northwind, vendor = (_oidc("Northwind University sign-in", NORTHWIND_PEOPLE),
                         _oidc("Vendor staff sign-in", VENDOR_PEOPLE))
    fabrikam = SamlIdentityProvider(title="Fabrikam Health sign-in", people=FABRIKAM_PEOPLE)
    thread = ServiceThread(IdentityLab({"northwind": northwind.provider, "vendor": vendor.provider,
                                        "fabrikam": fabrikam}), name="identity lab")
    thread.start()
    return Providers(northwind=northwind, vendor=vendor, fabrikam=fabrikam), thread.stop


def _oidc(title: str, people: list[Person]) -> Oidc:
    client = OidcClient(CLIENT_ID, CLIENT_SECRET, [])
    return Oidc(OidcProvider(title=title, people=people, clients=[client]), client, title)


def oidc_sign_on(oidc: Oidc, *, key: str, organisation: Organisation | None, domains: list[str],
                 site: str, **options) -> SignOn:
    """The portal's sign-on through `provider`, as an administrator sets it up (docs/single-sign-on.md)."""
    app = SocialApp.objects.create(provider="openid_connect", provider_id=key, name=oidc.title,
                                   client_id=CLIENT_ID, secret=seal(CLIENT_SECRET),
                                   settings={"server_url": oidc.provider.issuer, "oauth_pkce_enabled": True})
    oidc.client.redirect_uris.append(f"{site}/accounts/oidc/{key}/login/callback/")
    return _sign_on(app, organisation, domains, **options)


def saml_sign_on(idp: SamlIdentityProvider, *, name: str, slug: str, organisation: Organisation, domains: list[str],
                 site: str, **options) -> SignOn:
    sp_entity = f"{site}/accounts/saml/{slug}/metadata/"
    app = SocialApp.objects.create(provider="saml", provider_id=f"{slug}-saml", name=name, client_id=slug,
                                   settings={"idp": {"entity_id": idp.entity_id, "sso_url": idp.sso_url,
                                                     "x509cert": idp.certificate},
                                             "sp": {"entity_id": sp_entity},
                                             "advanced": {"want_assertion_signed": True}})
    idp.service_providers[sp_entity] = f"{site}/accounts/saml/{slug}/acs/"
    return _sign_on(app, organisation, domains, **options)


def _sign_on(app, organisation, domains, **options) -> SignOn:
    sign_on = SignOn.objects.create(app=app, organisation=organisation, **options)
    for domain in domains:
        SignOnDomain.objects.create(sign_on=sign_on, domain=domain)
    return sign_on


def provider_form(html: str) -> tuple[str | None, dict[str, str]]:
    """The first form's action and its hidden fields."""
    action = re.search(r'<form[^>]*action="([^"]*)"', html)
    fields = {unescape(name): unescape(value) for name, value in re.findall(
        r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html)}
    return (unescape(action.group(1)) if action else None), fields


def at_the_provider(url: str, *, email: str, password: str = IDP_PASSWORD) -> httpx.Response:
    """A person on their provider's sign-in page: it is shown, they type their e-mail and password
    and press "Sign in". The provider's answer: a redirect back (OpenID Connect), or a page whose
    form posts the SAML response back."""
    with httpx.Client(timeout=10) as browser:
        shown = browser.get(url)
        assert shown.status_code == 200, shown.text
        action, fields = provider_form(shown.text)
        target = httpx.URL(url).join(action) if action else httpx.URL(url)
        return browser.post(target, data={**fields, "email": email, "password": password})


def local(url: str) -> str:
    """A portal address without its scheme and host, for Django's test client."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
