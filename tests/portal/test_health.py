"""GET /healthz tells a load balancer or docker-compose whether the database and Redis answer."""

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


def test_it_only_answers_get(client, db):
    assert client.post(reverse("healthz")).status_code == 405
