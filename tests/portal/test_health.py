"""GET /healthz tells a load balancer or docker-compose whether the database and Redis answer,
and `make run` whether every part it started is ready."""

import socket

import pytest
from django.urls import reverse


def test_it_answers_200_when_database_and_redis_are_reachable(client, db):
    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_it_answers_503_when_redis_is_unreachable(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    response = client.get(reverse("healthz"))

    assert response.status_code == 503
    assert response.json()["redis"].startswith("unreachable")
    assert response.json()["database"] == "ok"


def test_a_web_host_stays_in_its_proxy_s_pool_while_redis_restarts(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    response = client.get(reverse("healthz-web"))

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_a_web_host_whose_database_does_not_answer_leaves_the_pool(client, db, monkeypatch):
    from portal import health

    monkeypatch.setattr(health, "_database", lambda: "unreachable: connection refused")

    response = client.get(reverse("healthz-web"))

    assert response.status_code == 503
    assert response.json()["database"] == "unreachable: connection refused"


def test_it_only_answers_get(client, db):
    assert client.post(reverse("healthz")).status_code == 405


# -- `make run` names every part it starts: ready means all of them are ---------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def listener():
    """A port something listens on, as a started part would."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def test_it_answers_503_naming_the_identity_lab_until_it_listens(client, db, settings, listener):
    settings.HEALTH_PARTS = ["identity"]
    settings.IDENTITY_LAB_PORT = _free_port()

    response = client.get(reverse("healthz"))

    assert response.status_code == 503
    assert response.json()["identity"] == f"the demo identity providers do not listen on 127.0.0.1:{settings.IDENTITY_LAB_PORT} yet"

    settings.IDENTITY_LAB_PORT = listener
    assert client.get(reverse("healthz")).json() == {"status": "ok", "database": "ok", "redis": "ok", "identity": "ok"}


def test_it_answers_503_naming_the_mail_sink_until_it_listens(client, db, settings, listener):
    settings.HEALTH_PARTS = ["mail"]
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", _free_port()

    assert client.get(reverse("healthz")).status_code == 503

    settings.EMAIL_PORT = listener
    assert client.get(reverse("healthz")).status_code == 200


def test_it_answers_503_until_the_dispatcher_goes_round(client, db, settings, tmp_path):
    settings.HEALTH_PARTS = ["dispatcher"]
    settings.DISPATCHER_ALIVE_FILE = tmp_path / "dispatcher.alive"

    response = client.get(reverse("healthz"))
    assert response.status_code == 503 and response.json()["dispatcher"] == "not started yet"

    settings.DISPATCHER_ALIVE_FILE.touch()
    assert client.get(reverse("healthz")).status_code == 200


def test_it_answers_503_naming_the_worker_that_does_not_answer_a_ping(client, db, settings):
    settings.HEALTH_PARTS = ["workers"]
    settings.HEALTH_WORKERS = ["make-run-worker@nowhere.example"]

    response = client.get(reverse("healthz"))

    assert response.status_code == 503
    assert response.json()["workers"] == "no answer yet from make-run-worker@nowhere.example"


def test_it_answers_503_until_beat_says_it_is_alive(client, db, settings, tmp_path):
    from portal.beat import Scheduler
    from portal.celery import app

    settings.HEALTH_PARTS = ["beat"]
    response = client.get(reverse("healthz"))
    assert response.status_code == 503 and response.json()["beat"] == "not started yet, or silent for a minute"

    # Beat's first turn, with a fresh schedule: nothing is due yet, and it says it is alive.
    scheduler = Scheduler(app=app, schedule_filename=str(tmp_path / "schedule"))
    assert scheduler.tick() <= 10  # and it comes round again within ten seconds
    scheduler.close()

    assert client.get(reverse("healthz")).status_code == 200
