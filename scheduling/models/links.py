import secrets

from django.conf import settings
from django.db import models

from upgrades.models import UpgradeRequest


def _new_key() -> str:
    return secrets.token_urlsafe(24)


class SchedulingLink(models.Model):
    """S8: the link support issues once the prerequisites are approved; the only way in to book.
    The URL carries a signed form of `key`, so a link is unguessable, tamper-evident, expiring
    and revocable."""

    request = models.ForeignKey(UpgradeRequest, on_delete=models.CASCADE, related_name="scheduling_links")
    key = models.CharField(max_length=64, unique=True, default=_new_key, editable=False)
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    issued_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_opened_at = models.DateTimeField(null=True, blank=True)

    organisation_path = "request__deployment__organisation"

    class Meta:
        ordering = ["-issued_at"]

    def __str__(self) -> str:
        return f"Scheduling link for {self.request}"
