"""Preflight: the checklist measures what it can. Until a driver can reach a kind of server, the
answer is an honest "not available", never a pass."""

from django.urls import reverse

from portal.models import Notice, NoticeState
from tests.conftest import wait_for
from upgrades.choices import ItemState
from upgrades.services import requests


def test_preflight_runs_in_a_worker_and_records_an_honest_not_available(worker, client_for, customer, northwind_deployment, release):
    upgrade = requests.request_create(deployment=northwind_deployment, release=release, by=customer)
    client = client_for(customer)

    response = client.post(reverse("request-action", args=[upgrade.pk, "preflight"]), follow=True)

    assert "The preflight is running" in response.content.decode()
    item = upgrade.items.get(key="servers_reachable")
    wait_for(lambda: upgrade.items.get(key="servers_reachable").preflight is not None)
    item.refresh_from_db()
    assert item.preflight["status"] == "unavailable"
    assert item.state == ItemState.MISSING  # nothing was ticked on its behalf
    assert all("Not available" in server["message"] for server in item.preflight["servers"])
    page = client.get(reverse("request-detail", args=[upgrade.pk])).content.decode()
    assert "Preflight unavailable" in page and "not measurable" in page


def test_staff_see_a_notice_that_failed_and_why(client_for, customer, support, northwind_deployment, release):
    upgrade = requests.request_create(deployment=northwind_deployment, release=release, by=customer)
    requests.request_submit(request=upgrade, by=customer)
    Notice.objects.filter(topic=f"upgrades.upgraderequest:{upgrade.pk}").update(
        state=NoticeState.FAILED, attempts=3, last_error="SMTPServerDisconnected: Connection unexpectedly closed"
    )

    staff_page = client_for(support).get(reverse("request-detail", args=[upgrade.pk])).content.decode()
    customer_page = client_for(customer).get(reverse("request-detail", args=[upgrade.pk])).content.decode()

    assert "Connection unexpectedly closed" in staff_page and "attempt 3" in staff_page
    assert "Connection unexpectedly closed" not in customer_page
