"""The security log's rows: who signed in, failed, was locked out, changed a second factor, was
given roles or used a token, from which client address. Written only, never changed."""

from django.conf import settings
from django.db import models


class SecurityKind(models.TextChoices):
    LOG_IN = "log_in", "Signed in"
    LOG_IN_FAILED = "log_in_failed", "Sign-in failed"
    LOCKED_OUT = "locked_out", "Locked out"
    LOG_OUT = "log_out", "Signed out"
    PASSWORD_RESET_ASKED = "password_reset_asked", "Password reset asked for"
    PASSWORD_CHANGED = "password_changed", "Password changed"
    ROLES_CHANGED = "roles_changed", "Roles changed"
    ACCOUNT_ROLE_CHANGED = "account_role_changed", "Account role changed"
    MFA_ADDED = "mfa_added", "Second factor added"
    MFA_REMOVED = "mfa_removed", "Second factor removed"
    MFA_FAILED = "mfa_failed", "Second factor refused"
    TOKEN_CREATED = "token_created", "API token created"
    TOKEN_REVOKED = "token_revoked", "API token revoked"
    TOKEN_REFUSED = "token_refused", "API token refused"
    CALENDAR_FEED_MADE = "calendar_feed_made", "Calendar feed address made"
    CALENDAR_FEED_REVOKED = "calendar_feed_revoked", "Calendar feed address revoked"
    SESSION_REVOKED = "session_revoked", "Session ended by its owner"
    INVITATION_SENT = "invitation_sent", "Invitation sent"
    INVITATION_ACCEPTED = "invitation_accepted", "Invitation accepted"
    SIGN_ON_ACCOUNT_OPENED = "sign_on_account_opened", "Account opened by single sign-on"
    SIGN_ON_REFUSED = "sign_on_refused", "Single sign-on refused"


class SecurityEvent(models.Model):
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    kind = models.CharField(max_length=30, choices=SecurityKind.choices)
    # Who it is about (a failed sign-in may name nobody known: then only `email` says who was tried).
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="security_events")
    email = models.CharField(max_length=254, blank=True)
    # Who did it, when another person did (support granting roles).
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+")
    client = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["user", "-at"], name="portal_securityevent_of_user")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.email or self.user_id}"
