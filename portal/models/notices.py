"""The outbox: every e-mail the portal sends is first a row, written in the same transaction
as the change that causes it, then sent by a Celery task. A unique (key, recipient) means one
cause mails one person once, however often it is retried or re-triggered."""

from django.db import models
from django.db.models import Q

from portal.choices import NoticeKind, NoticeState


class Notice(models.Model):
    key = models.CharField(max_length=200, help_text="What caused it, e.g. request:12:approved.")
    topic = models.CharField(max_length=100, help_text="The row it concerns, e.g. upgrades.upgraderequest:12.")
    recipient = models.EmailField()
    subject = models.CharField(max_length=300)
    body = models.TextField()
    # [{"name": ..., "content_type": ..., "content": <text>}]: calendar files and the like; with
    # "encoding": "base64", the content is binary (a report's PDF) written in base64.
    attachments = models.JSONField(default=list, blank=True)

    state = models.CharField(max_length=10, choices=NoticeState.choices, default=NoticeState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint("key", "recipient", name="portal_notice_once_per_recipient"),
        ]
        indexes = [
            models.Index(fields=["topic", "created_at"], name="portal_notice_topic"),
            # The sweep (portal.tasks.notices_sweep) looks only at notices still to deliver.
            models.Index(
                fields=["next_attempt_at"], name="portal_notice_due",
                condition=Q(state__in=["pending", "failed", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} → {self.recipient}"


class NoticePreference(models.Model):
    """A person's choice about one kind of notice (portal.choices.NoticeKind). No row: they get
    it. What their role must receive is not theirs to switch off (portal.recipients.MANDATORY)."""

    user = models.ForeignKey("portal.User", on_delete=models.CASCADE, related_name="notice_preferences")
    kind = models.CharField(max_length=30, choices=NoticeKind.choices)
    wanted = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint("user", "kind", name="portal_noticepreference_once_per_kind",
                                    violation_error_message="This person has chosen about this notice already."),
        ]

    def __str__(self) -> str:
        return f"{self.user} {'wants' if self.wanted else 'does not want'} {self.kind}"
