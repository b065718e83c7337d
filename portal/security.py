"""The security log: each sign-in, failure, lock-out, sign-out, password reset, change of roles or
second factor, and API token made, revoked or refused, with the client's real address (uvicorn
sets REMOTE_ADDR from trusted proxies only). Each is a row of the audit trail (SecurityEvent,
read in the admin) and a structured line of the log `portal.security`:

    security event=log_in_failed email="lead@northwind.example" user=- actor=- client=192.0.2.7
"""

import logging
from contextvars import ContextVar

from allauth.account.internal.flows.login import get_authentication_records
from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from portal.models import SecurityEvent, User

log = logging.getLogger("portal.security")
# The address of the client whose request is being answered, for events that services record
# (they are given the person, not the request).
_client: ContextVar[str | None] = ContextVar("security_client", default=None)


class ClientAddressMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _client.set(request.META.get("REMOTE_ADDR") or None)
        try:
            return self.get_response(request)
        finally:
            _client.reset(token)


def client_of(request) -> str | None:
    return (request.META.get("REMOTE_ADDR") or None) if request is not None else _client.get()


def record(kind: str, *, request=None, user: User | None = None, email: str = "", actor: User | None = None,
           **details) -> SecurityEvent:
    user = user if user is not None and user.pk else None
    email = email or (user.email if user else "")
    event = SecurityEvent.objects.create(kind=kind, user=user, email=email[:254], actor=actor,
                                         client=client_of(request), details=details)
    fields = {"event": kind, "email": f'"{email}"', "user": user.pk if user else "-",
              "actor": actor.pk if actor else "-", "client": event.client or "-",
              **{key: f'"{value}"' if isinstance(value, str) else value for key, value in details.items()}}
    log.info("security %s", " ".join(f"{key}={value}" for key, value in fields.items()),
             extra={"security": {**fields, "event": kind}})
    return event


@receiver(user_logged_in, dispatch_uid="security-log-in")
def _logged_in(sender, request, user, **kwargs):
    # A sign-in through an identity provider says which (allauth recorded it in the session).
    records = get_authentication_records(request, user) if hasattr(request, "session") else []
    via = [r["provider"] for r in records if r.get("method") == "socialaccount" and r.get("provider")]
    record("log_in", request=request, user=user, **({"sign_on": via[-1]} if via else {}))


@receiver(user_logged_out, dispatch_uid="security-log-out")
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        record("log_out", request=request, user=user)


@receiver(user_login_failed, dispatch_uid="security-log-in-failed")
def _log_in_failed(sender, credentials, request=None, **kwargs):
    email = str(credentials.get("username") or credentials.get("email") or "")
    record("log_in_failed", request=request, user=User.objects.filter(email__iexact=email).first(), email=email)


@receiver(user_locked_out, dispatch_uid="security-locked-out")
def _locked_out(sender, request, username, ip_address, **kwargs):
    record("locked_out", request=request, user=User.objects.filter(email__iexact=username or "").first(),
           email=username or "")
