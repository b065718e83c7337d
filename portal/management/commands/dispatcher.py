"""`manage.py dispatcher`: the process that keeps live work moving whatever happened to Redis
or a worker. Every second it sends the task outbox's due rows (portal.dispatch.relay); it runs
the sweeps of `DISPATCHER_SWEEPS` on their own periods (a dead worker's step interrupted, a
stranded run's next step sent again, a dead prober's probe sent again), and touches its alive
file. Several dispatchers may run at once: every send and every sweep is a guarded claim.

`--check` exits 0 when the alive file was touched within the last 30 s (a health check)."""

import logging
import signal
import sys
import threading
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection
from django.utils.module_loading import import_string

from portal import dispatch

log = logging.getLogger("portal.dispatcher")
ALIVE_WITHIN_SECONDS = 30


class Command(BaseCommand):
    help = "Send the task outbox to Celery and sweep stale steps, stranded runs and probes."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=1.0, help="Seconds between two relays (1).")
        parser.add_argument("--alive-file", type=Path, default=settings.DISPATCHER_ALIVE_FILE)
        parser.add_argument("--check", action="store_true", help="Exit 0 if a dispatcher is alive here.")

    def handle(self, *args, every: float, alive_file: Path, check: bool, **options):
        if check:
            alive = alive_file.exists() and time.time() - alive_file.stat().st_mtime < ALIVE_WITHIN_SECONDS
            sys.exit(0 if alive else 1)
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        sweeps = {path: (import_string(path), seconds) for path, seconds in settings.DISPATCHER_SWEEPS.items()}
        due = {path: 0.0 for path in sweeps}
        log.info("dispatcher started: relay every %s s; sweeps %s", every,
                 ", ".join(f"{path.rsplit('.', 1)[1]} every {seconds} s" for path, (_, seconds) in sweeps.items()))
        while not stop.is_set():
            started = time.monotonic()
            self._safely("relay", dispatch.relay)
            for path, (sweep, seconds) in sweeps.items():
                if started >= due[path]:
                    due[path] = started + seconds
                    self._safely(path, sweep)
            alive_file.touch()
            stop.wait(max(0.0, every - (time.monotonic() - started)))
        log.info("dispatcher stopped")

    @staticmethod
    def _safely(name: str, work) -> None:
        """PostgreSQL restarting must not end the dispatcher: say so and try again next time."""
        try:
            done = work()
        except Exception:
            log.exception("dispatcher: %s failed", name)
            connection.close()
            return
        if done:
            log.info("dispatcher: %s: %s", name.rsplit(".", 1)[-1], done)
