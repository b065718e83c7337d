"""Personal API tokens on the wire: how a key is made and recognised, and DRF's authentication
by `Authorization: Token <key>` (or `Bearer <key>`).

Only a key's SHA-256 hash is stored; a key is looked up by its hash, so the database never
compares secrets and a copy of it opens nothing.
"""

import hashlib
import secrets
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.permissions import SAFE_METHODS

from portal import second_factor, security
from portal.choices import TokenScope
from portal.models import ApiToken

KEY_PREFIX = "pt_"  # so that a key pasted in the wrong place is recognised for what it is
PREFIX_LENGTH = 10  # "pt_" and 7 characters of 43 random ones: shown in lists, opens nothing
KEYWORDS = ("token", "bearer")
USE_RECORDED_EVERY = timedelta(minutes=1)

READ_ONLY = "This token is read-only: it may read (GET, HEAD, OPTIONS), not change anything."


def key_new() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_prefix(key: str) -> str:
    return key[:PREFIX_LENGTH]


def _record_use(token: ApiToken, now) -> None:
    """At most one UPDATE a minute per token: the condition lets only the first of concurrent
    requests write it."""
    if token.last_used_at is not None and now - token.last_used_at < USE_RECORDED_EVERY:
        return
    ApiToken.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - USE_RECORDED_EVERY), pk=token.pk
    ).update(last_used_at=now)


def _refusal(token: ApiToken | None, now) -> str:
    """Why `token` opens nothing now, or ""."""
    if token is None:
        return "This token is not known: it may have been mistyped or deleted."
    if token.revoked_at is not None:
        return "This token was revoked."
    if token.expires_at <= now:
        return f"This token expired on {token.expires_at:%d %b %Y at %H:%M} UTC; make a new one."
    if not token.user.is_active:
        return "This account is disabled."
    return ""


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """A request with no Authorization header is left to the next class (the session); a
    header naming a token that is unknown, expired or revoked is refused with 401."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace").lower() not in KEYWORDS:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the token as `Authorization: Token <key>`, with no spaces in the key.")
        try:
            key = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("This token is not one the portal makes.") from None
        # With its account, contact and organisation: whether it must have a second factor is read below.
        token = ApiToken.objects.select_related("user__contact__organisation").filter(key_hash=key_hash(key)).first()
        now = timezone.now()
        refusal = _refusal(token, now)
        if refusal:
            security.record("token_refused", request=request, user=token.user if token else None,
                            token=token.prefix if token else key[:10], reason=refusal)
            raise exceptions.AuthenticationFailed(refusal)
        if second_factor.is_required(token.user) and not second_factor.has_second_factor(token.user):
            raise exceptions.PermissionDenied(second_factor.ENROL_FIRST)
        if token.scope == TokenScope.READ and request.method not in SAFE_METHODS:
            raise exceptions.PermissionDenied(READ_ONLY)
        _record_use(token, now)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Token realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the tokens."""

    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A personal API token: `Token <key>` (or `Bearer <key>`). Make one with POST "
                           "/api/v1/token/ or on your account page; a read-scoped token may only read.",
        }
