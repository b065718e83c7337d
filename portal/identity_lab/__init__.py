"""Identity providers for the demo and the tests: an organisation's OpenID Connect provider
(`oidc`) and SAML 2.0 identity provider (`saml`), each with a sign-in page of its own, serving
on loopback only. They stand for a customer's or the vendor's real provider (Entra ID, Okta,
a university's Shibboleth), so that single sign-on is tried end to end without one.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    """Someone the provider knows: what they type on its sign-in page, and what it says of them."""

    subject: str  # the provider's stable identifier for them (OIDC `sub`, SAML subject-id)
    email: str
    name: str
    password: str
    # What the provider says of their roles in its own terms; the portal ignores it, roles are
    # granted in the portal.
    groups: tuple[str, ...] = ()
