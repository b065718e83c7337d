"""Sessions in the database, as Django keeps them, refusing keys Django never issues; their
time limits (an absolute lifetime and an idle time-out) and their index by person."""

from django.conf import settings
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.utils import timezone

from portal import services
from portal.models import UserSession


class SessionStore(DatabaseSessionStore):
    """A session cookie whose key holds other characters than the lower-case letters and digits
    Django issues names no session. Looking it up could only miss, and a NUL byte in it made
    PostgreSQL refuse the query: a server error on every page and API call."""

    def _validate_session_key(self, key):
        return super()._validate_session_key(key) and set(key) <= set(VALID_KEY_CHARS)


# A session's clock, in its own data: when its person logged in and when it last saw them
# (seconds since the epoch). `seen` is written at most once a minute, so that a request costs
# no session write.
SIGNED_IN_AT = "signed_in_at"
SEEN_AT = "seen_at"
SEEN_EVERY = 60


def _now() -> float:
    return timezone.now().timestamp()


def session_start(sender, request, user, **kwargs) -> None:
    """On log-in (the user_logged_in signal): start the session's clock and list it as one of
    the person's sessions."""
    now = _now()
    request.session[SIGNED_IN_AT] = now
    request.session[SEEN_AT] = now
    session_listed(request, user)


def session_listed(request, user) -> None:
    """List the request's session among `user`'s (under its key now)."""
    if request.session.session_key is None:
        request.session.save()
    services.session_record(user=user, session_key=request.session.session_key,
                            ip=request.META.get("REMOTE_ADDR"), user_agent=request.META.get("HTTP_USER_AGENT", ""))


def why_ended(session) -> str | None:
    """Why a signed-in session is over, or None while it lasts (and then it is marked seen)."""
    now = _now()
    signed_in_at, seen_at = session.get(SIGNED_IN_AT), session.get(SEEN_AT)
    if not isinstance(signed_in_at, (int, float)) or not isinstance(seen_at, (int, float)):
        return "You were signed out: your session began before sessions had a time limit."
    if now - signed_in_at >= settings.SESSION_MAX_HOURS * 3600:
        return f"You were signed out: a session lasts {settings.SESSION_MAX_HOURS} hours at most. Log in again."
    if now - seen_at >= settings.SESSION_IDLE_MINUTES * 60:
        return (f"You were signed out after {settings.SESSION_IDLE_MINUTES} minutes without activity. "
                "Log in again.")
    if now - seen_at >= SEEN_EVERY:
        session[SEEN_AT] = now
        UserSession.objects.filter(session_id=session.session_key).update(last_seen_at=timezone.now())
    return None
