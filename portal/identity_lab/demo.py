"""The demo's identity providers (`make run`): Northwind University signs in by OpenID Connect,
Fabrikam Health by SAML 2.0, both on one loopback port. Their people are the organisations'
contacts, at their contact addresses, with the demo password; the portal's sign-ons for them are
registered (again) each time the lab starts, pointing at it."""

from dataclasses import dataclass

from allauth.socialaccount.models import SocialApp
from django.conf import settings
from django.db import transaction

from portal.credentials import seal
from portal.demo import PASSWORD
from portal.identity_lab import IdentityLab, Person
from portal.identity_lab.oidc import OidcClient, OidcProvider
from portal.identity_lab.saml import SamlIdentityProvider
from portal.models import Contact, Organisation, SignOn, SignOnDomain

CLIENT_ID = "upgrade-portal"
# Published: this secret joins the demo portal to the demo's own provider on loopback, nothing else.
CLIENT_SECRET = "demo-identity-lab-secret"


@dataclass(frozen=True)
class DemoSignOn:
    organisation: str  # slug
    title: str
    key: str  # the sign-on's provider id, and the path on the lab
    protocol: str  # "oidc" or "saml"


SIGN_ONS = [
    DemoSignOn("northwind", "Northwind University sign-in", "northwind-sso", "oidc"),
    DemoSignOn("fabrikam", "Fabrikam Health sign-in", "fabrikam-saml", "saml"),
]


def people_of(organisation: Organisation) -> list[Person]:
    return [Person(subject=f"{organisation.slug}-{contact.pk}", email=contact.email, name=contact.name,
                   password=PASSWORD)
            for contact in Contact.objects.filter(organisation=organisation)]


def demo_lab(*, port: int, site: str = "") -> IdentityLab:
    """The demo organisations' providers under http://127.0.0.1:<port>/<key>, and their sign-ons
    registered in the portal at `site` (SITE_URL)."""
    site = (site or settings.SITE_URL).rstrip("/")
    providers = {}
    for demo in SIGN_ONS:
        organisation = Organisation.objects.filter(slug=demo.organisation).first()
        if organisation is None:  # the demo is not seeded
            continue
        base = f"http://127.0.0.1:{port}/{demo.key}"
        if demo.protocol == "oidc":
            client = OidcClient(CLIENT_ID, CLIENT_SECRET, [f"{site}/accounts/oidc/{demo.key}/login/callback/"])
            provider = OidcProvider(title=demo.title, people=people_of(organisation), clients=[client])
            provider.base_url = base
            app_fields = {"provider": "openid_connect", "client_id": CLIENT_ID, "secret": seal(CLIENT_SECRET),
                          "settings": {"server_url": base, "oauth_pkce_enabled": True}}
        else:
            provider = SamlIdentityProvider(title=demo.title, people=people_of(organisation))
            provider.base_url = base
            sp_entity = f"{site}/accounts/saml/{organisation.slug}/metadata/"
            provider.service_providers[sp_entity] = f"{site}/accounts/saml/{organisation.slug}/acs/"
            app_fields = {"provider": "saml", "client_id": organisation.slug, "secret": "",
                          "settings": {"idp": {"entity_id": provider.entity_id, "sso_url": provider.sso_url,
                                               "x509cert": provider.certificate},
                                       "sp": {"entity_id": sp_entity},
                                       "advanced": {"want_assertion_signed": True}}}
        register(demo, organisation, app_fields)
        providers[demo.key] = provider
    return IdentityLab(providers, port=port)


@transaction.atomic
def register(demo: DemoSignOn, organisation: Organisation, app_fields: dict) -> SignOn:
    app, _ = SocialApp.objects.update_or_create(provider_id=demo.key, defaults={"name": demo.title, **app_fields})
    sign_on, _ = SignOn.objects.get_or_create(app=app, defaults={"organisation": organisation})
    domain = f"{organisation.slug}.example"
    if not SignOnDomain.objects.filter(domain=domain).exists():
        SignOnDomain.objects.create(sign_on=sign_on, domain=domain)
    return sign_on
