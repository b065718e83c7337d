"""Watching a run live: the SSE stream served by the portal's web server, and the JSON the page
polls without it.

The portal runs under its web server in a subprocess on a loopback port, on this test database and the
test Redis; events are written by `event_emit` in the test process, committed, and published
as in production. Both sides (engineer and customer) watch the same URL."""

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import httpx
import psutil
import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from portal.models import User
from tests.conftest import pass_second_factor, wait_for
from tests.factories import RunFactory
from tests.scheduling.stories import race
from upgrades.choices import RunState
from upgrades.fragments import with_html
from upgrades.models import Run
from upgrades.services import events
from upgrades.services.events import event_emit, log_lines_emit
from upgrades.views import events as live
from upgrades.views.events import BATCH_SECONDS, BATCH_WATCHERS, RECONCILE_SECONDS, _Hub, _joined, _Watch

# Nothing listens there: Redis "down".
NO_REDIS = "redis://127.0.0.1:1/0"
READ_SECONDS = 30


# -- The portal under its web server ---------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Portal:
    """The portal's web server (`python -m portal.web`) as `make run` starts it, on the test database. Without a
    connection pool, so that a connection a watcher held would show in pg_stat_activity, where
    each of its connections carries the portal's `name` (psycopg's `application_name`, from the
    query string of DATABASE_URL)."""

    def __init__(self, *, redis_url: str, name: str, **settings: str):
        self.name = name
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        database = urlsplit(os.environ["DATABASE_URL"])
        query = urlencode([*parse_qsl(database.query), ("application_name", name)])
        environment = {
            **os.environ,
            "DATABASE_URL": urlunsplit(database._replace(path="/" + connection.settings_dict["NAME"], query=query)),
            "REDIS_URL": redis_url,
            "LOG_LEVEL": "WARNING",
            **settings,
        }
        environment.pop("DATABASE_POOL", None)
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            # Two processes: a watcher's stream and the request that makes its event are served
            # by either, as under `make run`.
            [sys.executable, "-m", "portal.web", "--bind", f"127.0.0.1:{self.port}", "--processes", "2"],
            env=environment, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise AssertionError(f"The web server stopped at start-up:\n{self.log.read().decode()[-3000:]}")
            try:
                # 503 is an answer too: the portal without Redis says it is failing.
                if httpx.get(f"{self.url}/healthz", timeout=5).status_code in (200, 503):
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError("The web server did not answer")

    def connections(self) -> int:
        """This portal's connections to the test database, now."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
                [self.name],
            )
            return cursor.fetchone()[0]

    def workers(self) -> list[int]:
        """The web server's worker processes (its arbiter's children)."""
        children = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as stat:
                        if int(stat.read().rsplit(")", 1)[1].split()[1]) == self.process.pid:
                            children.append(int(entry))
                except OSError:
                    continue
        return children

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def portal(django_db_setup, django_db_blocker):
    served = Portal(redis_url=os.environ["REDIS_URL"], name="portal-under-test")
    yield served
    served.stop()


@pytest.fixture(scope="module")
def portal_without_redis(django_db_setup, django_db_blocker):
    served = Portal(redis_url=NO_REDIS, name="portal-under-test-without-redis")
    yield served
    served.stop()


@pytest.fixture(scope="module")
def portal_one_request_at_a_time(django_db_setup, django_db_blocker):
    served = Portal(redis_url=os.environ["REDIS_URL"], name="portal-one-request-at-a-time", WEB_REQUESTS_AT_ONCE="1")
    yield served
    served.stop()


# -- A run and its watchers -----------------------------------------------------------------------

@pytest.fixture
def run(transactional_db, world, northwind_deployment, customer, release, engineer) -> Run:
    """Northwind's confirmed window on the day and its run, running (the engine has tests of its
    own), with no event yet: a run is all a watcher needs."""
    return RunFactory(
        window__request__deployment=northwind_deployment, window__request__release=release,
        window__request__requested_by=customer, window__engineer=engineer, state=RunState.RUNNING, plan_event=False,
    )


def cookie_of(user) -> dict:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    pass_second_factor(client, user)
    return {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}


class Watcher:
    """A browser's EventSource, by hand: reads `id`/`event`/`data` blocks off the stream."""

    def __init__(self, portal: Portal, run: Run, user, *, last_event_id: int | None = None, after: int | None = None):
        headers = cookie_of(user)
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        url = f"{portal.url}{reverse('run-events', args=[run.pk])}"
        if after is not None:
            url += f"?after={after}"
        self.client = httpx.Client(timeout=httpx.Timeout(READ_SECONDS, connect=5))
        self.response = self.client.send(self.client.build_request("GET", url, headers=headers), stream=True)
        self.lines = self.response.iter_lines()

    def next_event(self) -> dict:
        """The next event (comments and the `retry` field skipped): {"id", "event", "data"}."""
        fields: dict = {}
        for line in self.lines:
            if line == "":
                if "event" in fields or "data" in fields:
                    return fields
                fields = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = json.loads(value) if name == "data" else value
        raise AssertionError("the stream ended")

    def events(self, count: int) -> list[dict]:
        return [self.next_event() for _ in range(count)]

    def until_end(self) -> list[dict]:
        """Every event up to the `end` of the stream, which comes once the run is finished."""
        received = []
        while (event := self.next_event())["event"] != "end":
            received.append(event)
        return received

    def close(self) -> None:
        self.response.close()
        self.client.close()


@pytest.fixture
def watch(portal):
    opened: list[Watcher] = []

    def open_watcher(run: Run, user, *, on: Portal | None = None, **where) -> Watcher:
        watcher = Watcher(on or portal, run, user, **where)
        opened.append(watcher)
        return watcher

    yield open_watcher
    for watcher in opened:
        watcher.close()


def log_lines(run: Run, *texts: str) -> None:
    for text in texts:
        event_emit(run=run, kind="log", text=text, data={"server": "cpadmin01"})


def printed(run: Run, *texts: str) -> None:
    """Lines as the engine writes a batch of a server's output."""
    log_lines_emit(run=run, step=None, lines=[(text, {"server": "cpstream01"}) for text in texts])


def finish(run: Run) -> None:
    """The run ends, as the engine ends it: a state change and its event, in one transaction."""
    from django.db import transaction

    with transaction.atomic():
        Run.objects.filter(pk=run.pk).update(state=RunState.ABORTED)
        event_emit(run=run, kind="run", text="The run was aborted.", data={"state": RunState.ABORTED})


def seqs(received: list[dict]) -> list[int]:
    return [int(event["id"]) for event in received]


# -- The stories ----------------------------------------------------------------------------------

def test_the_engineer_sees_each_log_line_as_it_is_written_in_order(run, engineer, watch):
    watcher = watch(run, engineer)

    log_lines(run, "Stopping Tomcat", "Tomcat stopped", "Installing 10.0.0")
    received = watcher.events(3)

    assert seqs(received) == [1, 2, 3]
    assert [event["event"] for event in received] == ["log", "log", "log"]
    assert [event["data"]["text"] for event in received] == ["Stopping Tomcat", "Tomcat stopped", "Installing 10.0.0"]
    assert received[0]["data"]["data"] == {"server": "cpadmin01"}


def test_the_customer_watches_the_same_run_and_the_stream_ends_with_the_run(run, customer, engineer, watch):
    log_lines(run, "Backing up the database")
    customer_view, engineer_view = watch(run, customer), watch(run, engineer)

    log_lines(run, "Backup done")
    finish(run)

    assert seqs(customer_view.until_end()) == [1, 2, 3]
    assert seqs(engineer_view.until_end()) == [1, 2, 3]


def test_a_reconnecting_customer_gets_every_event_exactly_once_in_order(run, customer, watch):
    first = watch(run, customer)
    log_lines(run, *(f"line {n}" for n in range(1, 11)))
    before = first.events(4)
    first.close()
    # Written while the customer's browser was away.
    log_lines(run, *(f"line {n}" for n in range(11, 16)))

    again = watch(run, customer, last_event_id=int(before[-1]["id"]))
    log_lines(run, "line 16")
    finish(run)
    after = again.until_end()

    assert seqs(before) + seqs(after) == list(range(1, 18))
    assert [event["data"]["text"] for event in before + after][:16] == [f"line {n}" for n in range(1, 17)]


def test_the_page_resumes_from_the_last_event_it_rendered(run, engineer, watch):
    log_lines(run, "one", "two", "three")

    watcher = watch(run, engineer, after=2)
    finish(run)

    assert seqs(watcher.until_end()) == [3, 4]


@pytest.mark.parametrize("write", [log_lines, printed], ids=["one by one", "in a batch"])
def test_events_whose_publication_failed_still_reach_the_watcher(run, engineer, watch, settings, write):
    watcher = watch(run, engineer)
    write(run, "published")
    assert seqs(watcher.events(1)) == [1]

    # Redis is down for the writer: the events are stored all the same, not published.
    settings.REDIS_URL = NO_REDIS
    events._redis.cache_clear()
    try:
        write(run, "stored only", "stored only too")
        finish(run)
        rest = watcher.until_end()
    finally:
        events._redis.cache_clear()

    assert seqs(rest) == [2, 3, 4]
    assert [event["data"]["text"] for event in rest][:2] == ["stored only", "stored only too"]


def test_without_redis_the_stream_reads_postgresql(run, engineer, watch, portal_without_redis):
    log_lines(run, "before")
    watcher = watch(run, engineer, on=portal_without_redis)

    log_lines(run, "during")
    finish(run)

    assert [event["data"]["text"] for event in watcher.until_end()] == ["before", "during", "The run was aborted."]


def test_watchers_hold_no_database_connection_while_they_wait(run, customer, engineer, watch, portal):
    watchers = [watch(run, person) for person in (customer, engineer, customer, engineer, customer)]
    log_lines(run, "everyone sees this")
    for watcher in watchers:
        assert seqs(watcher.events(1)) == [1]

    # Their short reads come and go (a quiet channel is looked up in PostgreSQL every few
    # seconds); the portal's connections all go while the five wait on. A held one never would.
    wait_for(lambda: portal.connections() == 0, timeout=15)

    log_lines(run, "still watching")
    for watcher in watchers:
        assert seqs(watcher.events(1)) == [2]


def test_watchers_who_come_at_once_are_shared_by_the_web_processes(run, customer, portal):
    """People opening the live page together: were they all taken by one process, that one would
    send every event to all of them while the other sat idle."""
    request = (f"GET {reverse('run-events', args=[run.pk])} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Cookie: {cookie_of(customer)['Cookie']}\r\nAccept: text/event-stream\r\n\r\n").encode()
    streams = [socket.create_connection(("127.0.0.1", portal.port)) for _ in range(300)]
    try:
        for stream in streams:
            stream.sendall(request)
        for stream in streams:
            stream.settimeout(READ_SECONDS)
            assert stream.recv(12) == b"HTTP/1.1 200"
        held = [sum(1 for held in psutil.Process(pid).net_connections("tcp")
                    if held.status == psutil.CONN_ESTABLISHED and held.laddr.port == portal.port)
                for pid in portal.workers()]
    finally:
        for stream in streams:
            stream.close()

    assert sum(held) == 300
    assert min(held) >= 300 / 3, held


def test_watchers_take_no_turn_from_the_pages_a_process_serves(run, customer, engineer, watch,
                                                              portal_one_request_at_a_time):
    """Each process runs one request's view at a time here: six open streams leave that one
    place free, and pages are answered meanwhile."""
    served = portal_one_request_at_a_time
    watchers = [watch(run, person, on=served) for person in (customer, engineer) * 3]
    log_lines(run, "everyone sees this")
    for watcher in watchers:
        assert seqs(watcher.events(1)) == [1]

    with httpx.Client(base_url=served.url, timeout=10) as browser:
        pages = [browser.get("/accounts/login/") for _ in range(10)]
    assert [page.status_code for page in pages] == [200] * 10

    log_lines(run, "still watching")
    for watcher in watchers:
        assert seqs(watcher.events(1)) == [2]


def test_a_process_answers_a_burst_of_requests_on_a_few_threads(transactional_db, portal_one_request_at_a_time):
    """Forty requests at once, one view at a time per process: every one is answered, and the
    processes keep a few threads the whole time, not one more thread per request waiting."""
    served = portal_one_request_at_a_time
    workers = wait_for(lambda: len(served.workers()) == 2 and served.workers(), timeout=30)

    def threads() -> int:
        return sum(len(os.listdir(f"/proc/{worker}/task")) for worker in workers)

    before, most = threads(), []
    done = threading.Event()

    def count_threads() -> None:
        while not done.is_set():
            most.append(threads())
            time.sleep(0.002)

    counter = threading.Thread(target=count_threads)
    counter.start()
    answers = race([lambda: httpx.get(f"{served.url}/accounts/login/", timeout=30).status_code] * 40)
    done.set()
    counter.join()

    assert answers == [200] * 40
    assert max(most) <= before + 2 * len(workers)  # a thread more per process at most, and one kept


def test_an_outsider_cannot_watch_and_a_stranger_must_log_in(run, outsider, portal):
    url = f"{portal.url}{reverse('run-events', args=[run.pk])}"

    assert httpx.get(url, headers=cookie_of(outsider), timeout=10).status_code == 404
    answer = httpx.get(url, timeout=10)
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/accounts/login/")


def test_a_missing_run_is_not_found_and_a_bad_last_event_id_is_refused(run, engineer, portal):
    stream = f"{portal.url}{reverse('run-events', args=[run.pk])}"
    missing = f"{portal.url}{reverse('run-events', args=[run.pk + 1000])}"

    assert httpx.get(missing, headers=cookie_of(engineer), timeout=10).status_code == 404
    bad = httpx.get(stream, headers={**cookie_of(engineer), "Last-Event-ID": "yesterday"}, timeout=10)
    assert bad.status_code == 400


def test_a_replay_carries_the_html_the_live_stream_carried(run, engineer, watch):
    watcher = watch(run, engineer)
    log_lines(run, "Stopping Tomcat")
    finish(run)
    streamed = watcher.until_end()

    replayed = watch(run, engineer, last_event_id=0).until_end()

    assert [event["data"]["html"] for event in replayed] == [event["data"]["html"] for event in streamed]
    assert "Stopping Tomcat</li>" in streamed[0]["data"]["html"]
    assert "The upgrade is over: the report keeps everything." in streamed[1]["data"]["html"]


# -- Log lines written in batches (a server printing fast) ----------------------------------------

def test_log_lines_written_in_batches_reach_every_watcher_once_in_order(run, customer, engineer, watch):
    watchers = [watch(run, customer), watch(run, engineer)]

    printed(run, *(f"file {n}" for n in range(1, 301)))
    log_lines(run, "a line of its own")
    printed(run, *(f"file {n}" for n in range(302, 501)))
    finish(run)

    for watcher in watchers:
        received = watcher.until_end()
        assert seqs(received) == list(range(1, 502))
        texts = [event["data"]["text"] for event in received]
        assert texts[:300] == [f"file {n}" for n in range(1, 301)]
        assert texts[300:500] == ["a line of its own", *(f"file {n}" for n in range(302, 501))]
        assert '<li data-seq="250"><time>' in received[249]["data"]["html"]


def test_a_watcher_back_in_the_middle_of_a_batch_gets_the_rest_once(run, customer, watch):
    printed(run, *(f"file {n}" for n in range(1, 101)))

    again = watch(run, customer, last_event_id=40)
    printed(run, *(f"file {n}" for n in range(101, 201)))
    finish(run)

    assert seqs(again.until_end()) == list(range(41, 202))


def test_a_batch_the_replay_has_sent_the_start_of_is_sent_from_where_the_replay_ended():
    watch = _Watch(run_id=1, last=40, zone="UTC")
    batch = [f"id: {seq}\n\n".encode() for seq in range(31, 61)]

    frames, ask = watch.take([(31, 60, False, batch), (61, 61, False, [b"id: 61\n\n"])])

    assert frames == b"".join(f"id: {seq}\n\n".encode() for seq in range(41, 62))
    assert watch.last == 61 and not ask

    # A batch during which the run finished: PostgreSQL is asked for anything after it, then the end.
    frames, ask = watch.take([(62, 62, True, [b"id: 62\n\n"])])
    assert frames == b"id: 62\n\n" and ask


def log_message(seq: int) -> str:
    """A log line as Redis brings it to the hub."""
    return json.dumps({"seq": seq, "at": "2026-11-29T10:00:00+00:00", "kind": "log", "step": None, "actor": None,
                       "text": f"line {seq}", "data": {}})


def handed_over(run: Run, *, watchers: int, lines: int) -> tuple[list[int], list[tuple[bytes, bool]]]:
    """`lines` log lines from Redis, one message each, to a hub with `watchers` watchers of `run`:
    how many items each watcher held right after, and what each sends once the batch has gone."""

    async def scene():
        hub = _Hub()
        watches = [_Watch(run.pk, 0, "UTC") for _ in range(watchers)]
        for watch in watches:
            hub.watchers.setdefault(watch.name, set()).add(watch)
        for seq in range(1, lines + 1):
            await hub._deliver(watches[0].name, log_message(seq))
        at_once = [len(watch.inbox) for watch in watches]
        await asyncio.sleep(BATCH_SECONDS * 2)
        return at_once, [watch.take(await watch.delivered()) for watch in watches]

    return asyncio.run(scene())


def test_a_large_audience_gets_a_runs_events_in_batches_one_write_a_watcher(run):
    at_once, sent = handed_over(run, watchers=BATCH_WATCHERS, lines=3)

    assert at_once == [0] * BATCH_WATCHERS  # nothing before the batch goes
    for frames, ask in sent:
        assert [int(seq) for seq in re.findall(rb"^id: (\d+)$", frames, re.M)] == [1, 2, 3]
        assert b"line 3</li>" in frames and not ask


def test_a_small_audience_gets_each_event_at_once(run):
    at_once, sent = handed_over(run, watchers=BATCH_WATCHERS - 1, lines=3)

    assert at_once == [3] * (BATCH_WATCHERS - 1)
    assert all(frames.count(b"id: ") == 3 and not ask for frames, ask in sent)


def test_a_batch_keeps_a_gap_for_the_watcher_to_fill_from_postgresql():
    watch = _Watch(run_id=1, last=0, zone="UTC")
    items = _joined([(1, 2, False, [b"id: 1\n\n", b"id: 2\n\n"]), (3, 3, False, [b"id: 3\n\n"]),
                     (5, 5, True, [b"id: 5\n\n"])])

    assert [(first, last, finished) for first, last, finished, _ in items] == [(1, 3, False), (5, 5, True)]
    frames, ask = watch.take(items)
    assert frames == b"id: 1\n\nid: 2\n\nid: 3\n\n" and ask and watch.last == 3


def looks_in_postgresql(monkeypatch) -> list[list[int]]:
    """The hub's looks in PostgreSQL from now on (the runs of each), as they are taken."""
    looks = []
    reach = live._reach_of

    async def counted(**where):
        looks.append(where["run_ids"])
        return await reach(**where)

    monkeypatch.setattr(live, "_reach_of", counted)
    return looks


def woken_by_a_quiet_spell(run: Run, lasts: list[int], monkeypatch) -> tuple[list[bool], list[list[int]]]:
    """Watchers of `run` that have sent up to `lasts`, on a channel quiet for RECONCILE_SECONDS:
    which of them the hub's look in PostgreSQL wakes, and the looks it took (the runs of each)."""
    looks = looks_in_postgresql(monkeypatch)

    async def quiet_spell() -> list[bool]:
        hub = _Hub()
        watches = [_Watch(run.pk, last, "UTC") for last in lasts]
        for watch in watches:
            hub.watchers.setdefault(watch.name, set()).add(watch)
            hub.heard[watch.name] = time.monotonic() - RECONCILE_SECONDS
        waiting = [asyncio.create_task(watch.delivered()) for watch in watches]
        await asyncio.sleep(0)
        await hub.reconcile()
        await asyncio.sleep(0)
        return [task.done() for task in waiting]

    return asyncio.run(quiet_spell()), looks


def test_a_quiet_run_is_looked_up_once_for_all_its_watchers_and_wakes_those_behind(run, monkeypatch):
    log_lines(run, "one", "two", "three")

    woken, looks = woken_by_a_quiet_spell(run, [3, 3, 1, 3, 3], monkeypatch)

    assert woken == [False, False, True, False, False]
    assert looks == [[run.pk]]


def test_a_quiet_run_that_has_finished_wakes_every_watcher_to_end(run, monkeypatch):
    log_lines(run, "one")
    finish(run)

    woken, looks = woken_by_a_quiet_spell(run, [2, 2, 1], monkeypatch)

    assert woken == [True, True, True]
    assert looks == [[run.pk]]


def test_an_event_that_comes_after_the_last_watcher_left_is_not_looked_up_again(run, monkeypatch):
    """Redis may bring a run's event after its last watcher has left, while the unsubscribe is on
    its way: nobody is left to give it to, and the run is not looked up in PostgreSQL each quiet
    spell after, for as long as the process lives."""
    looks = looks_in_postgresql(monkeypatch)

    async def scene() -> dict:
        hub = _Hub()
        watch = _Watch(run.pk, 0, "UTC")
        hub.watchers.setdefault(watch.name, set()).add(watch)
        hub.heard[watch.name] = time.monotonic()
        hub.leave(watch)
        await hub._deliver(watch.name, log_message(1))
        hub.heard = {name: heard - RECONCILE_SECONDS for name, heard in hub.heard.items()}
        await hub.reconcile()
        return hub.heard

    assert asyncio.run(scene()) == {}
    assert looks == []


# -- Polling, for a page without SSE --------------------------------------------------------------

def test_a_page_without_sse_polls_the_events_after_the_last_it_has(run, customer, client_for):
    log_lines(run, "one", "two", "three")
    client = client_for(customer)
    url = reverse("run-events-poll", args=[run.pk])

    answer = client.get(url, {"after": 1}).json()
    assert [event["text"] for event in answer["events"]] == ["two", "three"]
    assert (answer["last"], answer["finished"]) == (3, False)

    assert client.get(url, {"after": 3}).json() == {"events": [], "last": 3, "finished": False}
    finish(run)
    assert client.get(url, {"after": 3}).json()["finished"] is True


def test_polling_refuses_outsiders_bad_numbers_and_posts(run, customer, outsider, client_for):
    url = reverse("run-events-poll", args=[run.pk])

    assert client_for(outsider).get(url, {"after": 0}).status_code == 404
    assert client_for(customer).get(url, {"after": "soon"}).status_code == 400
    assert client_for(customer).get(url, {"after": -1}).status_code == 400
    assert client_for(customer).post(url).status_code == 405


# -- What an event shows --------------------------------------------------------------------------

def test_each_watcher_reads_a_log_line_at_its_own_clock(run, customer, client_for, world):
    sydney = User.objects.get(email="engineer.apac@vendor.example")
    log_lines(run, "Stopping Tomcat")

    for person in (customer, sydney):
        [event] = client_for(person).get(reverse("run-events-poll", args=[run.pk]), {"after": 0}).json()["events"]
        at = datetime.fromisoformat(event["at"]).astimezone(ZoneInfo(person.time_zone))
        assert f'<li data-seq="1"><time>{at:%H:%M:%S}</time> Stopping Tomcat</li>' in event["html"]


def test_watchers_in_one_zone_share_one_rendering_of_each_event(run, django_assert_num_queries):
    event_emit(run=run, kind="run", text="The run resumes", data={"state": RunState.RUNNING})
    log_lines(run, "Tomcat started")
    stored = events.events_after(run_id=run.pk, seq=0)

    first = with_html(run_id=run.pk, messages=stored, zone="Europe/London")
    with django_assert_num_queries(0):
        again = with_html(run_id=run.pk, messages=stored, zone="Europe/London")

    assert again == first
    assert with_html(run_id=run.pk, messages=stored, zone="Australia/Sydney") != first

