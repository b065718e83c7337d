"""The security log's rows: who signed in, failed, was locked out, changed a second factor, was
given roles or used a token, from which client address. Written only, never changed."""

from django.conf import settings
from django.db import models

from portal.choices import SecurityKind


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
