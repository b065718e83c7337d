"""A run's live events: written to PostgreSQL with a gapless per-run sequence number, then
published to Redis after commit for whoever is watching.

1. `event_emit` takes the run's next sequence number with `UPDATE ... RETURNING`, which also
   holds the run's row until the transaction ends: events of one run are numbered in commit
   order, and a rolled-back event gives its number back, so watchers never see a gap.
2. After commit, the event is published on the run's channel. If Redis is down the event is
   still stored: a watcher that reconnects (or polls) replays it from PostgreSQL.
3. A watcher replays the rows after the last sequence number it saw, then follows the channel,
   dropping what it already has: nothing lost, nothing twice.

Log lines that come fast (an installer dumping its output) are written together
(`log_lines_emit`): one range of numbers, one COPY and one published message per batch,
which `upgrades.drivers.operate` hands over at most every 50 ms.
"""

import json
import logging
from collections.abc import Sequence
from functools import cache

import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from portal.models import User
from upgrades.models import LiveEvent, Run, Step

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "upgrade-portal:run:"


def channel(run_id: int) -> str:
    return f"{CHANNEL_PREFIX}{run_id}"


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def as_message(event: LiveEvent) -> dict:
    """What watchers receive: the row, as JSON."""
    return {
        "seq": event.seq, "at": event.at.isoformat(), "kind": event.kind, "step": event.step_id,
        "actor": event.actor.full_name if event.actor_id and event.actor else None,
        "text": event.text, "data": event.data,
    }


def _publish(run_id: int, message: dict | list[dict]) -> None:
    """One message on the run's channel: an event, or a batch of them (a list, in order)."""
    try:
        _redis().publish(channel(run_id), json.dumps(message))
    except redis.RedisError as error:
        # Stored all the same: watchers catch up from PostgreSQL when they reconnect or poll.
        seqs = [message["seq"]] if isinstance(message, dict) else [message[0]["seq"], message[-1]["seq"]]
        log.warning("run %s: events %s not published: %s", run_id, "-".join(map(str, seqs)), error)


def event_emit(*, run: Run | int, kind: str, text: str = "", step: Step | None = None, actor: User | None = None,
               data: dict | None = None) -> LiveEvent:
    """Record one event of a run and publish it after commit."""
    run_id = run if isinstance(run, int) else run.pk
    event = LiveEvent(run_id=run_id, at=timezone.now(), kind=kind, step=step, actor=actor, text=text, data=data or {})
    # Inside the caller's transaction no savepoint is needed: the number and the row commit or
    # roll back together with it (two round trips saved on every log line). The number is taken
    # and the row written in one statement: a step's engine writes several events.
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute(
                "WITH numbered AS (UPDATE upgrades_run SET next_seq = next_seq + 1 WHERE id = %s RETURNING next_seq - 1 AS seq) "
                "INSERT INTO upgrades_liveevent (run_id, seq, at, kind, step_id, actor_id, text, data) "
                "SELECT %s, seq, %s, %s, %s, %s, %s, %s FROM numbered RETURNING id, seq",
                [run_id, run_id, event.at, kind, event.step_id, event.actor_id, text, json.dumps(event.data)],
            )
            event.pk, event.seq = cursor.fetchone()
        event._state.adding, event._state.db = False, connection.alias
        message = as_message(event)
        transaction.on_commit(lambda: _publish(run_id, message))
    return event


def log_lines_emit(*, run: Run | int, step: Step | None, lines: Sequence[tuple[str, dict]]) -> list[dict]:
    """Many log lines of a run at once, as a busy installer prints them: one range of sequence
    numbers, one COPY (half the cost of a multi-row INSERT of model instances) and, after commit,
    one message for all of them on the run's channel. Returns the messages (`as_message`)."""
    if not lines:
        return []
    run_id = run if isinstance(run, int) else run.pk
    step_id = step.pk if step is not None else None
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE upgrades_run SET next_seq = next_seq + %s WHERE id = %s RETURNING next_seq - %s",
                [len(lines), run_id, len(lines)],
            )
            (first,) = cursor.fetchone()
            at = timezone.now()
            with cursor.copy(
                "COPY upgrades_liveevent (run_id, seq, at, kind, step_id, text, data) FROM STDIN"
            ) as copy:
                for n, (text, data) in enumerate(lines):
                    copy.write_row((run_id, first + n, at, "log", step_id, text, json.dumps(data)))
        messages = [
            {"seq": first + n, "at": at.isoformat(), "kind": "log", "step": step_id, "actor": None, "text": text,
             "data": data}
            for n, (text, data) in enumerate(lines)
        ]
        transaction.on_commit(lambda: _publish(run_id, messages))
    return messages


def events_after(*, run_id: int, seq: int, limit: int = 1000) -> list[dict]:
    """The events after `seq`, in order: a reconnecting watcher's replay, and the polling answer."""
    rows = LiveEvent.objects.filter(run_id=run_id, seq__gt=seq).select_related("actor").order_by("seq")[:limit]
    return [as_message(event) for event in rows]
