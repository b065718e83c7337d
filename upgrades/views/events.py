"""A run's live events on the wire (S13-S17): Server-Sent Events for the live page, and the JSON
answer it polls when SSE is not available.

The SSE view checks access and answers at once; the stream's frames are made on the event loop
(uvicorn's), and a watcher holds no database connection while it waits:

1. Check access with one short query (vendor staff, or a customer user of the run's
   organisation; 404 for anyone else), then give the request's database connection back.
2. Subscribe to the run's Redis channel first (through the process's `_Hub`: one Redis
   subscription per run, however many watchers), then replay the rows after `Last-Event-ID`
   (or `?after=`) from PostgreSQL in batches, then follow the channel, dropping what has been
   sent already: an event committed between the replay and the subscription cannot fall
   through, since the subscription was there first.
3. A message whose number skips ahead (`seq > last + 1`: a publish that failed, a backlog the
   hub dropped) is filled in from PostgreSQL before it is sent. While the channel is quiet the
   hub asks PostgreSQL every few seconds how far the run's events go, once for all its
   watchers, and sends those who are behind (an event whose publish failed) to catch up;
   without Redis a stream polls PostgreSQL every second and tries Redis again now and then.
   A run event makes the hub read the run's state, once: only if it is finished do the
   watchers ask PostgreSQL for anything after it, and end.
4. Every database read is a short query in the request's thread, after which the connection is
   closed (given back to the pool): 200 watchers cost no more connections than one.
5. A comment line every 15 s keeps proxies from closing an idle stream; the stream ends with an
   `end` event once the run is finished and everything has been sent. A client that goes away
   cancels the stream (Django's ASGI handler), which leaves the hub.

Each event is `id: <seq>`, `event: <kind>`, `data: <the JSON of upgrades.services.events.as_message>`,
with `html`: what the event changes on the page, rendered once per event and time zone from the
page's own partials (upgrades/fragments.py). The hub renders a message from Redis for the zones
of its watchers before handing it to them (to a large audience in batches: BATCH_WATCHERS); a
replay and the polling answer find it in the cache.
"""

import asyncio
import json
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable
from functools import wraps

import redis
import redis.asyncio
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from portal.eventstream import EventStream
from portal.models import User
from portal.selectors import visible_to
from upgrades.fragments import reads_the_board, with_html
from upgrades.models import Run
from upgrades.runflow import FINISHED_RUN_STATES
from upgrades.services.events import CHANNEL_PREFIX, channel, events_after

log = logging.getLogger(__name__)

REPLAY_BATCH = 500
POLL_LIMIT = 500
# While the channel is quiet, how often the stream looks in PostgreSQL for what Redis did not bring.
RECONCILE_SECONDS = 5.0
# Without Redis: how often the stream polls PostgreSQL, and tries Redis again.
POLL_SECONDS = 1.0
RESUBSCRIBE_SECONDS = 10.0
HEARTBEAT_SECONDS = 15.0
SUBSCRIBE_TIMEOUT_SECONDS = 2.0
# A watcher this far behind (a stalled client) is dropped from the hub and catches up from PostgreSQL.
BACKLOG_LIMIT = 5000
# A run watched by this many people in one process gets its events in batches, one every
# BATCH_SECONDS, each watcher's batch sent in one write: at 1,000 watchers and 100 events a second,
# a write a watcher per event would cost more than the machine has. A smaller audience gets each
# event at once.
BATCH_WATCHERS = 250
BATCH_SECONDS = 0.05
# The browser waits this long before it reconnects.
RETRY_MS = 2000

# What the hub hands a watcher when the subscription is gone: catch up from PostgreSQL.
LOST = None


def _release_connection() -> None:
    """Close this thread's database connection (with a pool, give it back), unless someone holds
    a transaction on it: the test client runs the view inside the test's transaction."""
    if not connection.in_atomic_block:
        connection.close()


def _released(function: Callable) -> Callable:
    """`function`, with this thread's database connection released after it."""

    @wraps(function)
    def released(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            _release_connection()

    return released


def _briefly(function: Callable, *, thread_sensitive: bool = True) -> Callable:
    """`function` as a short query in the request's thread (or, for the hub, which serves no one
    request, in a thread of the pool), its connection released after it."""
    return sync_to_async(_released(function), thread_sensitive=thread_sensitive)


@_released
def _run_shown(*, user: User, pk: int) -> int:
    """The run, if `user` may watch it (else 404)."""
    run = visible_to(Run.objects.all(), user).filter(pk=pk).values_list("pk", flat=True).first()
    if run is None:
        raise Http404("No such run.")
    return run


@_briefly
def _events_since(*, run_id: int, after: int, zone: str) -> tuple[list[dict], bool]:
    """The next batch after `after`, and whether the run is finished with nothing after the batch.
    The state is read first: whatever finished the run was committed before the events are read."""
    state = Run.objects.filter(pk=run_id).values_list("state", flat=True).first()
    events = with_html(run_id=run_id, messages=events_after(run_id=run_id, seq=after, limit=REPLAY_BATCH), zone=zone)
    return events, state in FINISHED_RUN_STATES and len(events) < REPLAY_BATCH


_rendered = _briefly(with_html, thread_sensitive=False)


def _reach(*, run_ids: list[int]) -> dict[int, tuple[int, bool]]:
    """Each run's last committed event (`selectors_runs.last_seq`: its `next_seq` is raised with
    every event written) and whether it is finished: the hub's one look for all its watchers."""
    runs = Run.objects.filter(pk__in=run_ids).values_list("pk", "next_seq", "state")
    return {pk: (next_seq - 1, state in FINISHED_RUN_STATES) for pk, next_seq, state in runs}


_reach_of = _briefly(_reach, thread_sensitive=False)


def _frame(seq: int, kind: str, data: str) -> bytes:
    return f"id: {seq}\nevent: {kind}\ndata: {data}\n\n".encode()


def _framed(message: dict) -> bytes:
    return _frame(message["seq"], message["kind"], json.dumps(message))


class _Hub:
    """The Redis subscriptions of one event loop (one uvicorn process): one per run channel,
    shared by every watcher of that run; each message is parsed once, and rendered and framed
    once per time zone of its watchers. While a channel is quiet, the hub looks in PostgreSQL
    every RECONCILE_SECONDS, one query for all its quiet channels, and wakes only the watchers
    that are behind (one timer and one query for all, not one per watcher)."""

    def __init__(self):
        self.client: redis.asyncio.Redis | None = None
        self.pubsub = None
        self.reader: asyncio.Task | None = None
        self.ticker: asyncio.Task | None = None
        # Per channel, its watchers, and when it last brought a message (or was joined).
        self.watchers: dict[str, set["_Watch"]] = {}
        self.heard: dict[str, float] = {}
        # Per channel with a large audience, what waits for the next batch: per zone, its items.
        self.batches: dict[str, dict[str, list]] = {}
        self.confirmed: dict[str, asyncio.Future] = {}
        self.lock = asyncio.Lock()

    async def join(self, watch: "_Watch") -> bool:
        """Subscribe `watch` to its run's channel; True once Redis has confirmed the
        subscription, False when Redis cannot be reached (the watcher then polls PostgreSQL)."""
        name = watch.name
        try:
            async with self.lock:
                if self.pubsub is None:
                    self.client = redis.asyncio.Redis.from_url(
                        settings.REDIS_URL, socket_connect_timeout=SUBSCRIBE_TIMEOUT_SECONDS
                    )
                    self.pubsub = self.client.pubsub()
                if name not in self.confirmed:
                    self.confirmed[name] = asyncio.get_running_loop().create_future()
                    await self.pubsub.subscribe(name)
                if self.reader is None:
                    self.reader = asyncio.create_task(self._read(), name="live events from Redis")
                if self.ticker is None:
                    self.ticker = asyncio.create_task(self._tick(), name="live events: quiet channels")
                self.watchers.setdefault(name, set()).add(watch)
                self.heard.setdefault(name, time.monotonic())
                confirmed = self.confirmed[name]
            await asyncio.wait_for(asyncio.shield(confirmed), SUBSCRIBE_TIMEOUT_SECONDS)
            return True
        except (redis.RedisError, OSError) as error:
            log.warning("live events: Redis unavailable, polling PostgreSQL instead: %s", error)
            self.leave(watch)
            await self._reset()
            return False
        except TimeoutError:
            log.warning("live events: Redis did not confirm the subscription to %s", name)
            self.leave(watch)
            return False

    def leave(self, watch: "_Watch") -> None:
        watchers = self.watchers.get(watch.name)
        if watchers is None:
            return
        watchers.discard(watch)
        if not watchers:
            del self.watchers[watch.name]
            self.heard.pop(watch.name, None)
            asyncio.get_running_loop().create_task(self._unsubscribe(watch.name))

    async def _unsubscribe(self, name: str) -> None:
        async with self.lock:
            # Someone may have joined again while this task waited: their subscription stays.
            if name in self.watchers or self.pubsub is None:
                return
            self.confirmed.pop(name, None)
            try:
                await self.pubsub.unsubscribe(name)
            except (redis.RedisError, OSError):
                pass  # the reader notices the broken connection and resets the hub

    async def _read(self) -> None:
        try:
            while True:
                message = await self.pubsub.get_message(timeout=None)
                if message is None:
                    continue
                name = message["channel"].decode()
                if message["type"] == "subscribe":
                    confirmed = self.confirmed.get(name)
                    if confirmed is not None and not confirmed.done():
                        confirmed.set_result(True)
                elif message["type"] == "message":
                    await self._deliver(name, message["data"].decode())
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - any failure of the connection: watchers poll
            log.warning("live events: lost the Redis subscription, watchers catch up from PostgreSQL: %s", error)
            self.reader = None
            await self._reset()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(RECONCILE_SECONDS / 5)
            await self.reconcile()

    async def reconcile(self) -> None:
        """Every channel quiet for RECONCILE_SECONDS: wake its watchers that PostgreSQL shows
        behind (events Redis did not bring), and all of them once the run is finished."""
        now = time.monotonic()
        quiet = [name for name, heard in self.heard.items() if now - heard >= RECONCILE_SECONDS]
        if not quiet:
            return
        for name in quiet:
            self.heard[name] = now
        runs = {name: int(name.removeprefix(CHANNEL_PREFIX)) for name in quiet}
        try:
            reach = await _reach_of(run_ids=list(runs.values()))
        except Exception:  # noqa: BLE001 - PostgreSQL unreachable: each watcher asks for itself
            log.exception("live events: could not look for events Redis did not bring")
            reach = {}
        for name, run_id in runs.items():
            latest, finished = reach.get(run_id, (None, True))
            for watch in list(self.watchers.get(name, ())):
                if finished or latest is None or watch.last < latest:
                    watch.wake()

    async def _deliver(self, name: str, data: str) -> None:
        """One message from Redis, an event or a batch of them (log lines written together), to
        every watcher of its channel: rendered once per zone, handed over as one item."""
        if name not in self.watchers:
            # Its last watcher left while the unsubscribe was on its way: nobody to give it to,
            # and the channel is not heard again, nor looked up each quiet spell after.
            return
        parsed = json.loads(data)
        messages = parsed if isinstance(parsed, list) else [parsed]
        run_id = int(name.removeprefix(CHANNEL_PREFIX))
        self.heard[name] = time.monotonic()
        finished = False
        if any(message["kind"] == "run" for message in messages):
            # Read once for every watcher; if it cannot be read, each of them asks.
            try:
                _, finished = (await _reach_of(run_ids=[run_id]))[run_id]
            except Exception:  # noqa: BLE001
                log.exception("live events: run %s, its state not read", run_id)
                finished = True
        items = {}
        for zone in {watch.zone for watch in self.watchers.get(name, ())}:
            try:
                if reads_the_board(messages):
                    shown = await _rendered(run_id=run_id, messages=messages, zone=zone)
                else:
                    # Log lines, rendered here: a thread for each batch would keep a busy run's lines waiting.
                    shown = with_html(run_id=run_id, messages=messages, zone=zone)
            except Exception:  # noqa: BLE001 - its watchers catch up from PostgreSQL, which renders again
                log.exception("live events: run %s, events %s-%s not rendered", run_id, messages[0]["seq"],
                              messages[-1]["seq"])
                continue
            items[zone] = (messages[0]["seq"], messages[-1]["seq"], finished, [_framed(message) for message in shown])
        batch = self.batches.get(name)
        if batch is None and len(self.watchers.get(name, ())) < BATCH_WATCHERS:
            self._hand_over(name, {zone: [item] for zone, item in items.items()})
            return
        if batch is None:
            # Once a batch is waiting, everything joins it until it goes: nothing overtakes it.
            self.batches[name] = batch = {}
            asyncio.get_running_loop().call_later(BATCH_SECONDS, self._send_batch, name)
        for zone, item in items.items():
            batch.setdefault(zone, []).append(item)

    def _send_batch(self, name: str) -> None:
        batch = self.batches.pop(name, None)
        if batch:
            self._hand_over(name, {zone: _joined(items) for zone, items in batch.items()})

    def _hand_over(self, name: str, items: dict[str, list]) -> None:
        """`items` (per zone, in order) to every watcher of channel `name`."""
        watchers = self.watchers.get(name, set())
        for watch in list(watchers):
            mine = items.get(watch.zone)
            if mine is None:
                # It came while the others' was rendered (its replay, which follows its coming,
                # has the event), or its rendering failed (its next look in PostgreSQL has it).
                continue
            if len(watch.inbox) >= BACKLOG_LIMIT:
                # A client that does not read: let it catch up from PostgreSQL when it does.
                watchers.discard(watch)
                watch.put(LOST)
            else:
                watch.inbox.extend(mine)
                watch.wake()

    async def _reset(self) -> None:
        """Forget the connection: every watcher is told to catch up from PostgreSQL."""
        reader, ticker, pubsub, client = self.reader, self.ticker, self.pubsub, self.client
        watches = [watch for watchers in self.watchers.values() for watch in watchers]
        self.reader, self.ticker, self.pubsub, self.client = None, None, None, None
        self.watchers, self.heard, self.confirmed, self.batches = {}, {}, {}, {}
        for watch in watches:
            watch.put(LOST)
        for task in (reader, ticker):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        for closable in (pubsub, client):
            if closable is not None:
                try:
                    await closable.aclose()
                except (redis.RedisError, OSError):
                    pass


def _joined(items: list) -> list:
    """`items` of one zone in order, those that follow each other without a gap made one (their
    frames one list); a gap (an event not rendered for the zone) stays, for `_Watch.take` to fill."""
    joined = [items[0]]
    for first, last, finished, frames in items[1:]:
        before_first, before_last, before_finished, before_frames = joined[-1]
        if first == before_last + 1:
            joined[-1] = (before_first, last, before_finished or finished, before_frames + frames)
        else:
            joined.append((first, last, finished, frames))
    return joined


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Hub]" = weakref.WeakKeyDictionary()


def _hub() -> _Hub:
    loop = asyncio.get_running_loop()
    if loop not in _hubs:
        _hubs[loop] = _Hub()
    return _hubs[loop]


class _Watch:
    """One watcher's stream: what it has sent (`last`), what the hub has handed it since it
    last looked (`inbox`: items (first seq, last seq, whether the run was finished when the hub
    handed them over, their frames), or LOST), and where the next events come from. A list and one future rather than an asyncio.Queue: the hub hands every event to
    every watcher, and a queue's bookkeeping per item would cost more than the item's sending."""

    def __init__(self, run_id: int, last: int, zone: str):
        self.run_id = run_id
        self.last = last
        self.zone = zone
        self.finished = False
        self.inbox: list = []
        self.waiter: asyncio.Future | None = None
        self.name = channel(run_id)

    def put(self, item) -> None:
        self.inbox.append(item)
        self.wake()

    def wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def delivered(self) -> list:
        """What the hub has handed over, once it has (or once the hub wakes a quiet channel:
        then nothing)."""
        if not self.inbox:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        items, self.inbox = self.inbox, []
        return items

    async def catch_up(self) -> AsyncIterator[bytes]:
        """Everything in PostgreSQL after `last`, batch by batch."""
        while True:
            events, self.finished = await _events_since(run_id=self.run_id, after=self.last, zone=self.zone)
            fresh = [message for message in events if message["seq"] > self.last]
            if fresh:
                self.last = fresh[-1]["seq"]
                yield b"".join(_framed(message) for message in fresh)
            if len(events) < REPLAY_BATCH:
                return

    def take(self, items: list) -> tuple[bytes, bool]:
        """The frames of `items` that follow `last` without a gap; and whether PostgreSQL must be
        asked (a gap, a lost subscription, or a run finished: anything after it, then the end)."""
        frames, ask = [], False
        for item in items:
            if item is LOST:
                return b"".join(frames), True
            first, last, finished, batch = item
            if last <= self.last:
                continue  # sent already, by the replay
            if first > self.last + 1:
                return b"".join(frames), True  # a gap: PostgreSQL has what Redis did not bring
            frames.extend(batch[self.last + 1 - first:])  # a batch the replay sent the start of
            self.last = last
            ask = ask or finished
        return b"".join(frames), ask

    async def frames(self) -> AsyncIterator[bytes]:
        hub = _hub()
        subscribed = await hub.join(self)
        tried_redis = time.monotonic()
        try:
            yield f"retry: {RETRY_MS}\n\n".encode()
            sent = time.monotonic()
            async for frames in self.catch_up():
                yield frames
            while not self.finished:
                ask = True
                if subscribed:
                    items = await self.delivered()
                    if LOST in items:
                        subscribed = False
                    frames, ask = self.take(items) if items else (b"", True)
                    if frames:
                        yield frames
                        sent = time.monotonic()
                else:
                    await asyncio.sleep(POLL_SECONDS)
                    if time.monotonic() - tried_redis >= RESUBSCRIBE_SECONDS:
                        # Subscribe before reading PostgreSQL below: nothing falls in between.
                        subscribed = await hub.join(self)
                        tried_redis = time.monotonic()
                if ask:
                    async for frames in self.catch_up():
                        yield frames
                        sent = time.monotonic()
                if time.monotonic() - sent >= HEARTBEAT_SECONDS:
                    yield b": keep-alive\n\n"
                    sent = time.monotonic()
            yield f"event: end\ndata: {json.dumps({'last': self.last})}\n\n".encode()
        finally:
            hub.leave(self)


def _after(request: HttpRequest) -> int | None:
    """Where the client is: the browser's `Last-Event-ID` on a reconnection, else `?after=`."""
    value = request.headers.get("Last-Event-ID") or request.GET.get("after") or "0"
    try:
        after = int(value)
    except ValueError:
        return None
    return after if after >= 0 else None


@require_GET
@login_required
def run_events(request: HttpRequest, pk: int) -> EventStream:
    """The run's live events as Server-Sent Events: the view checks access, and the stream's
    frames are made on the event loop as the response is sent."""
    run_id = _run_shown(user=request.user, pk=pk)
    after = _after(request)
    if after is None:
        return HttpResponseBadRequest("Last-Event-ID and after are event sequence numbers.")
    return EventStream(_Watch(run_id, after, request.user.time_zone).frames())


@require_GET
@login_required
def run_events_poll(request: HttpRequest, pk: int) -> JsonResponse:
    """The events after `?after=N`, for a page without SSE: `{"events", "last", "finished"}`."""
    run = get_object_or_404(visible_to(Run.objects.all(), request.user).only("pk", "state"), pk=pk)
    after = _after(request)
    if after is None:
        return JsonResponse({"error": "after must be an event sequence number."}, status=400)
    events = with_html(run_id=run.pk, messages=events_after(run_id=run.pk, seq=after, limit=POLL_LIMIT),
                       zone=request.user.time_zone)
    return JsonResponse({
        "events": events,
        "last": events[-1]["seq"] if events else after,
        "finished": run.state in FINISHED_RUN_STATES and len(events) < POLL_LIMIT,
    })
