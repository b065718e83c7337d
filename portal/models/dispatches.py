"""The task outbox: a Celery task the portal decided to send is first a row, written in the
transaction of the decision. A rolled-back decision sends nothing; a committed one is sent
until a worker has received it, whatever happened to Redis meanwhile (portal.dispatch)."""

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Dispatch(models.Model):
    task = models.CharField(max_length=100, help_text="The Celery task's name, e.g. upgrades.step_task.")
    args = models.JSONField(default=list, blank=True)
    about = models.CharField(max_length=100, blank=True, help_text="What it moves on, e.g. step:12.")

    created_at = models.DateTimeField(default=timezone.now)
    # When the next send is due: now for a new row; after a failed send, a short back-off; after
    # a send, the time by which a worker should have received it (else it is sent again).
    next_attempt_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0, help_text="How many sends were tried.")
    sent_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True, help_text="When a worker began the task.")
    last_error = models.TextField(blank=True, help_text="Why the last send failed, while it has not succeeded.")

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [
            # The relay looks only at what no worker has received yet.
            models.Index(fields=["next_attempt_at"], name="portal_dispatch_undelivered",
                         condition=Q(received_at__isnull=True)),
            models.Index(fields=["about", "created_at"], name="portal_dispatch_about"),
        ]

    def __str__(self) -> str:
        return f"{self.task}{tuple(self.args)}"
