"""Outgoing webhooks: the receivers an organisation (or the vendor) names, and the outbox of
their deliveries. A unique (endpoint, key) means one event reaches one receiver once, however
often it is triggered; the delivery keeps its message id across retries, so a receiver that
got a retry of something it had already taken recognises it."""

import pghistory
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from portal.choices import DeliveryState, EndpointKind, WebhookEvent
from portal.models.customers import Organisation, audited


@pghistory.track(*audited(), exclude=["url_sealed", "secret_sealed", "previous_secret_sealed"])
class WebhookEndpoint(models.Model):
    # Empty: the vendor's own endpoint, which hears every organisation's events.
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, null=True, blank=True,
                                     related_name="webhook_endpoints")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=EndpointKind.choices, default=EndpointKind.SIGNED)
    # Fernet tokens (portal.credentials): a chat webhook's address is its secret.
    url_sealed = models.TextField()
    url_hint = models.CharField(max_length=120, help_text="Scheme and host, to recognise it in lists.")
    event_types = ArrayField(models.CharField(max_length=30, choices=WebhookEvent.choices))
    enabled = models.BooleanField(default=True)
    # The signing secret (whsec_...) of a signed endpoint; after a rotation the previous one signs
    # alongside until previous_secret_until, so receivers can switch without losing a delivery.
    secret_sealed = models.TextField(blank=True)
    previous_secret_sealed = models.TextField(blank=True)
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def is_signed(self) -> bool:
        return self.kind == EndpointKind.SIGNED


class WebhookDelivery(models.Model):
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    key = models.CharField(max_length=200, help_text="What caused it, e.g. run:12:started.")
    event = models.CharField(max_length=30)
    # The webhook-id header: the same on every attempt.
    message_id = models.CharField(max_length=40, unique=True)
    # {"type", "timestamp", "data"}: the signed body, or what a chat message is written from.
    payload = models.JSONField()

    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response = models.TextField(blank=True, help_text="The start of the receiver's last answer.")
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint("endpoint", "key", name="portal_webhookdelivery_once_per_endpoint"),
        ]
        indexes = [
            models.Index(fields=["endpoint", "-created_at"], name="portal_webhook_log"),
            # The sweep (portal.tasks.webhooks_sweep) looks only at deliveries still to make.
            models.Index(fields=["next_attempt_at"], name="portal_webhook_due",
                         condition=Q(state__in=["pending", "sending", "retrying"])),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint}"
