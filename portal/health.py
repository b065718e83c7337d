"""GET /healthz: is the portal ready? 200 when every part answers, else 503 naming what does not.
GET /healthz/web: can this web process serve people? Its database answers: what a proxy in
front of several web hosts asks, so that a Redis restart (which the portal rides out: live
pages catch up from PostgreSQL, moves are saved and their tasks relayed later) takes no web
host out of the pool.

The database and Redis always count (for load balancers and docker-compose). `make run` also
names, in HEALTH_PARTS, every other part it starts (PARTS below), so that ready means all of
them are: an engineer who sees the portal ready finds the lab fleet's servers listening, the
identity providers up, the mail sink taking mail, the workers, the dispatcher and beat at work.
"""

import socket
import time

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

# A part not ready costs /healthz at most about this long.
TIMEOUT_SECONDS = 1.0
DISPATCHER_ALIVE_WITHIN_SECONDS = 30


def listening(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT_SECONDS):
            return True
    except OSError:
        return False


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


def mail_sink() -> str:
    where = f"{settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
    return "ok" if listening(settings.EMAIL_PORT, settings.EMAIL_HOST) else f"nothing listens on {where}"


def identity_lab() -> str:
    port = settings.IDENTITY_LAB_PORT
    return "ok" if listening(port) else f"the demo identity providers do not listen on 127.0.0.1:{port} yet"


def workers() -> str:
    from portal.celery import app

    names = settings.HEALTH_WORKERS
    try:
        # Answers as soon as every worker named has replied (kombu's limit is their number).
        replies = app.control.ping(destination=names, timeout=TIMEOUT_SECONDS)
    except Exception as error:  # noqa: BLE001 - the broker is Redis's part to report
        return f"not asked: {type(error).__name__}"
    answered = {name for reply in replies for name in reply}
    silent = [name for name in names if name not in answered]
    return "ok" if not silent else f"no answer yet from {', '.join(silent)}"


def dispatcher() -> str:
    path = settings.DISPATCHER_ALIVE_FILE
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return "not started yet"
    return "ok" if age < DISPATCHER_ALIVE_WITHIN_SECONDS else f"silent for {age:.0f} s"


def beat() -> str:
    from portal.beat import last_pulse

    pulse = last_pulse()
    return "ok" if pulse is not None else "not started yet, or silent for a minute"


PARTS = {
    "mail": mail_sink,
    "identity": identity_lab,
    # The lab fleet belongs to upgrades, which stands above the portal: named, not imported.
    "lab": "upgrades.fleet.lab_listening",
    "workers": workers,
    "dispatcher": dispatcher,
    "beat": beat,
}


def _part(name: str) -> str:
    check = PARTS[name]
    if isinstance(check, str):
        check = import_string(check)
    try:
        return check()
    except Exception as error:  # noqa: BLE001 - a broken check is a part not ready, said so
        return f"could not be checked: {type(error).__name__}"


@never_cache
@require_GET
def healthz(request):
    checks = {"database": _database(), "redis": _redis()}
    if checks["database"] == "ok" and checks["redis"] == "ok":
        checks |= {name: _part(name) for name in settings.HEALTH_PARTS}
    healthy = all(state == "ok" for state in checks.values())
    return JsonResponse({"status": "ok" if healthy else "failing", **checks}, status=200 if healthy else 503)


@never_cache
@require_GET
def healthz_web(request):
    checks = {"database": _database()}
    healthy = checks["database"] == "ok"
    return JsonResponse({"status": "ok" if healthy else "failing", **checks}, status=200 if healthy else 503)
