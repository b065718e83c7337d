"""`make run`'s /healthz is ready only once the lab fleet listens for every lab deployment: an
engineer who sees the portal ready finds the demo's servers there."""

import socket

from django.urls import reverse

from portal.models import Deployment, Server
from tests.upgrades.conftest import on_the_lab


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_it_answers_503_until_the_lab_fleet_listens_for_every_lab_deployment(
        client, settings, start_lab, northwind_deployment):
    settings.HEALTH_PARTS = ["lab"]
    # Northwind's production alone on the lab, on ports where nothing listens yet.
    Deployment.objects.exclude(pk=northwind_deployment.pk).update(service_url="https://apps.example")
    Deployment.objects.filter(pk=northwind_deployment.pk).update(service_url=f"http://127.0.0.1:{_free_port()}")
    for server in northwind_deployment.servers.all():
        Server.objects.filter(pk=server.pk).update(port=_free_port())

    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["lab"].startswith(f"the lab fleet does not listen yet for deployment-{northwind_deployment.pk}")

    on_the_lab(start_lab, northwind_deployment)
    assert client.get(reverse("healthz")).json()["lab"] == "ok"
