"""An organisation's (or the vendor's) webhook endpoints: added, switched on and off, and their
signing secret rotated. The address and the secrets are stored encrypted (portal.credentials);
a secret is shown once, when it is made."""

from datetime import timedelta
from urllib.parse import urlsplit

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from portal import access
from portal.credentials import seal
from portal.choices import EndpointKind, WebhookEvent
from portal.models import Organisation, User, WebhookEndpoint
from portal.webhooks import new_secret, receiver_check

# After a rotation the previous secret signs alongside the new one this long.
ROTATION_GRACE = timedelta(hours=24)
REFUSED = "Only the organisation's lead contact, or the support desk, manages its webhooks."


def _check(by: User, organisation: Organisation | None) -> None:
    if not access.may_manage_webhooks(by, organisation):
        raise PermissionDenied(REFUSED)


def url_hint(url: str, kind: str) -> str:
    """How the address shows in lists: a chat webhook's path is its secret, so only its host."""
    parts = urlsplit(url)
    if kind != EndpointKind.SIGNED:
        return f"{parts.scheme}://{parts.netloc}/…"
    return url if len(url) <= 120 else url[:119] + "…"


def webhook_endpoint_add(*, organisation: Organisation | None, by: User, name: str, kind: str, url: str,
                         events: list[str]) -> tuple[WebhookEndpoint, str]:
    """A new endpoint; answers it and its signing secret (empty for a chat endpoint), to show once."""
    _check(by, organisation)
    url = url.strip()
    receiver_check(url)
    unknown = set(events) - set(WebhookEvent.values)
    if not events or unknown:
        raise ValidationError("Choose at least one event to send.")
    secret = new_secret() if kind == EndpointKind.SIGNED else ""
    with transaction.atomic(), pghistory.context(user=by.pk):
        endpoint = WebhookEndpoint.objects.create(
            organisation=organisation, name=name.strip(), kind=kind, url_sealed=seal(url),
            url_hint=url_hint(url, kind), event_types=sorted(set(events)), secret_sealed=seal(secret), created_by=by,
        )
    return endpoint, secret


def webhook_endpoint_switch(*, endpoint: WebhookEndpoint, by: User, enabled: bool) -> WebhookEndpoint:
    _check(by, endpoint.organisation)
    with transaction.atomic(), pghistory.context(user=by.pk):
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=enabled)
    endpoint.enabled = enabled
    return endpoint


def webhook_secret_rotate(*, endpoint: WebhookEndpoint, by: User) -> str:
    """A new signing secret; the current one goes on signing beside it for ROTATION_GRACE, so the
    receiver can take the new one without refusing a delivery. Answers the new secret."""
    _check(by, endpoint.organisation)
    if not endpoint.is_signed:
        raise ValidationError("A chat endpoint has no signing secret: its address is its secret.")
    secret = new_secret()
    with transaction.atomic(), pghistory.context(user=by.pk):
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.previous_secret_sealed = locked.secret_sealed
        locked.previous_secret_until = timezone.now() + ROTATION_GRACE
        locked.secret_sealed = seal(secret)
        locked.save(update_fields=["previous_secret_sealed", "previous_secret_until", "secret_sealed"])
    return secret
