"""The line of communication on an upgrade: messages between the vendor's people and the
customer's contacts, before the day (on the request) and during it (on the run)."""

from django.conf import settings
from django.db import models

from upgrades.choices import MessageVia
from upgrades.models.requests import UpgradeRequest
from upgrades.models.runs import Run


class Message(models.Model):
    """One message. An internal note is the vendor's alone: no customer ever sees it, on a page,
    in the live stream, in the report or its PDF. A public one, written by the vendor during the
    run, is also an update on the status page. The author's name is kept as it was written."""

    upgrade = models.ForeignKey(UpgradeRequest, on_delete=models.CASCADE, related_name="messages")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, null=True, blank=True, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    author_name = models.CharField(max_length=150)
    from_vendor = models.BooleanField()
    body = models.TextField()
    internal = models.BooleanField(default=False)
    # An update for the service's users too: shown on the deployment's public status page, with
    # neither the author's name nor anything else of the vendor's.
    public = models.BooleanField(default=False)
    via = models.CharField(max_length=10, choices=MessageVia.choices, default=MessageVia.PAGE)
    written_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["written_at", "pk"]
        indexes = [models.Index(fields=["upgrade", "written_at"])]
        constraints = [models.CheckConstraint(condition=~models.Q(internal=True, from_vendor=False),
                                              name="message_internal_only_from_the_vendor"),
                       models.CheckConstraint(condition=~models.Q(public=True, internal=True),
                                              name="message_public_or_internal"),
                       models.CheckConstraint(condition=~models.Q(public=True, run__isnull=True),
                                              name="message_public_only_on_a_run")]

    def __str__(self) -> str:
        return f"{self.author_name}: {self.body[:40]}"
