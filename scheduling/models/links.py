import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import models
from django.urls import reverse
from django.utils import timezone

from upgrades.models import UpgradeRequest

SALT = "scheduling.link"


def _new_key() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class LinkStatus:
    """Where a request's scheduling link stands, from its newest link: none issued yet, live,
    withdrawn (revoked) or expired; and what to tell a customer who wants to book."""

    state: str  # "none" | "live" | "revoked" | "expired"
    link: "SchedulingLink | None" = None

    @property
    def live(self) -> bool:
        return self.state == "live"

    @property
    def message(self) -> str:
        if self.state == "none":
            return "No scheduling link has been issued for this upgrade yet: support issues it and e-mails it to you."
        if self.state == "revoked":
            return "The scheduling link of this upgrade was withdrawn by support. Ask support for a new one."
        if self.state == "expired":
            return f"The scheduling link of this upgrade expired on {self.link.expires_at:%d %B %Y}. Ask support for a new one."
        return f"The scheduling link is valid until {self.link.expires_at:%d %B %Y}."


class SchedulingLinkQuerySet(models.QuerySet):
    def status(self) -> LinkStatus:
        """Of one request's links (`upgrade.scheduling_links.status()`): issuing revokes the
        earlier links, so the newest one says it all."""
        link = self.order_by("-issued_at", "-pk").first()
        if link is None:
            return LinkStatus("none")
        if link.revoked_at:
            return LinkStatus("revoked", link)
        if link.expires_at <= timezone.now():
            return LinkStatus("expired", link)
        return LinkStatus("live", link)


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

    objects = SchedulingLinkQuerySet.as_manager()

    class Meta:
        ordering = ["-issued_at"]

    def __str__(self) -> str:
        return f"Scheduling link for {self.request}"

    @property
    def token(self) -> str:
        # Expiry and revocation live on the row; the signature only makes a token unforgeable.
        return signing.Signer(salt=SALT).sign(self.key)

    @property
    def path(self) -> str:
        return reverse("book", args=[self.token])

    @property
    def url(self) -> str:
        return settings.SITE_URL.rstrip("/") + self.path
