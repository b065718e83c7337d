"""The task outbox (portal.models.Dispatch): what must happen next is decided in PostgreSQL,
and Redis only carries the news.

1. `dispatch(task, *args, about=...)` writes a row inside the caller's transaction and, after
   commit, sends it at once: a rolled-back decision sends nothing, and a send that fails (Redis
   away) never fails the move that decided it. The row is written already leased to its writer
   (`SEND_LEASE`), so that the send after commit is one message and one UPDATE, with no claim
   before it; the relay takes the row up only if that send never happens (the process died).
2. `relay` (the dispatcher process, `manage.py dispatcher`, every second) sends what is due: a
   row never sent (again after a short back-off while Redis is away), and a row sent but not
   received by a worker within `REDELIVER_AFTER` (the message was lost with Redis).
3. A worker marks its row received when the task begins (`received`, on Celery's task_prerun,
   connected here):
   from then on the task's own claim (a step's, a probe's, a notice's) guards the work, so a
   message sent twice does the work once.
4. Whoever must tell people listens to `send_failed` (the first failed send of a row) and
   `sent_late` (its send after failures), with `dispatch=` the row: a live run says that it
   waits for the queue, then that it goes on.
"""

import logging
from datetime import timedelta

from celery.signals import task_prerun
from django.db import transaction
from django.dispatch import Signal
from django.db.models import F
from django.utils import timezone

from portal.celery import app
from portal.models import Dispatch

log = logging.getLogger(__name__)

# Header naming the row a message comes from.
HEADER = "portal_dispatch"
# While Redis is away a send is tried again within a second, then every two seconds: a refused
# connection costs nothing, and the work goes on as soon as Redis is back.
BACKOFF_SECONDS = (0.5, 1, 2)
# A sent message no worker has begun after this long is sent again (doubling, at most hourly).
REDELIVER_AFTER = timedelta(minutes=1)
REDELIVER_AT_MOST = timedelta(hours=1)
# While one send is under way, nobody else sends the row. Its writer sends it within
# milliseconds of the commit, so the lease is short: a writer that died leaves its row to the
# relay 3 s later. A writer stalled longer than that makes the relay send it too, which the
# task's own claim turns into one piece of work.
SEND_LEASE = timedelta(seconds=3)
# Received rows are kept this long (the live page reads the last ones), then deleted.
KEEP_RECEIVED = timedelta(days=7)

send_failed = Signal()
sent_late = Signal()


def dispatch(task: str, *args, about: str = "") -> Dispatch:
    """Record that `task(*args)` must run, in the caller's transaction; sent after commit."""
    row = Dispatch.objects.create(task=task, args=list(args), about=about, attempts=1,
                                  next_attempt_at=timezone.now() + SEND_LEASE)
    transaction.on_commit(lambda: _send(row))
    return row


def send(dispatch_id: int) -> bool:
    """Send one row if it is due and nobody else is sending it (the relay); see `_send`."""
    now = timezone.now()
    claimed = Dispatch.objects.filter(pk=dispatch_id, received_at__isnull=True, next_attempt_at__lte=now).update(
        attempts=F("attempts") + 1, next_attempt_at=now + SEND_LEASE,
    )
    if claimed != 1:
        return False  # received already, or another sender has it, or not due yet
    return _send(Dispatch.objects.get(pk=dispatch_id))


def _send(row: Dispatch) -> bool:
    """Hand a row whose lease this process holds to the broker, then record how it went. Never
    raises for the broker: a failed send is the relay's to retry."""
    try:
        app.send_task(row.task, args=row.args, headers={HEADER: row.pk}, retry=False)
    except Exception as error:  # noqa: BLE001 - whatever the broker's client raises
        delay = BACKOFF_SECONDS[min(row.attempts, len(BACKOFF_SECONDS)) - 1]
        Dispatch.objects.filter(pk=row.pk, received_at__isnull=True).update(
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
            last_error=f"{type(error).__name__}: {error}"[:1000],
        )
        log.warning("%s (%s) not sent, attempt %s, again in %s s: %s", row, row.about, row.attempts, delay, error)
        if not row.last_error:
            send_failed.send(sender=Dispatch, dispatch=row)
        return False
    sends = Dispatch.objects.filter(pk=row.pk, received_at__isnull=True).update(
        sent_at=timezone.now(), last_error="",
        next_attempt_at=timezone.now() + min(REDELIVER_AFTER * 2 ** max(0, row.attempts - 1), REDELIVER_AT_MOST),
    )
    if sends and row.last_error:
        log.info("%s (%s) sent after %s attempts", row, row.about, row.attempts)
        sent_late.send(sender=Dispatch, dispatch=row)
    return True


def relay(*, limit: int = 200) -> int:
    """Send every due row (the dispatcher calls this every second); answers how many went."""
    due = Dispatch.objects.filter(received_at__isnull=True, next_attempt_at__lte=timezone.now())
    return sum(send(pk) for pk in due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])


def received(headers: dict | None) -> None:
    """A worker begins a task: its row, if it came from one, is delivered."""
    dispatch_id = (headers or {}).get(HEADER)
    if dispatch_id:
        Dispatch.objects.filter(pk=dispatch_id, received_at__isnull=True).update(received_at=timezone.now())


@task_prerun.connect
def _on_task_start(task=None, **kwargs) -> None:
    """Every worker imports this module with the tasks (portal.tasks): its rows are delivered."""
    request = task.request
    received({HEADER: getattr(request, HEADER, None) or (getattr(request, "headers", None) or {}).get(HEADER)})


def in_flight(about: str) -> Dispatch | None:
    """The latest row about something that no worker has received yet."""
    return Dispatch.objects.filter(about=about, received_at__isnull=True).order_by("-created_at", "-pk").first()


def latest(about: str) -> Dispatch | None:
    return Dispatch.objects.filter(about=about).order_by("-created_at", "-pk").first()


def unsent_since(moment) -> bool:
    """Whether a row written since `moment` could not be sent yet (a move's answer says it will
    proceed once the queue is back)."""
    return Dispatch.objects.filter(created_at__gte=moment, sent_at__isnull=True).exclude(last_error="").exists()


def prune() -> int:
    deleted, _ = Dispatch.objects.filter(received_at__lt=timezone.now() - KEEP_RECEIVED).delete()
    return deleted
