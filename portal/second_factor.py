"""A second factor at log-in, through django-allauth's MFA (TOTP with recovery codes, WebAuthn).

Vendor staff must have one; a customer may, and must when their organisation requires it
(`Organisation.requires_mfa`). The password is checked by the portal's log-in page
(`portal.views.LoginView`, throttled by django-axes), which then hands the person to allauth's
log-in stages: someone with an authenticator is asked for a code (or a recovery code, or their
security key) before the session is theirs. allauth records each step in the session
(`account_authentication_methods`); a session whose records hold no second factor has not passed
one, whatever signed it in (Django admin's own log-in form, an old session).

`SecondFactorMiddleware` holds the rule on every request: a session that has not passed the second
factor of an enrolled person goes to enter a code; a person who must have one and has none goes to
set one up; the API answers 403 with the reason instead of a page.
"""

import logging
import time

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.flows.login import get_authentication_records, record_authentication
from allauth.core import context
from allauth.mfa import signals
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.conf import settings
from django.contrib import messages
from django.dispatch import receiver
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.http import urlencode

from portal import security, sign_on

logger = logging.getLogger(__name__)

# What counts as a second factor; recovery codes only stand in for one.
FACTORS = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]

ENROL_FIRST = (
    "Your account needs a second factor before you can go on: set up an authenticator app on the "
    "portal's \"Second factor\" page (Account, then Second factor), then try again."
)
PASS_FIRST = "This session has not passed your second factor: log in again with your code."

# Pages a signed-in person reaches before the second factor is settled: setting one up, giving
# a code, leaving.
OPEN_PAGES = {
    "logout", "account_logout", "login", "account_login", "account_reauthenticate",
    "mfa_index", "mfa_authenticate", "mfa_reauthenticate", "mfa_reauthenticate_webauthn",
    "mfa_activate_totp", "mfa_view_recovery_codes", "mfa_download_recovery_codes",
    "mfa_generate_recovery_codes", "mfa_add_webauthn", "mfa_list_webauthn", "healthz",
}


def is_required(user) -> bool:
    """Vendor staff, and the users of an organisation that requires it, must have a second factor."""
    if user.is_vendor:
        return True
    return bool(user.is_customer and user.contact_id and user.contact.organisation.requires_mfa)


def has_second_factor(user) -> bool:
    return Authenticator.objects.filter(user_id=user.pk, type__in=FACTORS).exists()


def code_accepted(user, code: str) -> bool:
    """Whether `code` is the current code of `user`'s authenticator app (each code works once)."""
    app = Authenticator.objects.filter(user_id=user.pk, type=Authenticator.Type.TOTP).first()
    return bool(code) and app is not None and TOTP(app).validate_code(code)


def passed_in_session(request) -> bool:
    """Whether this session's person gave their second factor to the portal (allauth's own record
    of it)."""
    return any(record.get("method") == "mfa" for record in get_authentication_records(request, request.user))


def passed_at_provider(request) -> bool:
    """Whether this session signed in through an identity provider that asks for a second factor
    itself (portal.sign_on): asked only of a session that would otherwise be sent to give one."""
    return sign_on.passed_second_factor(get_authentication_records(request, request.user))


def _client(request) -> str:
    return request.META.get("REMOTE_ADDR", "?") if request is not None else "?"


class SecondFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated or request.resolver_match.url_name in OPEN_PAGES:
            return None
        if passed_in_session(request):
            return None
        if has_second_factor(user):
            refusal, page = PASS_FIRST, "mfa_reauthenticate"
        elif is_required(user):
            refusal, page = ENROL_FIRST, "mfa_activate_totp"
        else:
            return None
        if passed_at_provider(request):
            return None
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": refusal}, status=403)
        if page == "mfa_activate_totp":
            messages.info(request, "Set up a second factor to go on: the portal asks for it at every log-in.",
                          fail_silently=True)
        nxt = request.get_full_path() if request.method == "GET" else reverse("home")
        return HttpResponseRedirect(f"{reverse(page)}?{urlencode({'next': nxt})}")


class AccountAdapter(DefaultAccountAdapter):
    """Accounts are made by staff (no sign-up); allauth's pages are the second factor's only."""

    def is_open_for_signup(self, request) -> bool:
        return False

    def is_reauthentication_required(self, *, app: str, **kwargs) -> bool:
        # Setting up a second factor right after the log-in asks for no password again; later
        # on, a change to one's factors needs a fresh password or code.
        if app == "allauth.mfa" and _signed_in_recently(context.request):
            return False
        return super().is_reauthentication_required(app=app, **kwargs)

    def add_message(self, request, level, message_template=None, message_context=None, extra_tags="", message=None):
        # "Successfully signed in as ..." says what the page already shows.
        if message_template == "account/messages/logged_in.txt":
            return
        super().add_message(request, level, message_template=message_template, message_context=message_context,
                            extra_tags=extra_tags, message=message)


class MFAAdapter(DefaultMFAAdapter):
    error_messages = {
        **DefaultMFAAdapter.error_messages,
        "cannot_delete_authenticator": "Your account must keep a second factor: add a security key (or another "
                                       "app) before you turn this one off.",
    }

    def can_delete_authenticator(self, authenticator: Authenticator) -> bool:
        """Who must have a second factor keeps their last one."""
        user = authenticator.user
        others = Authenticator.objects.filter(user_id=user.pk, type__in=FACTORS).exclude(pk=authenticator.pk)
        return not is_required(user) or others.exists()


def _signed_in_recently(request) -> bool:
    if request is None or not request.user.is_authenticated:
        return False
    records = get_authentication_records(request, request.user)
    return bool(records) and time.time() - records[-1]["at"] < settings.ACCOUNT_REAUTHENTICATION_TIMEOUT


# The second factor's events, with who and from where (the security log reads these lines).

@receiver(signals.authenticator_added)
def _added(sender, request, user, authenticator, **kwargs):
    logger.info("second factor added: %s (%s) from %s", user.email, authenticator.type, _client(request))
    security.record("mfa_added", request=request, user=user, factor=authenticator.type)
    if request is not None and authenticator.type in FACTORS and request.user.pk == user.pk:
        # Setting it up took a code from it (or the key itself): this session has passed it.
        record_authentication(request, user, "mfa", id=authenticator.pk, type=authenticator.type)


@receiver(signals.authenticator_removed)
def _removed(sender, request, user, authenticator, **kwargs):
    logger.warning("second factor removed: %s (%s) from %s", user.email, authenticator.type, _client(request))
    security.record("mfa_removed", request=request, user=user, factor=authenticator.type)


@receiver(signals.authenticator_reset)
def _reset(sender, request, user, authenticator, **kwargs):
    logger.info("second factor renewed: %s (%s) from %s", user.email, authenticator.type, _client(request))


@receiver(signals.authentication_failed)
def _failed(sender, request, user, authenticator, **kwargs):
    logger.warning("second factor refused: %s (%s) from %s", user.email, authenticator.type, _client(request))
    security.record("mfa_failed", request=request, user=user, factor=authenticator.type)
