"""Single sign-on: a person signs in through their organisation's identity provider (OpenID
Connect or SAML 2.0, by django-allauth's social accounts) instead of with a portal password.

The provider says who the person is; the portal decides as whom they sign in, and so with which
roles (roles are the contact's and the account's, granted in the portal; what a provider says of
groups or roles is ignored):
- through an organisation's provider, only as one of that organisation's contacts, found by e-mail
  address (their contact address or their log-in address). A contact without an account gets one
  at their first sign-in; an invitation not yet taken up is taken up by it.
- through the vendor's provider (a sign-on with no organisation), only as existing vendor staff.
The provider's account (its subject) stays linked to the person; each later sign-in checks again
that they still belong, so a removed contact or a closed account is refused.

Where the log-in page sends a person is found from their e-mail address's domain
(`SignOnDomain`), which says no more than that the domain signs in through a provider.
"""

from urllib.parse import urlsplit

import requests
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter, get_adapter
from allauth.socialaccount.models import SocialApp, SocialLogin
from allauth.socialaccount.providers.base import AuthProcess
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import render

from portal import credentials, security
from portal.choices import VENDOR_ROLES, Role
from portal.models import Contact, SignOn, SignOnDomain, User

ASK_TO_BE_ADDED = ("ask your organisation's lead or the vendor's support desk to add you as a contact, then sign "
                   "in again")


class Refused(Exception):
    """The provider vouched for someone the portal will not sign in: the reason is for them."""


def sign_on_for(email: str) -> SignOn | None:
    """The sign-on whose provider signs in the people at `email`'s domain."""
    domain = email.rpartition("@")[2].strip().lower().rstrip(".")
    found = SignOnDomain.objects.filter(domain__iexact=domain).select_related("sign_on__app").first() if domain else None
    return found.sign_on if found else None


def redirect_to_provider(request, sign_on: SignOn, *, next_url: str | None) -> HttpResponse:
    """Off to the provider's sign-in page; a provider that cannot be reached (OpenID Connect's
    discovery, a SAML metadata address) is said so, with the password as the way in meanwhile."""
    provider = get_adapter(request).get_provider(request, sign_on.app.provider_id or sign_on.app.provider,
                                                 client_id=sign_on.app.client_id)
    try:
        return provider.redirect(request, AuthProcess.LOGIN, next_url=next_url or None)
    except requests.RequestException as error:
        security.record("sign_on_refused", request=request, provider=sign_on.app.name, reason=str(error)[:200])
        return _refusal_page(request, sign_on.app.name, (
            f"{sign_on.app.name} does not answer the portal at the moment. Try again in a few minutes"
            + (", or log in with your password." if sign_on.passwords_allowed else ".")), status=502)


def provider_origins() -> set[str]:
    """Where the sign-ons' providers are (OpenID Connect's issuer, SAML's sign-in and metadata
    addresses), for the log-in page's content security policy."""
    origins = set()
    for config in SocialApp.objects.filter(sign_on__isnull=False).values_list("settings", flat=True):
        idp = config.get("idp") or {}
        for url in (config.get("server_url"), idp.get("sso_url"), idp.get("metadata_url")):
            parts = urlsplit(url or "")
            if parts.scheme in ("http", "https") and parts.netloc:
                origins.add(f"{parts.scheme}://{parts.netloc}")
    return origins


def password_refused(user: User) -> str | None:
    """Why `user` may not log in with a password (their organisation signs in only through its
    provider), or None."""
    sign_on = _sign_on_of(user)
    if sign_on is None or sign_on.passwords_allowed:
        return None
    return (f"{sign_on.organisation or 'Vendor staff'} sign{'s' if sign_on.organisation else ''} in through "
            f"{sign_on.app.name}: use “Log in with single sign-on” with your e-mail address.")


def _sign_on_of(user: User) -> SignOn | None:
    if user.is_customer and user.contact_id:
        return SignOn.objects.filter(organisation_id=user.contact.organisation_id).select_related(
            "app", "organisation").first()
    found = sign_on_for(user.email) if user.is_vendor else None
    return found if found is not None and found.organisation_id is None else None


def passed_second_factor(records: list[dict]) -> bool:
    """Whether a sign-in recorded in `records` (allauth's, of this session) went through a provider
    that asks for a second factor itself."""
    providers = {record.get("provider") for record in records if record.get("method") == "socialaccount"}
    return bool(providers) and SignOn.objects.filter(
        Q(app__provider_id__in=providers) | Q(app__provider__in=providers), second_factor=True).exists()


def person_for(sign_on: SignOn, email: str) -> User:
    """The account `sign_on`'s provider signs in when it vouches for `email`: opened for a contact
    who has none yet. Raises Refused."""
    email = (email or "").strip()
    if not email:
        raise Refused(f"{sign_on.app.name} did not say your e-mail address, which the portal needs to know who "
                      "you are: ask your organisation's IT to release it to the upgrade portal.")
    if sign_on.organisation_id is None:
        user = User.objects.filter(email__iexact=email, role__in=VENDOR_ROLES).first()
        if user is None:
            raise Refused(f"No vendor staff account has the address {email}: ask an administrator to invite you.")
        return _open(user)
    contact = (Contact.objects.filter(organisation_id=sign_on.organisation_id)
               .filter(Q(email__iexact=email) | Q(user__email__iexact=email)).select_related("user").first())
    if contact is None:
        raise Refused(f"{sign_on.organisation} has no contact with the address {email} in the portal: "
                      f"{ASK_TO_BE_ADDED}.")
    if getattr(contact, "user", None) is not None:
        return _open(contact.user)
    try:
        with transaction.atomic():
            user = User(email=contact.email.lower(), full_name=contact.name, role=Role.CUSTOMER, contact=contact)
            user.set_unusable_password()
            user.save()
    except IntegrityError:
        # Opened a moment ago by the same person's other sign-in, or the address is another's log-in.
        if (user := User.objects.filter(contact=contact).first()) is not None:
            return _open(user)
        raise Refused(f"The address {contact.email} is the log-in of another account: ask the vendor's support "
                      "desk to sort it out.") from None
    security.record("sign_on_account_opened", user=user, provider=sign_on.app.name)
    return user


def _open(user: User) -> User:
    """An account signs in if it is open, or if it is waiting for its first log-in (an invitation
    not taken up: the provider has just shown who they are)."""
    if user.is_active:
        return user
    if not user.has_usable_password() and user.last_login is None:
        user.is_active = True
        user.save(update_fields=["is_active"])
        return user
    raise Refused("Your account in the portal is closed: ask your organisation's lead or the vendor's support "
                  "desk to open it again.")


def still_belongs(sign_on: SignOn, user: User) -> None:
    """A linked provider account signs in its person while they are still who the sign-on serves."""
    if not user.is_active:
        raise Refused("Your account in the portal is closed: ask your organisation's lead or the vendor's "
                      "support desk to open it again.")
    if sign_on.organisation_id is None and not user.is_vendor:
        raise Refused("The vendor's identity provider signs in vendor staff only.")
    if sign_on.organisation_id is not None and user.organisation_id != sign_on.organisation_id:
        raise Refused(f"You are no longer one of {sign_on.organisation}'s contacts in the portal: "
                      f"{ASK_TO_BE_ADDED}.")


class SignOnAdapter(DefaultSocialAccountAdapter):
    """allauth's social log-in, held to the rules above; its failures shown on the portal's page."""

    def pre_social_login(self, request, sociallogin: SocialLogin) -> None:
        app = sociallogin.account.get_provider(request).app
        sign_on = SignOn.objects.select_related("organisation", "app").filter(app=app).first()
        email = sociallogin.user.email if sociallogin.user else ""
        try:
            if sign_on is None:
                raise Refused(f"{app.name} is not set up for signing in to the portal.")
            if sociallogin.is_existing:
                still_belongs(sign_on, sociallogin.user)
            else:
                sociallogin.connect(request, person_for(sign_on, email))
        except Refused as refusal:
            security.record("sign_on_refused", request=request, user=sociallogin.user if sociallogin.is_existing
                            else None, email=email, provider=app.name, reason=str(refusal))
            raise ImmediateHttpResponse(_refusal_page(request, app.name, str(refusal))) from None

    def on_authentication_error(self, request, provider, error=None, exception=None, extra_context=None):
        reason = (extra_context or {}).get("saml_last_error_reason") or (str(exception) if exception else error)
        security.record("sign_on_refused", request=request, provider=provider.app.name if provider.app else
                        provider.name, reason=str(reason or "unknown"))
        raise ImmediateHttpResponse(_refusal_page(
            request, provider.app.name if provider.app else provider.name,
            "The identity provider's answer could not be used (it was cancelled, expired or not what the portal "
            "asked for). Try again; if it keeps failing, tell the vendor's support desk the time it happened."))

    def list_apps(self, request, provider=None, client_id=None) -> list[SocialApp]:
        """The providers, with their client secrets readable: stored sealed (portal.credentials),
        as the admin saves them."""
        apps = super().list_apps(request, provider=provider, client_id=client_id)
        for app in apps:
            app.secret = credentials.reveal(app.secret)
        return apps

    def is_open_for_signup(self, request, sociallogin) -> bool:
        return False  # accounts are opened by person_for, never by allauth's sign-up form

    def send_notification_mail(self, *args, **kwargs) -> None:
        pass  # "a third-party account was connected": the sign-on is the organisation's, not the person's


def _refusal_page(request, provider: str, reason: str, *, status: int = 403) -> HttpResponse:
    return render(request, "registration/sign_on_refused.html", {"provider": provider, "reason": reason},
                  status=status)
