"""The line of communication on an upgrade: messages between the vendor's people and the
customer's contacts, before the day (on the request) and during it (on the run)."""

from django.conf import settings
from django.db import models

from upgrades.choices import MessageVia
from upgrades.models.requests import UpgradeRequest
from upgrades.models.runs import Run


class Message(models.Model):
    """One message. An internal note is the vendor's alone: no customer ever sees it, on a page,
    in the live stream, in the report or its PDF. The author's name is kept as it was written."""

    upgrade = models.ForeignKey(UpgradeRequest, on_delete=models.CASCADE, related_name="messages")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, null=True, blank=True, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    author_name = models.CharField(max_length=150)
    from_vendor = models.BooleanField()
    body = models.TextField()
    internal = models.BooleanField(default=False)
    via = models.CharField(max_length=10, choices=MessageVia.choices, default=MessageVia.PAGE)
    written_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["written_at", "pk"]
        indexes = [models.Index(fields=["upgrade", "written_at"])]
        constraints = [models.CheckConstraint(condition=~models.Q(internal=True, from_vendor=False),
                                              name="message_internal_only_from_the_vendor")]

    def __str__(self) -> str:
        return f"{self.author_name}: {self.body[:40]}"
