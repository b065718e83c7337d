"""Celery beat's scheduler (`celery beat --scheduler portal.beat:Scheduler`), which also says
that beat is alive: every sweep it sends (mail, webhooks, reminders, escalations) stops without
it, and nothing else would notice. At each turn of its loop, at most every PULSE_SECONDS, it
writes the time to the shared cache (Redis), where /healthz reads it (`portal.health.beat`)."""

import logging
import time

from celery.beat import PersistentScheduler
from django.core.cache import caches

log = logging.getLogger(__name__)

ALIVE_KEY = "beat:alive"
PULSE_SECONDS = 5
# beat wakes at least this often (celery's default is every 5 minutes when nothing is due).
LOOP_SECONDS = 10
# /healthz calls beat silent after this long without a pulse.
ALIVE_WITHIN_SECONDS = 60


def last_pulse() -> float | None:
    """When beat last said it was alive (seconds since the epoch), if it has lately."""
    return caches["shared"].get(ALIVE_KEY)


class Scheduler(PersistentScheduler):
    _pulsed = 0.0

    def tick(self, *args, **kwargs):
        self.pulse()
        return min(super().tick(*args, **kwargs), LOOP_SECONDS)

    def pulse(self) -> None:
        if time.monotonic() - self._pulsed < PULSE_SECONDS:
            return
        try:
            caches["shared"].set(ALIVE_KEY, time.time(), timeout=ALIVE_WITHIN_SECONDS)
            self._pulsed = time.monotonic()
        except Exception as error:  # noqa: BLE001 - Redis away: /healthz says so; beat goes on
            log.warning("beat could not say it is alive: %s", error)
