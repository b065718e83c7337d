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

import httpcore
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

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# The well-known NAT64 prefix (RFC 6052): 64:ff9b::a.b.c.d reaches a.b.c.d through a translator.
NAT64 = ipaddress.ip_network("64:ff9b::/96")


def receiver_check(url: str) -> None:
    """Refuse an address the portal must not post to: not https, or resolving to a private,
    loopback, link-local or reserved address (the portal's own network). Loopback, over http
    too, only where settings.WEBHOOKS_ALLOW_LOOPBACK is on (DEBUG, the tests' receivers)."""
    scheme, host, port = _receiver_parts(url)
    _addresses_check(scheme, host, _resolve(host, port))


def _receiver_parts(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationError("Give the receiver's full address, starting with https://.")
    if parts.scheme != "https" and not settings.WEBHOOKS_ALLOW_LOOPBACK:
        raise ValidationError("The receiver's address must start with https://.")
    try:
        return parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValidationError(f"{parts.hostname} cannot be found: check the address.") from None


def _resolve(host: str, port: int) -> list[IPAddress]:
    """What `host` (a name or a literal address) resolves to now, in the resolver's order."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise ValidationError(f"{host} cannot be found: check the address.") from None
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in found))


def _reached(address: IPAddress) -> IPAddress:
    """The address a connection ends at: an IPv6 address carrying an IPv4 one (IPv4-mapped,
    NAT64, 6to4) reaches that IPv4 address."""
    if address.version == 4:
        return address
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return address.ipv4_mapped or address.sixtofour or address


def _addresses_check(scheme: str, host: str, addresses: list[IPAddress]) -> None:
    """The one rule, when an address is saved and when the portal connects: every address the
    name resolves to is on the internet, or every one is loopback where that is allowed."""
    reached = [_reached(address) for address in addresses]
    if settings.WEBHOOKS_ALLOW_LOOPBACK and all(address.is_loopback for address in reached):
        return
    if scheme != "https":
        raise ValidationError("The receiver's address must start with https://.")
    if not all(address.is_global for address in reached):
        raise ValidationError(f"{host} is a private or local address: the portal posts only to "
                              "addresses on the internet.")


class _CheckedBackend(httpcore.SyncBackend):
    """Connections that go only where the rule allows: the name is resolved once, every address
    it resolves to is checked, and the connection is made to a checked address, so the address
    checked is the address connected to and a name whose answer changes in between (DNS
    rebinding) cannot lead into the portal's own network. TLS still starts with the name (SNI,
    the certificate checked against it), and the request's Host header is still the name."""

    def __init__(self, *, scheme: str):
        self.scheme = scheme

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options=None) -> httpcore.NetworkStream:
        addresses = _resolve(host, port)
        _addresses_check(self.scheme, host, addresses)
        for address in addresses:
            try:
                return super().connect_tcp(str(address), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as error:
                refused = error  # the next address may answer, as socket.create_connection tries each
        raise refused


class _ReceiverTransport(httpx.HTTPTransport):
    """httpx's own transport (its requests, responses and errors) over connections made by
    _CheckedBackend: httpx 0.28 takes no network backend, its httpcore pool does."""

    def __init__(self, *, scheme: str):
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(trust_env=False),
                                             network_backend=_CheckedBackend(scheme=scheme))


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
    scheme, _, _ = _receiver_parts(url)
    body = body_of(delivery)
    # Straight to the receiver (no proxy from the environment), redirects not followed, and the
    # address resolved when connecting is checked then (_CheckedBackend): what a name resolves to
    # may have changed since it was saved.
    with httpx.Client(transport=_ReceiverTransport(scheme=scheme), timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
                      follow_redirects=False, trust_env=False) as client:
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
