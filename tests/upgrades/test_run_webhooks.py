"""A run's events reach the webhooks, as the product makes them: the engineer starts Northwind's
run on its lab fleet, a real worker runs the steps until one fails and the run pauses, the
engineer aborts it. Northwind's endpoint and the vendor's each get started, paused and aborted
once, signed, through the outbox and the worker, at a real HTTP receiver on loopback; Contoso's
endpoint hears nothing."""

import json

from standardwebhooks.webhooks import Webhook

from portal.choices import DeliveryState, WebhookEvent
from portal.models import WebhookDelivery
from portal.webhook_endpoints import webhook_endpoint_add
from tests.conftest import wait_for
from tests.upgrades.decide_stories import ADMIN_2, drive, fresh, make_run, paused
from tests.upgrades.runs import start
from upgrades.choices import RunState
from upgrades.services.decisions import failure_take, run_abort


def test_a_run_started_paused_and_aborted_is_delivered_once_to_each_endpoint(
        workers, webhook_receiver, northwind_lab, northwind_deployment, northwind, contoso, customer, outsider,
        engineer, support):
    events = list(WebhookEvent.values)
    _, northwind_secret = webhook_endpoint_add(organisation=northwind, by=customer, name="Northwind desk",
                                               kind="signed", url=webhook_receiver.url + "/northwind", events=events)
    _, vendor_secret = webhook_endpoint_add(organisation=None, by=support, name="Vendor desk", kind="signed",
                                            url=webhook_receiver.url + "/vendor", events=events)
    webhook_endpoint_add(organisation=contoso, by=outsider, name="Contoso desk", kind="signed",
                         url=webhook_receiver.url + "/contoso", events=events)
    run = make_run(deployment=northwind_deployment, version="9.5.0", by=customer)
    northwind_lab.control.inject(ADMIN_2, "fail_next", reason="The installer cannot write to C:\\Program Files")

    start(run, engineer=engineer, customer=customer)
    run = drive(run, engineer=engineer, customer=customer, until=paused)
    failure_take(run=run, by=engineer)
    run_abort(run=run, by=engineer, reason="The installer needs the customer's server team")
    assert fresh(run).state == RunState.ABORTED

    wait_for(lambda: WebhookDelivery.objects.count() == 6 and set(
        WebhookDelivery.objects.values_list("state", flat=True)) == {DeliveryState.DELIVERED}, timeout=30)
    secrets = {"northwind": northwind_secret, "vendor": vendor_secret}
    received = {}
    for path, (headers, body) in zip(webhook_receiver.paths, webhook_receiver.received):
        who = path.rsplit("/", 1)[1]
        assert Webhook(secrets[who]).verify(body, headers)
        received.setdefault(who, []).append(json.loads(body))
    assert len(webhook_receiver.received) == 6
    for who in ("northwind", "vendor"):
        assert sorted(body["type"] for body in received[who]) == ["run.aborted", "run.paused", "run.started"]
    by_type = {body["type"]: body for body in received["northwind"]}
    started, paused_, aborted = by_type["run.started"], by_type["run.paused"], by_type["run.aborted"]
    assert started["data"]["run"]["id"] == run.pk and started["data"]["run"]["url"].endswith(f"/runs/{run.pk}/")
    assert started["data"]["organisation"]["slug"] == "northwind"
    assert "failed" in paused_["data"]["reason"]
    assert aborted["data"]["run"]["state"] == RunState.ABORTED

