"""GET /healthz: are the database and Redis reachable? For load balancers and docker-compose."""

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as error:  # noqa: BLE001 - any failure means "not reachable"
        return f"unreachable: {type(error).__name__}"


def _redis() -> str:
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
        return "ok"
    except Exception as error:  # noqa: BLE001
        return f"unreachable: {type(error).__name__}"


@never_cache
@require_GET
def healthz(request):
    checks = {"database": _database(), "redis": _redis()}
    healthy = all(state == "ok" for state in checks.values())
    return JsonResponse({"status": "ok" if healthy else "failing", **checks}, status=200 if healthy else 503)
