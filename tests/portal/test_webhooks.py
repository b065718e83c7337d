"""Outgoing webhooks, posted to a real HTTP receiver on loopback: signed as Standard Webhooks
says (checked with the library's verify and by hand), retried with backoff and then recorded as
failed, delivered once however often the event or the claim repeats; Teams and Slack messages;
the endpoints' page (add, send test, rotate, a bad address refused); a name that resolves
elsewhere after its check (DNS rebinding) is not posted to."""

import base64
import hashlib
import hmac
import json
import socket
import threading
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from portal.credentials import reveal
from portal.choices import DeliveryState, WebhookEvent
from portal.models import WebhookDelivery, WebhookEndpoint
from portal.outbox import RETRY_DELAYS
from portal.webhook_endpoints import webhook_endpoint_add, webhook_secret_rotate
from portal.webhooks import MAX_ATTEMPTS, receiver_check, webhook_deliver, webhook_publish, webhooks_due
from scheduling.choices import Cover
from scheduling.services.booking import window_book
from scheduling.services.windows import window_cancel, window_reschedule
from tests.scheduling.status_world import START

ALL = list(WebhookEvent.values)


@pytest.fixture(autouse=True)
def before_the_window(time_machine):
    time_machine.move_to(START - timedelta(days=10), tick=True)


def _endpoint(organisation, by, url, *, kind="signed", events=ALL, name="Service desk"):
    return webhook_endpoint_add(organisation=organisation, by=by, name=name, kind=kind, url=url, events=events)


def _deliver_all() -> None:
    """What the worker does with each delivery's task."""
    for pk in WebhookDelivery.objects.filter(state=DeliveryState.PENDING).order_by("pk").values_list("pk", flat=True):
        webhook_deliver(delivery_id=pk)


def _by_hand(secret: str, headers: dict, body: bytes) -> bool:
    """The documented check (docs/webhooks.md), without the library."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(f"v1,{expected}", given) for given in headers["webhook-signature"].split(" "))


# -- Signed deliveries --------------------------------------------------------------------------


def test_a_window_booked_moved_and_cancelled_reaches_the_receiver_signed(
        webhook_receiver, northwind, customer, approved, engineer):
    _, secret = _endpoint(northwind, customer, webhook_receiver.url)

    window = window_book(upgrade=approved, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)
    window_reschedule(window=window, start=START + timedelta(days=1), engineer_ids=[engineer.pk],
                      cover=Cover.STANDARD, by=customer)
    window.refresh_from_db()
    window_cancel(window=window, by=customer, reason="Exams")
    _deliver_all()

    bodies = []
    for headers, body in webhook_receiver.received:
        assert Webhook(secret).verify(body, headers)  # the library's check
        assert _by_hand(secret, headers, body)
        bodies.append(json.loads(body))
    assert [body["type"] for body in bodies] == ["window.scheduled", "window.moved", "window.cancelled"]
    moved = bodies[1]["data"]
    assert moved["organisation"] == {"slug": "northwind", "name": northwind.name}
    assert moved["deployment"]["name"] == approved.deployment.name
    assert moved["window"]["start"] == (START + timedelta(days=1)).isoformat()
    assert moved["url"].endswith(reverse("request-detail", args=[approved.pk]))
    assert bodies[2]["data"]["reason"] == "Exams"
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {DeliveryState.DELIVERED}


def test_a_tampered_body_or_another_secret_does_not_verify(webhook_receiver, northwind, customer):
    _, secret = _endpoint(northwind, customer, webhook_receiver.url)
    webhook_publish(key="run:1:started", event="run.started", organisation=northwind, data={"summary": "Started"})
    _deliver_all()

    ((headers, body),) = webhook_receiver.received
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"Started", b"Stopped"), headers)
    _, other = _endpoint(northwind, customer, webhook_receiver.url, name="Other")
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, headers)


def test_after_a_rotation_both_secrets_sign_for_a_day_then_only_the_new_one(
        webhook_receiver, northwind, customer, time_machine):
    endpoint, old = _endpoint(northwind, customer, webhook_receiver.url)
    new = webhook_secret_rotate(endpoint=endpoint, by=customer)

    webhook_publish(key="a", event="run.started", organisation=northwind, data={})
    _deliver_all()
    (during,) = webhook_receiver.received
    assert new != old and len(during[0]["webhook-signature"].split(" ")) == 2
    assert Webhook(new).verify(during[1], during[0]) and Webhook(old).verify(during[1], during[0])

    time_machine.move_to(timezone.now() + timedelta(hours=25), tick=True)
    webhook_publish(key="b", event="run.started", organisation=northwind, data={})
    _deliver_all()

    after = webhook_receiver.received[1]
    assert len(after[0]["webhook-signature"].split(" ")) == 1
    assert Webhook(new).verify(after[1], after[0])
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after[1], after[0])


# -- Retries and failures -----------------------------------------------------------------------


def test_a_failing_receiver_gets_retries_with_backoff_then_a_recorded_failure(
        webhook_receiver, northwind, customer, client_for, time_machine):
    endpoint, _ = _endpoint(northwind, customer, webhook_receiver.url)
    webhook_receiver.status, webhook_receiver.answer = 500, b"database is down"
    webhook_publish(key="run:7:started", event="run.started", organisation=northwind, data={"summary": "x"})
    (delivery,) = WebhookDelivery.objects.all()

    webhook_deliver(delivery_id=delivery.pk)
    assert webhooks_due() == []  # the retry waits its delay
    webhook_deliver(delivery_id=delivery.pk)
    assert len(webhook_receiver.received) == 1
    for delay in RETRY_DELAYS[:MAX_ATTEMPTS - 1]:
        time_machine.move_to(timezone.now() + delay + timedelta(seconds=1), tick=True)
        assert webhooks_due() == [delivery.pk]
        webhook_deliver(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status) == (DeliveryState.FAILED, MAX_ATTEMPTS, 500)
    assert delivery.last_response == "database is down"
    assert len(webhook_receiver.received) == MAX_ATTEMPTS
    assert {headers["webhook-id"] for headers, _ in webhook_receiver.received} == {delivery.message_id}
    time_machine.move_to(timezone.now() + timedelta(days=1), tick=True)
    assert webhooks_due() == []
    log = client_for(customer).get(reverse("webhook-detail", args=[endpoint.pk])).content.decode()
    assert "Failed" in log and "The receiver answered 500." in log and "database is down" in log


def test_a_receiver_that_is_not_there_is_retried(northwind, customer, settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    _endpoint(northwind, customer, "http://127.0.0.1:9/nobody")
    webhook_publish(key="k", event="run.started", organisation=northwind, data={})
    _deliver_all()

    (delivery,) = WebhookDelivery.objects.all()
    assert delivery.state == DeliveryState.RETRYING and "ConnectError" in delivery.last_error
    assert delivery.last_status is None


# -- Once -------------------------------------------------------------------------------------


def test_the_same_event_published_twice_is_delivered_once(webhook_receiver, northwind, customer):
    _endpoint(northwind, customer, webhook_receiver.url)

    webhook_publish(key="run:3:started", event="run.started", organisation=northwind, data={})
    webhook_publish(key="run:3:started", event="run.started", organisation=northwind, data={})
    _deliver_all()
    webhook_deliver(delivery_id=WebhookDelivery.objects.get().pk)  # a task message sent twice

    assert len(webhook_receiver.received) == 1


def test_two_workers_claiming_one_delivery_at_once_post_it_once(transactional_db, world, webhook_receiver,
                                                                 northwind, customer):
    _endpoint(northwind, customer, webhook_receiver.url)
    webhook_publish(key="run:4:started", event="run.started", organisation=northwind, data={})
    delivery = WebhookDelivery.objects.get()
    start = threading.Barrier(4)
    answers = []

    def work():
        from django.db import connection

        start.wait()
        answers.append(webhook_deliver(delivery_id=delivery.pk))
        connection.close()

    workers = [threading.Thread(target=work) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert len(webhook_receiver.received) == 1
    assert answers.count(DeliveryState.DELIVERED) >= 1
    assert WebhookDelivery.objects.get().attempts == 1


# -- Who hears what ---------------------------------------------------------------------------


def test_an_organisation_hears_only_its_own_events_and_the_vendor_hears_all(
        webhook_receiver, northwind, contoso, customer, support):
    northwind_hook, _ = _endpoint(northwind, customer, webhook_receiver.url)
    vendor_hook, _ = _endpoint(None, support, webhook_receiver.url, name="Vendor desk")
    picky, _ = _endpoint(northwind, customer, webhook_receiver.url, name="Only ends", events=["run.completed"])

    webhook_publish(key="run:9:started", event="run.started", organisation=contoso, data={})
    webhook_publish(key="run:8:started", event="run.started", organisation=northwind, data={})

    assert sorted(WebhookDelivery.objects.values_list("endpoint__name", "key")) == [
        ("Service desk", "run:8:started"), ("Vendor desk", "run:8:started"), ("Vendor desk", "run:9:started")]
    assert not picky.deliveries.exists()


def test_a_switched_off_endpoint_gets_nothing(webhook_receiver, northwind, customer):
    endpoint, _ = _endpoint(northwind, customer, webhook_receiver.url)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False)

    webhook_publish(key="k", event="run.started", organisation=northwind, data={})

    assert not WebhookDelivery.objects.exists()


# -- Chat --------------------------------------------------------------------------------------


def test_teams_and_slack_get_their_message_shapes_unsigned(webhook_receiver, northwind, customer):
    _endpoint(northwind, customer, webhook_receiver.url + "/teams", kind="teams", name="Teams")
    _endpoint(northwind, customer, webhook_receiver.url + "/slack", kind="slack", name="Slack")
    webhook_publish(key="k", event="run.paused", organisation=northwind, data={
        "summary": "The upgrade of Northwind AppsAnywhere: the run is paused: Install group 1 failed",
        "url": "https://portal.example/runs/5/", "organisation": {"slug": "northwind", "name": "Northwind University"},
        "deployment": {"id": 1, "name": "Northwind AppsAnywhere"},
        "window": {"start": "2027-03-09T10:00:00+00:00", "end": "2027-03-09T14:00:00+00:00"},
    })
    _deliver_all()

    posted = {path.rsplit("/", 1)[1]: (headers, json.loads(body))
              for path, (headers, body) in zip(webhook_receiver.paths, webhook_receiver.received)}
    (teams_headers, teams), (slack_headers, slack) = posted["teams"], posted["slack"]
    assert "webhook-signature" not in teams_headers and "webhook-signature" not in slack_headers
    assert teams["type"] == "message"
    card = teams["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard"
    assert card["content"]["body"][0]["text"].endswith("Install group 1 failed")
    assert {"title": "Deployment", "value": "Northwind AppsAnywhere"} in card["content"]["body"][1]["facts"]
    assert card["content"]["actions"][0]["url"] == "https://portal.example/runs/5/"
    assert slack["text"].endswith("Install group 1 failed")
    assert slack["blocks"][0]["text"]["text"].startswith("*<https://portal.example/runs/5/|")


# -- Addresses ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url, message", [
    ("http://example.com/hook", "must start with https://"),
    ("https://10.1.2.3/hook", "private or local address"),
    ("https://169.254.169.254/latest/meta-data", "private or local address"),
    ("https://127.0.0.1:8443/hook", "private or local address"),
    ("https://localhost/hook", "private or local address"),
    ("https://[::1]/hook", "private or local address"),
    ("https://[::ffff:127.0.0.1]/hook", "private or local address"),
    ("https://[::ffff:10.1.2.3]/hook", "private or local address"),
    ("https://[fe80::1]/hook", "private or local address"),
    ("https://[64:ff9b::a01:203]/hook", "private or local address"),  # NAT64 to 10.1.2.3
    ("https://[2002:a01:203::1]/hook", "private or local address"),  # 6to4 to 10.1.2.3
    ("ftp://example.com/", "starting with https://"),
    ("https://nowhere.invalid/hook", "cannot be found"),
])
def test_private_local_and_plain_addresses_are_refused(url, message, settings):
    from django.core.exceptions import ValidationError

    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    with pytest.raises(ValidationError, match=message):
        receiver_check(url)


@pytest.mark.parametrize("url", ["https://1.1.1.1/hook", "https://[2606:4700:4700::1111]/hook",
                                 "https://[::ffff:1.1.1.1]/hook"])
def test_public_addresses_pass_written_as_ipv4_ipv6_or_ipv4_mapped(url, settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    receiver_check(url)


# -- DNS rebinding ------------------------------------------------------------------------------


class HostileDNS:
    """Stands in for a name server the attacker runs, the one part that cannot run here: each
    name it knows answers its addresses in turn, the last one from then on; every other name (and
    every literal address) resolves as usual."""

    def __init__(self, monkeypatch):
        self.answers: dict[str, list[str]] = {}
        self.asked: list[str] = []
        resolve = socket.getaddrinfo

        def getaddrinfo(host, port, *args, **kwargs):
            if host not in self.answers:
                return resolve(host, port, *args, **kwargs)
            self.asked.append(host)
            queue = self.answers[host]
            return resolve(queue.pop(0) if len(queue) > 1 else queue[0], port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def hostile_dns(monkeypatch):
    return HostileDNS(monkeypatch)


class Listener:
    """A service in the portal's own network: a TCP port on loopback that tells whether anything
    connected to it."""

    def __init__(self, host: str, port: int = 0):
        self.socket = socket.create_server((host, port))
        self.socket.setblocking(False)
        self.port = self.socket.getsockname()[1]

    def connected(self) -> bool:
        try:
            self.socket.accept()[0].close()
        except BlockingIOError:
            return False
        return True


def test_a_name_that_resolves_to_loopback_after_its_check_is_not_connected_to(
        hostile_dns, northwind, customer, client_for, settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    internal = Listener("127.0.0.1")
    hostile_dns.answers["hooks.rebind.test"] = ["93.184.215.14", "127.0.0.1"]
    endpoint, _ = _endpoint(northwind, customer, f"https://hooks.rebind.test:{internal.port}/hooks/portal")

    webhook_publish(key="run:5:started", event="run.started", organisation=northwind, data={})
    _deliver_all()

    assert not internal.connected()
    delivery = WebhookDelivery.objects.get()
    refusal = "hooks.rebind.test is a private or local address: the portal posts only to addresses on the internet."
    assert (delivery.state, delivery.last_status, delivery.last_error) == (DeliveryState.RETRYING, None, refusal)
    assert refusal in client_for(customer).get(reverse("webhook-detail", args=[endpoint.pk])).content.decode()


def test_the_connection_goes_to_the_address_that_was_checked_not_to_a_later_answer(
        hostile_dns, webhook_receiver, northwind, customer):
    port = webhook_receiver.server.server_address[1]
    elsewhere = Listener("127.0.0.2", port)
    hostile_dns.answers["hooks.rebind.test"] = ["127.0.0.1", "127.0.0.1", "127.0.0.2"]
    _, secret = _endpoint(northwind, customer, f"http://hooks.rebind.test:{port}/hooks/portal")

    webhook_publish(key="run:6:started", event="run.started", organisation=northwind, data={})
    _deliver_all()

    ((headers, body),) = webhook_receiver.received
    assert Webhook(secret).verify(body, headers)
    assert headers["host"] == f"hooks.rebind.test:{port}"
    assert not elsewhere.connected()
    assert hostile_dns.asked == ["hooks.rebind.test"] * 2  # once when saved, once when posted
    assert WebhookDelivery.objects.get().state == DeliveryState.DELIVERED


def test_a_delivery_by_name_arrives_signed_with_the_name_as_its_host(webhook_receiver, northwind, customer):
    port = webhook_receiver.server.server_address[1]
    _, secret = _endpoint(northwind, customer, f"http://localhost:{port}/hooks/portal")

    webhook_publish(key="run:7:started", event="run.started", organisation=northwind, data={})
    _deliver_all()

    ((headers, body),) = webhook_receiver.received
    assert Webhook(secret).verify(body, headers)["type"] == "run.started"
    assert headers["host"] == f"localhost:{port}"


@pytest.mark.parametrize("host, shown", [("127.0.0.1", "127.0.0.1"), ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1")])
def test_a_literal_loopback_address_is_not_connected_to_once_loopback_is_off(host, shown, northwind, customer,
                                                                             settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    internal = Listener("127.0.0.1")
    _endpoint(northwind, customer, f"https://{host}:{internal.port}/hooks/portal")
    settings.WEBHOOKS_ALLOW_LOOPBACK = False

    webhook_publish(key="k", event="run.started", organisation=northwind, data={})
    _deliver_all()

    assert not internal.connected()
    assert WebhookDelivery.objects.get().last_error == (
        f"{shown} is a private or local address: the portal posts only to addresses on the internet.")


# -- The page ----------------------------------------------------------------------------------


def _add(client, organisation, **fields):
    data = {"name": "Service desk", "kind": "signed", "url": "", "events": ["run.started", "run.paused"]} | fields
    return client.post(reverse("organisation-webhooks", args=[organisation.slug]), data)


def test_the_lead_adds_an_endpoint_and_sees_its_secret_once(webhook_receiver, client_for, customer, northwind):
    client = client_for(customer)

    added = _add(client, northwind, url=webhook_receiver.url).content.decode()

    endpoint = WebhookEndpoint.objects.get()
    secret = reveal(endpoint.secret_sealed)
    assert secret.startswith("whsec_") and secret in added
    assert endpoint.event_types == ["run.paused", "run.started"]
    assert secret not in client.get(reverse("webhook-detail", args=[endpoint.pk])).content.decode()
    listing = client.get(reverse("organisation-webhooks", args=[northwind.slug])).content.decode()
    assert "Service desk" in listing and secret not in listing


def test_send_test_shows_how_the_receiver_answered(webhook_receiver, client_for, customer, northwind):
    endpoint, secret = _endpoint(northwind, customer, webhook_receiver.url)
    client = client_for(customer)

    answer = client.post(reverse("webhook-test", args=[endpoint.pk]), headers={"HX-Request": "true"}).content.decode()
    assert "The test was delivered: the receiver answered 204." in answer
    ((headers, body),) = webhook_receiver.received
    assert Webhook(secret).verify(body, headers)["type"] == "webhook.test"

    webhook_receiver.status = 404
    answer = client.post(reverse("webhook-test", args=[endpoint.pk]), headers={"HX-Request": "true"}).content.decode()
    assert "The test was not delivered: The receiver answered 404." in answer
    assert WebhookDelivery.objects.filter(event="webhook.test", state=DeliveryState.FAILED).count() == 1


def test_rotating_shows_the_new_secret_once(webhook_receiver, client_for, customer, northwind):
    endpoint, old = _endpoint(northwind, customer, webhook_receiver.url)
    client = client_for(customer)

    page = client.post(reverse("webhook-rotate", args=[endpoint.pk])).content.decode()

    endpoint.refresh_from_db()
    new = reveal(endpoint.secret_sealed)
    assert new != old and new in page and old not in page
    assert "The previous one signs alongside it for 24 hours" in page
    assert new not in client.get(reverse("webhook-detail", args=[endpoint.pk])).content.decode()


@pytest.mark.parametrize("url, message", [
    ("https://192.168.1.10/hook", "is a private or local address"),
    ("http://hooks.example.com/x", "must start with https://"),
    ("", "This field is required."),
])
def test_a_bad_address_is_said_and_nothing_is_saved(client_for, customer, northwind, url, message):
    response = _add(client_for(customer), northwind, url=url)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_no_event_chosen_is_said_and_nothing_is_saved(webhook_receiver, client_for, customer, northwind):
    response = _add(client_for(customer), northwind, url=webhook_receiver.url, events=[])

    assert response.status_code == 400 and "Choose at least one event to send." in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_a_chat_address_is_never_shown_in_full(webhook_receiver, client_for, customer, northwind):
    client = client_for(customer)
    secret_path = "/workflows/abc123secretsig"
    _add(client, northwind, kind="slack", url=webhook_receiver.url + secret_path)

    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret_sealed == "" and "abc123secretsig" not in endpoint.url_sealed
    for page in (reverse("organisation-webhooks", args=[northwind.slug]), reverse("webhook-detail", args=[endpoint.pk])):
        assert "abc123secretsig" not in client.get(page).content.decode()


def test_switching_off_stops_deliveries(webhook_receiver, client_for, customer, northwind):
    endpoint, _ = _endpoint(northwind, customer, webhook_receiver.url)

    page = client_for(customer).post(reverse("webhook-switch", args=[endpoint.pk]), follow=True).content.decode()

    assert "Service desk is off" in page
    webhook_publish(key="k", event="run.started", organisation=northwind, data={})
    assert not WebhookDelivery.objects.exists()


def test_a_colleague_who_is_not_the_lead_and_an_engineer_get_404(webhook_receiver, client_for, colleague, engineer,
                                                                 customer, northwind):
    endpoint, _ = _endpoint(northwind, customer, webhook_receiver.url)
    for person in (colleague, engineer):
        client = client_for(person)
        assert client.get(reverse("organisation-webhooks", args=[northwind.slug])).status_code == 404
        assert client.get(reverse("webhook-detail", args=[endpoint.pk])).status_code == 404
        assert client.post(reverse("webhook-rotate", args=[endpoint.pk])).status_code == 404


def test_the_desk_manages_the_vendors_endpoints(webhook_receiver, client_for, support, customer):
    client = client_for(support)

    added = client.post(reverse("vendor-webhooks"), {
        "name": "Vendor desk", "kind": "signed", "url": webhook_receiver.url, "events": ALL})

    assert added.status_code == 200 and "whsec_" in added.content.decode()
    assert WebhookEndpoint.objects.get().organisation is None
    assert client_for(customer).get(reverse("vendor-webhooks")).status_code == 404


def test_the_organisation_page_leads_its_lead_to_the_webhooks_and_the_organisation_list_the_desk(
        client_for, customer, colleague, support, northwind):
    webhooks = reverse("organisation-webhooks", args=[northwind.slug])

    assert webhooks in client_for(customer).get(reverse("organisation-detail", args=[northwind.slug])).content.decode()
    assert webhooks not in client_for(colleague).get(reverse("organisation-detail", args=[northwind.slug])).content.decode()
    assert reverse("vendor-webhooks") in client_for(support).get(reverse("organisation-list")).content.decode()


def test_a_new_encryption_key_takes_over_the_endpoints_address_and_secret(webhook_receiver, northwind, customer,
                                                                          rotated_keys):
    endpoint, secret = _endpoint(northwind, customer, webhook_receiver.url)

    rotated_keys()  # the old key is gone afterwards
    webhook_publish(key="k", event="run.started", organisation=northwind, data={})
    _deliver_all()

    ((headers, body),) = webhook_receiver.received
    assert Webhook(secret).verify(body, headers)
