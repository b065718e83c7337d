"""Preflight: the checklist measures what it can through the real drivers (reachability, versions,
repository validation), and never ticks what it could not measure."""

import socket

from django.urls import reverse

from portal.choices import NoticeState
from portal.models import Notice, Server
from tests.conftest import wait_for
from upgrades.choices import ItemState
from upgrades.services import requests


def run_preflight(client, upgrade):
    response = client.post(reverse("request-action", args=[upgrade.pk, "preflight"]), follow=True)
    assert "The preflight is running" in response.content.decode()
    return wait_for(lambda: upgrade.items.get(key="servers_reachable").preflight)


def test_the_preflight_measures_every_server_through_its_driver_in_a_worker(
    worker, client_for, customer, northwind_deployment, northwind_lab, release
):
    upgrade = requests.request_create(deployment=northwind_deployment, release=release, by=customer)
    client = client_for(customer)

    result = run_preflight(client, upgrade)

    assert result["status"] == "passed"
    assert {server["versions"]["cloudpaging"] for server in result["servers"]} == {"9.4.2"}
    item = upgrade.items.get(key="servers_reachable")
    assert item.state == ItemState.PROVIDED and "cpadmin01.northwind.example 9.4.2" in item.evidence
    assert upgrade.items.get(key="repository_validation").preflight["status"] == "passed"
    page = client.get(reverse("request-detail", args=[upgrade.pk])).content.decode()
    assert "Preflight passed" in page and "cpstream02.northwind.example reachable" in page


def test_a_broken_repository_is_measured_as_failed(worker, client_for, customer, northwind_deployment, northwind_lab, release):
    northwind_lab.control.inject("cpstream01.northwind.example", "break_repository")
    upgrade = requests.request_create(deployment=northwind_deployment, release=release, by=customer)

    run_preflight(client_for(customer), upgrade)

    repository = wait_for(lambda: upgrade.items.get(key="repository_validation").preflight)
    assert repository["status"] == "failed"
    assert upgrade.items.get(key="repository_validation").state == ItemState.MISSING


def test_an_unreachable_server_fails_the_preflight_and_ticks_nothing(
    worker, client_for, customer, northwind_deployment, northwind_lab, release
):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nowhere = closed.getsockname()[1]
    Server.objects.filter(hostname="cpadmin02.northwind.example").update(port=nowhere)
    upgrade = requests.request_create(deployment=northwind_deployment, release=release, by=customer)
    client = client_for(customer)

    result = run_preflight(client, upgrade)

    assert result["status"] == "failed"
    [gone] = [server for server in result["servers"] if not server["reachable"]]
    assert gone["hostname"] == "cpadmin02.northwind.example" and "Cannot reach" in gone["message"]
    assert upgrade.items.get(key="servers_reachable").state == ItemState.MISSING
    page = client.get(reverse("request-detail", args=[upgrade.pk])).content.decode()
    assert "Preflight failed" in page and "cpadmin02.northwind.example unreachable" in page


def test_staff_see_a_notice_that_failed_and_why(client_for, customer, support, northwind_deployment, release):
    upgrade = requests.request_create(deployment=northwind_deployment, release=release, by=customer)
    requests.request_submit(upgrade=upgrade, by=customer)
    Notice.objects.filter(topic=f"upgrades.upgraderequest:{upgrade.pk}").update(
        state=NoticeState.FAILED, attempts=3, last_error="SMTPServerDisconnected: Connection unexpectedly closed"
    )

    staff_page = client_for(support).get(reverse("request-detail", args=[upgrade.pk])).content.decode()
    customer_page = client_for(customer).get(reverse("request-detail", args=[upgrade.pk])).content.decode()

    assert "Connection unexpectedly closed" in staff_page and "attempt 3" in staff_page
    assert "Connection unexpectedly closed" not in customer_page
