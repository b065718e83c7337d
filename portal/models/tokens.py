from __future__ import annotations

import pghistory
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from portal.choices import TokenScope, TokenState


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(condition=pghistory.AnyChange("name", "revoked_at")),
    pghistory.DeleteEvent(),
    # The hash proves nothing to a reader of the history; last use changes every minute.
    exclude=["key_hash", "last_used_at"],
)
class ApiToken(models.Model):
    """A personal API token. The key is shown once, when it is made; only its SHA-256 hash is
    kept, and a short prefix for people to recognise it in a list."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=10, choices=TokenScope.choices, default=TokenScope.WRITE)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")),
                name="portal_apitoken_expires_after_creation",
                violation_error_message="A token expires after it is made.",
            ),
            models.CheckConstraint(
                condition=~Q(name=""),
                name="portal_apitoken_has_name",
                violation_error_message="Give the token a name, to know it again in the list.",
            ),
            models.CheckConstraint(
                condition=Q(scope__in=TokenScope.values),
                name="portal_apitoken_scope_valid",
                violation_error_message="A token reads, or reads and writes.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return not self.is_revoked and not self.is_expired

    @property
    def state(self) -> TokenState:
        if self.is_revoked:
            return TokenState.REVOKED
        return TokenState.EXPIRED if self.is_expired else TokenState.ACTIVE


class CalendarFeed(models.Model):
    """A person's calendar feed (scheduling serves it): the maintenance windows that concern them,
    at a secret address their calendar app subscribes to (webcal). One per person. The address
    carries a key that is shown once, when it is made; only its SHA-256 hash is kept (and a short
    prefix to recognise it). A new key replaces the old one, whose address answers 404 from then
    on; revoking deletes the row, as a new password does. The key opens this feed and nothing
    else: it is no API token and no session."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # The ETag of what the feed last served, and when that content was first served: the
    # Last-Modified of the answer, right even when an entry merely drops off the feed.
    served_etag = models.CharField(max_length=64, blank=True, editable=False)
    changed_at = models.DateTimeField(null=True, blank=True, editable=False)

    def __str__(self) -> str:
        return f"Calendar feed of {self.user} ({self.prefix}…)"


class UserSession(models.Model):
    """A signed-in browser: the index of Django's sessions by person, for them to see and end.
    It goes with its session row (a log-out, a revocation, `clearsessions`)."""

    # Its own id names it in pages and addresses: the session key is a secret.
    session = models.OneToOneField(Session, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sessions")
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"{self.user} since {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def browser(self) -> str:
        return browser_of(self.user_agent)


# (what the User-Agent holds, what people call it), the first match wins: Edge and Opera say
# "Chrome" too, Chrome says "Safari".
BROWSERS = [("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
            ("Chromium/", "Chromium"), ("Safari/", "Safari"), ("curl/", "curl"), ("python", "a Python script")]
SYSTEMS = [("Windows", "Windows"), ("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"),
           ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux")]


def browser_of(user_agent: str) -> str:
    """"Firefox on Linux" from a User-Agent header; what it cannot tell, it says so."""
    browser = next((name for mark, name in BROWSERS if mark in user_agent), None)
    system = next((name for mark, name in SYSTEMS if mark in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown browser"
