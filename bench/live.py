"""200, then 1,000 people watch one run live while 2,000 log lines are written: how fast each line
reaches every watcher, and whether any is lost or seen twice, beside the floor of a bare SSE
fan-out measured in the same run.

Run as `.venv/bin/python -m bench.live` from the project's directory, with DATABASE_URL and
REDIS_URL set as for the tests.

1. Create a fresh database of its own (`portal_bench_live`; the `portal` database is never
   touched), migrate, load the demo world, and make a running run of Northwind's window.
2. Start the portal's web server (`portal.web`) in a subprocess, as `make run` serves it
   (WEB_PROCESSES processes, a connection pool of 8 each).
3. Open WATCHERS SSE streams of the run at once (bare sockets, one connection each, read as
   the reference reads its own; logged in as the engineer and the customer in turn); once
   every stream has answered and sat idle for a second, count the database's connections
   other than the bench's own (pg_stat_activity):
   `watcher_db_connections`. Each stream only borrows a connection for its short queries, so
   what is left is the server's pool, not one connection per watcher.
4. A second process writes EVENTS log events through `event_emit` at RATE a second, each in a
   transaction of its own, noting the wall-clock moment each commits; then it ends the run,
   which ends every stream.
5. Each watcher notes when each event arrives: latency = arrival - the event's commit
   (commit-to-client, as the reference's is publish-to-client; a slow commit is the
   database's, not the fan-out's) (`p50_ms`, `p99_ms`, `max_ms`); `lost` counts the events a
   watcher never got, `duplicated` the ones it got more than once; `server_cpu_s` is what the
   web server's processes spent while watched (divide by `deliveries`). Stop the server.
6. The reference, with the portal stopped: `bench/reference/sse.py` with the same watchers,
   events and rate (bare Redis pub/sub fanned out by one uvicorn process to raw SSE clients:
   no Django, no database). `reference_p99_ms` is its p99, `p99_ratio` the portal's p99 over it;
   the target is a ratio of 2 at most.
7. Steps 1-6 again for each size of `--watchers` (default 200 and 1000). Print a table per
   size and, as the last line, one JSON object with the figures of each size under `runs`.
"""

import argparse
import asyncio
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench import harness
from bench.harness import progress

WATCHERS = [200, 1000]
EVENTS = 2000
RATE = 100  # events a second
# The portal's p99 over the bare fan-out's, at the same size and rate.
TARGET_P99_RATIO = 2.0
# The web server's connection pool, each process's (bench.harness.start_portal).
POOL_SIZE = 8
STARTUP_SECONDS = 60
END_SECONDS = 120
DATABASE = "portal_bench_live"
# An event's number: full parses of 2 million events would slow the watchers, which share the
# machine with the server. A pattern that starts with its literal is searched for, not tried at
# every byte: "(?:^|\n)id: " cost 9 µs an event, a core's worth at 1,000 watchers, so that the
# watchers, not the server, set the latency. `take` puts a line end before the first frame.
EVENT = re.compile(rb"\nid: (\d+)\n")


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watchers", type=int, nargs="+", default=WATCHERS,
                        help="streams at once; several sizes are measured one after the other (default 200 1000)")
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--rate", type=float, default=RATE, help=f"events written a second (default {RATE})")
    # The writer's side, run by the bench itself in a process of its own.
    parser.add_argument("--emit", type=int, metavar="RUN", help=argparse.SUPPRESS)
    parser.add_argument("--times", help=argparse.SUPPRESS)
    return parser.parse_args()


# -- The writer (a process of its own) ------------------------------------------------------------

def emit(run_id: int, *, count: int, rate: float, times: str) -> None:
    """`count` log events of the run at `rate` a second, then the run ends (and every stream);
    when each event committed, by its number, as JSON in the file `times`."""
    from django.db import transaction

    from upgrades.choices import RunState
    from upgrades.models import Run
    from upgrades.services.events import event_emit

    committed = {}

    def written(**event) -> None:
        # Noted on commit, before the event's own publish (registered after this one) runs.
        moment = {}
        with transaction.atomic():
            transaction.on_commit(lambda: moment.setdefault("at", time.time()))
            if event["kind"] == "run":
                Run.objects.filter(pk=run_id).update(state=RunState.ABORTED)
            seq = event_emit(run=run_id, **event).seq
        committed[seq] = moment["at"]

    started = time.monotonic()
    for n in range(1, count + 1):
        # Paced from the start, so that a slow write does not slow down the ones after it.
        delay = started + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        written(kind="log", text=f"cpstream01: copying file {n} of {count}", data={"server": "cpstream01"})
    written(kind="run", text="The bench is over.")
    Path(times).write_text(json.dumps({"times": committed}))


# -- The watchers -----------------------------------------------------------------------------------

class Watcher:
    """One SSE stream: every event's number and arrival, parsed as little as needed."""

    def __init__(self):
        # Each event's number and time.time() on arrival, in two lists of numbers, which the
        # garbage collector does not walk: a list of 2 million tuples would pause the watchers.
        self.seqs: list[int] = []
        self.arrivals: list[float] = []
        self.seen: dict[int, int] = {}
        self.answered = asyncio.Event()
        self.ended = False
        self.error: str | None = None

    def take(self, blocks: bytes, now: float) -> None:
        """Every whole event in `blocks` (one or more, each ending in a blank line)."""
        for found in EVENT.finditer(b"\n" + blocks):
            seq = int(found[1])
            self.seen[seq] = self.seen.get(seq, 0) + 1
            self.seqs.append(seq)
            self.arrivals.append(now)
        if b"event: end\n" in blocks:
            self.ended = True

    async def watch(self, url: str, cookie: str) -> None:
        """Read the stream over a bare socket, as the reference's watchers do: what is measured
        is the server, not an HTTP client library."""
        address = urlsplit(url)
        writer = None
        try:
            reader, writer = await asyncio.open_connection(address.hostname, address.port)
            writer.write(f"GET {address.path} HTTP/1.1\r\nHost: {address.netloc}\r\nCookie: {cookie}\r\n"
                         "Accept: text/event-stream\r\n\r\n".encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), STARTUP_SECONDS)
            status = head.split(b" ", 2)[1].decode()
            if status != "200":
                self.error = f"HTTP {status}"
                return
            self.answered.set()
            # The body is chunked, and the server sends whole frames: the chunks' own lines fall
            # between frames, where EVENT skips them.
            buffer = b""
            while chunk := await asyncio.wait_for(reader.read(65536), 60):
                now = time.time()
                buffer += chunk
                end = buffer.rfind(b"\n\n")
                if end < 0:
                    continue
                self.take(buffer[:end + 1], now)
                buffer = buffer[end + 2:]
                if self.ended:
                    return
        except Exception as error:  # noqa: BLE001 - a watcher that breaks is counted, not fatal
            self.error = f"{type(error).__name__}: {error}"
        finally:
            self.answered.set()
            if writer is not None:
                writer.close()


async def watch_all(base: str, run_id: int, cookies: list[str], *, count: int, writer) -> tuple[list[Watcher], int]:
    """Every watcher connected and idle, the connections counted, then the writer started;
    returns when every stream has ended."""
    from django.db import connection
    from asgiref.sync import sync_to_async

    # What this process holds by now (Django, the demo world) out of the collector's sight: a full
    # collection walking it would pause every watcher at once, for as long as 150 ms, and be
    # counted against the portal.
    gc.freeze()
    url = f"{base}/runs/{run_id}/events/"
    watchers = [Watcher() for _ in range(count)]
    tasks = [asyncio.create_task(watcher.watch(url, cookies[n % len(cookies)])) for n, watcher in enumerate(watchers)]
    await asyncio.wait_for(asyncio.gather(*(watcher.answered.wait() for watcher in watchers)), STARTUP_SECONDS)
    await asyncio.sleep(1.0)
    connections = await sync_to_async(_connections_of_others)(connection)
    progress(f"{count} watchers connected; {connections} database connections besides the bench's; writing")
    process = writer()
    await asyncio.wait_for(asyncio.gather(*tasks), END_SECONDS + EVENTS)
    process.wait()
    return watchers, connections


def _connections_of_others(connection) -> int:
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0]
    finally:
        connection.close()  # this thread's: the database is dropped at the end


# -- The portal -------------------------------------------------------------------------------------

# -- The bench ------------------------------------------------------------------------------------


def cookie_of(user) -> str:
    """A session of `user`, their second factor given: without it the engineer's stream is sent
    to give it."""
    return f"sessionid={harness.signed_in(user).cookies['sessionid'].value}"


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def reference(*, watchers: int, events: int, rate: float) -> dict:
    """The floor on this machine, measured in the same run: `bench/reference/sse.py`, the same
    watchers, events and rate through bare Redis pub/sub and one uvicorn process."""
    from pathlib import Path

    script = Path(__file__).resolve().parent / "reference" / "sse.py"
    answer = subprocess.run([sys.executable, str(script), str(watchers), str(events), str(rate)],
                            capture_output=True, text=True, timeout=END_SECONDS + 2 * events / rate, check=True)
    return json.loads(answer.stdout.strip().splitlines()[-1])


@dataclass
class Watched:
    """What `watch_while_written` saw: the watchers, the database connections held while they
    waited, the writer's JSON (`times`: a moment by event number), the web server's CPU."""

    watchers: list[Watcher]
    connections: int
    written: dict
    server_cpu_s: float

    def tally(self, expected: set[int]) -> tuple[list[float], int, int]:
        """Each arrival's latency in ms after the writer's time for its event (sorted), the
        expected events a watcher never got, and the ones a watcher got more than once."""
        times = {int(seq): moment for seq, moment in self.written["times"].items()}
        latencies = sorted((arrived - times[seq]) * 1000 for watcher in self.watchers
                           for seq, arrived in zip(watcher.seqs, watcher.arrivals) if seq in times)
        lost = sum(len(expected - set(watcher.seen)) for watcher in self.watchers)
        duplicated = sum(count - 1 for watcher in self.watchers for count in watcher.seen.values() if count > 1)
        return latencies, lost, duplicated


def watch_while_written(run, people: list, *, count: int, writer: list[str]) -> Watched:
    """`count` watchers of `run` (logged in as `people` in turn) through the portal's web server
    while `python -m <writer...> --times FILE` writes in a process of its own and ends the run."""
    from django.db import connection

    from portal.celery import app as celery_app

    cookies = [cookie_of(person) for person in people]
    connection.close()
    with harness.portal_served() as (server, base), tempfile.NamedTemporaryFile(suffix=".json") as times:

        def start_writer() -> subprocess.Popen:
            return subprocess.Popen([sys.executable, "-m", *writer, "--times", times.name],
                                    env={**os.environ, "DATABASE_URL": harness.database_url()})

        try:
            cpu_before = harness.cpu_seconds(server.pid)
            watchers, connections = asyncio.run(watch_all(base, run.pk, cookies, count=count, writer=start_writer))
            server_cpu = harness.cpu_seconds(server.pid) - cpu_before
            written = json.loads(Path(times.name).read_text())
        finally:
            celery_app.control.purge()  # the request's notices: no worker here sends them
    return Watched(watchers, connections, written, server_cpu)


def measure(arguments: argparse.Namespace, watcher_count: int) -> dict:
    from portal.web import processes_default

    run, customer, engineer = harness.a_running_run()
    before = run.live_events.count()  # what the run said before the bench writes (its seq is gapless)
    started = time.monotonic()
    watched = watch_while_written(run, [customer, engineer], count=watcher_count, writer=[
        "bench.live", "--emit", str(run.pk), "--events", str(arguments.events), "--rate", str(arguments.rate),
    ])
    seconds = time.monotonic() - started
    progress(f"the reference: {watcher_count} watchers of a bare SSE fan-out")
    floor = reference(watchers=watcher_count, events=arguments.events, rate=arguments.rate)
    watchers, connections, server_cpu = watched.watchers, watched.connections, watched.server_cpu_s
    # The log events and the run's end, each timed from its commit.
    latencies, lost, duplicated = watched.tally(set(range(before + 1, before + arguments.events + 2)))
    errors = sorted({watcher.error for watcher in watchers if watcher.error})
    p99 = percentile(latencies, 0.99) if latencies else None
    ratio = round(p99 / floor["p99_ms"], 1) if latencies else None
    pool = processes_default() * POOL_SIZE
    return {
        "within_targets": bool(latencies) and ratio <= TARGET_P99_RATIO and lost == 0 and duplicated == 0
        and not errors and connections <= pool,
        "watchers": watcher_count,
        "events": arguments.events,
        "rate_per_s": arguments.rate,
        "deliveries": sum(sum(watcher.seen.values()) for watcher in watchers),
        "server_cpu_s": round(server_cpu, 1),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(p99, 1) if latencies else None,
        "max_ms": round(latencies[-1], 1) if latencies else None,
        "reference_p99_ms": floor["p99_ms"],
        "p99_ratio": ratio,
        "reference_lost": floor["lost"],
        "lost": lost,
        "duplicated": duplicated,
        "watcher_db_connections": connections,
        "web_processes": processes_default(),
        "watchers_failed": sum(1 for watcher in watchers if watcher.error or not watcher.ended),
        "errors": errors[:5],
        "seconds": round(seconds, 1),
        "targets": {"p99_ratio": TARGET_P99_RATIO, "lost": 0, "duplicated": 0, "watcher_db_connections": pool},
    }


def table(figures: dict) -> str:
    return "\n".join([
        f"{figures['watchers']} SSE watchers of one run; {figures['events']} log events written by another "
        f"process at {figures['rate_per_s']:g}/s.",
        "",
        f"{'deliveries':28} {figures['deliveries']:>10,}",
        f"{'latency p50 / p99 / max':28} {figures['p50_ms']} / {figures['p99_ms']} / {figures['max_ms']} ms",
        f"{'reference p99':28} {figures['reference_p99_ms']:>10} ms   (bare fan-out: {figures['p99_ratio']}x,"
        f" at most {TARGET_P99_RATIO:g}x)",
        f"{'database connections, idle':28} {figures['watcher_db_connections']:>10}   (the server's pool, at most "
        f"{figures['targets']['watcher_db_connections']}, not one a watcher)",
        *tally_rows(figures),
    ])


def tally_rows(figures: dict) -> list[str]:
    """The end of a watched bench's table: what the watchers missed or got twice, the server's
    CPU, the verdict."""
    return [
        f"{'lost':28} {figures['lost']:>10}   (must be 0)",
        f"{'duplicated':28} {figures['duplicated']:>10}   (must be 0)",
        f"{'watchers failed':28} {figures['watchers_failed']:>10}",
        f"{'server CPU':28} {figures['server_cpu_s']:>10} s"
        + (f"   in {figures['seconds']} s" if "seconds" in figures else ""),
        f"verdict: {'ok' if figures['within_targets'] else 'MISSED'}",
    ]


def main() -> None:
    arguments = options()
    if arguments.emit:
        # The writer: the bench's database, already made by the parent process.
        harness.set_up_django(database=DATABASE)
        emit(arguments.emit, count=arguments.events, rate=arguments.rate, times=arguments.times)
        return
    harness.set_up_django(database=DATABASE)
    runs = []
    for watcher_count in arguments.watchers:
        with harness.own_database():
            figures = measure(arguments, watcher_count)
        print(table(figures) + "\n", flush=True)
        runs.append(figures)
    print(json.dumps({"within_targets": all(figures["within_targets"] for figures in runs), "runs": runs}))


if __name__ == "__main__":
    main()
