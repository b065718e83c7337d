"""The public status page of a deployment, for the customer's own service users, and the people
who subscribed to it by e-mail."""

import secrets

import pghistory
from django.db import models

from portal.models import Deployment
from portal.models.customers import audited


def new_token() -> str:
    return secrets.token_urlsafe(24)


# Who switched the page on or off, and when its address changed (the token itself is kept out).
@pghistory.track(*audited(), exclude=["token"])
class StatusPage(models.Model):
    """One per deployment, off until the customer switches it on. Its address is its token:
    rotating the token retires the old address at once."""

    deployment = models.OneToOneField(Deployment, on_delete=models.CASCADE, related_name="status_page")
    token = models.CharField(max_length=64, unique=True, default=new_token)
    # What the customer's users call the service; never the deployment's internal name.
    service_name = models.CharField(max_length=120)
    enabled = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    organisation_path = "deployment__organisation"

    def __str__(self) -> str:
        return f"Status page of {self.deployment}"


class StatusSubscriber(models.Model):
    """A service user who asked for the page's news by e-mail: nothing is sent to them but the
    confirmation until they confirm (double opt-in). Unsubscribing deletes the row."""

    page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="subscribers")
    email = models.EmailField()
    token = models.CharField(max_length=64, unique=True, default=new_token)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "page", "email", name="scheduling_statussubscriber_once_per_page",
                violation_error_message="This address is already subscribed.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} on {self.page}"
