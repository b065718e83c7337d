"""Outgoing webhooks through the outbox (portal.models.WebhookDelivery), as mail goes through
portal.notices.

1. `webhook_publish` writes one delivery per enabled endpoint that takes the event (the
   organisation's own endpoints and the vendor's) inside the caller's transaction, with its
   delivery task in the task outbox (portal.dispatch): a rolled-back change tells nobody. A
   unique (endpoint, key) means the same event published twice is delivered once.
2. `webhook_deliver` claims the delivery with a conditional UPDATE (a pending one, a retry that
   is due, or one claimed by a worker that died), posts it, and records the receiver's answer.
   A 2xx is delivered; anything else is retried after `portal.outbox.RETRY_DELAYS`, and after
   MAX_ATTEMPTS it is failed for good. Every attempt carries the same webhook-id, so a receiver can drop a repeat.
3. `webhooks_due` (beat, portal.tasks.webhooks_sweep) finds what is due again.

A signed endpoint gets the Standard Webhooks headers (standardwebhooks.com): webhook-id,
webhook-timestamp and webhook-signature, "v1,<base64 HMAC-SHA256 of id.timestamp.body>", one
signature per secret in use (the previous secret signs too for a day after a rotation). Chat
endpoints (Teams, Slack) get their message JSON; their secret is their address.
"""

import base64
import ipaddress
import json
import logging
import secrets
import socket
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from portal import webhook_messages
from portal.credentials import CredentialError, reveal
from portal.dispatch import dispatch
from portal.choices import TEST_EVENT, DeliveryState, EndpointKind
from portal.models import Organisation, WebhookDelivery, WebhookEndpoint
from portal.outbox import Outbox, retry_delay

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
CLAIM_EXPIRES = timedelta(minutes=2)
OUTBOX = Outbox(WebhookDelivery, pending=DeliveryState.PENDING, sending=DeliveryState.SENDING,
                retrying=DeliveryState.RETRYING, claim_expires=CLAIM_EXPIRES)
RESPONSE_KEPT = 500  # characters of the receiver's answer kept for the delivery log


# -- Addresses ---------------------------------------------------------------------------------

def receiver_check(url: str) -> None:
    """Refuse an address the portal must not post to: not https, or resolving to a private,
    loopback, link-local or reserved address (the portal's own network). Loopback, over http
    too, only where settings.WEBHOOKS_ALLOW_LOOPBACK is on (DEBUG, the tests' receivers)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationError("Give the receiver's full address, starting with https://.")
    if parts.scheme != "https" and not settings.WEBHOOKS_ALLOW_LOOPBACK:
        raise ValidationError("The receiver's address must start with https://.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, ValueError, UnicodeError):
        raise ValidationError(f"{parts.hostname} cannot be found: check the address.") from None
    addresses = {ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in found}
    if settings.WEBHOOKS_ALLOW_LOOPBACK and all(address.is_loopback for address in addresses):
        return
    if parts.scheme != "https":
        raise ValidationError("The receiver's address must start with https://.")
    if not all(address.is_global for address in addresses):
        raise ValidationError(f"{parts.hostname} is a private or local address: the portal posts only to "
                              "addresses on the internet.")


def new_secret() -> str:
    """A signing secret as Standard Webhooks writes it: whsec_ and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signing_secrets(endpoint: WebhookEndpoint) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during its grace period."""
    found = [reveal(endpoint.secret_sealed)]
    if endpoint.previous_secret_sealed and endpoint.previous_secret_until and \
            endpoint.previous_secret_until > timezone.now():
        found.append(reveal(endpoint.previous_secret_sealed))
    return found


# -- Writing to the outbox ---------------------------------------------------------------------

def _message_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def webhook_publish(*, key: str, event: str, organisation: Organisation, data: dict) -> list[WebhookDelivery]:
    """One delivery of `event` to every enabled endpoint of `organisation` and of the vendor that
    takes it; endpoints that already have `key` are left alone."""
    endpoints = list(WebhookEndpoint.objects.filter(
        Q(organisation=organisation) | Q(organisation__isnull=True), enabled=True, event_types__contains=[event],
    ))
    payload = {"type": event, "timestamp": timezone.now().isoformat(), "data": data}
    rows = [WebhookDelivery(endpoint=endpoint, key=key, event=event, message_id=_message_id(), payload=payload,
                            next_attempt_at=timezone.now()) for endpoint in endpoints]
    # A concurrent publish of the same event: the unique (endpoint, key) decides, the loser adds nothing.
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    created = list(WebhookDelivery.objects.filter(message_id__in=[row.message_id for row in rows]))
    for delivery in created:
        dispatch("portal.webhook_deliver", delivery.pk, about=f"webhook:{delivery.pk}")
    return created


def webhook_test_send(*, endpoint: WebhookEndpoint, by) -> WebhookDelivery:
    """The "Send test" button: one delivery of a test event, made now, not retried."""
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, key=f"test:{secrets.token_hex(8)}", event=TEST_EVENT, message_id=_message_id(),
        next_attempt_at=timezone.now(),
        payload={"type": TEST_EVENT, "timestamp": timezone.now().isoformat(),
                 "data": {"endpoint": endpoint.name,
                          "organisation": endpoint.organisation.slug if endpoint.organisation else None,
                          "sent_by": by.full_name,
                          "text": "A test from the upgrade portal: this endpoint is reached."}},
    )
    webhook_deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


# -- Delivering --------------------------------------------------------------------------------

def body_of(delivery: WebhookDelivery) -> str:
    """What is posted: the payload itself to a signed endpoint, a chat message to the others."""
    kind = delivery.endpoint.kind
    document = delivery.payload if kind == EndpointKind.SIGNED else webhook_messages.MESSAGES[kind](delivery.payload)
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def _headers(delivery: WebhookDelivery, body: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": "upgrade-portal-webhooks"}
    if delivery.endpoint.is_signed:
        moment = timezone.now().replace(microsecond=0)
        headers |= {
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": " ".join(
                Webhook(secret).sign(msg_id=delivery.message_id, timestamp=moment, data=body)
                for secret in signing_secrets(delivery.endpoint)
            ),
        }
    return headers


def _post(delivery: WebhookDelivery) -> httpx.Response:
    url = reveal(delivery.endpoint.url_sealed)
    receiver_check(url)  # again: what a name resolves to may have changed since it was saved
    body = body_of(delivery)
    # Straight to the receiver (no proxy from the environment), redirects not followed: the
    # address checked is the address posted to.
    with httpx.Client(timeout=settings.WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False, trust_env=False) as client:
        return client.post(url, content=body.encode(), headers=_headers(delivery, body))


def webhook_deliver(*, delivery_id: int) -> str:
    """Make one attempt at a delivery if it is due; returns its state afterwards."""
    if not OUTBOX.claim(delivery_id):
        return WebhookDelivery.objects.filter(pk=delivery_id).values_list("state", flat=True).first() or "missing"
    delivery = WebhookDelivery.objects.select_related("endpoint__organisation").get(pk=delivery_id)
    if not delivery.endpoint.enabled and delivery.event != TEST_EVENT:
        return _record_failure(delivery, status=None, response="", error="Not sent: the endpoint is switched off.",
                               final=True)
    try:
        response = _post(delivery)
    except (httpx.HTTPError, ValidationError, CredentialError) as error:
        reason = " ".join(error.messages) if isinstance(error, ValidationError) else f"{type(error).__name__}: {error}"
        return _record_failure(delivery, status=None, response="", error=reason)
    answer = response.text[:RESPONSE_KEPT]
    if not response.is_success:
        return _record_failure(delivery, status=response.status_code, response=answer,
                               error=f"The receiver answered {response.status_code}.")
    WebhookDelivery.objects.filter(pk=delivery.pk, state=DeliveryState.SENDING).update(
        state=DeliveryState.DELIVERED, delivered_at=timezone.now(), last_status=response.status_code,
        last_response=answer, last_error="", next_attempt_at=None,
    )
    return DeliveryState.DELIVERED


def _record_failure(delivery: WebhookDelivery, *, status: int | None, response: str, error: str,
                    final: bool = False) -> str:
    give_up = final or delivery.event == TEST_EVENT or delivery.attempts >= MAX_ATTEMPTS
    state = DeliveryState.FAILED if give_up else DeliveryState.RETRYING
    delay = retry_delay(delivery.attempts)
    WebhookDelivery.objects.filter(pk=delivery.pk, state=DeliveryState.SENDING).update(
        state=state, last_status=status, last_response=response, last_error=error[:1000],
        next_attempt_at=None if give_up else timezone.now() + delay,
    )
    log.warning("webhook delivery %s (%s) failed, attempt %s%s: %s", delivery.pk, delivery.event, delivery.attempts,
                " (given up)" if give_up else "", error)
    return state


def webhooks_due(*, limit: int = 200) -> list[int]:
    return OUTBOX.due(limit=limit)
