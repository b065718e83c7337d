"""Sampling a service's availability: one request every interval, each its own sample (time,
up or down, latency), whatever the previous one is still doing. No database here: the samples
are handed to `put` and `services.availability` stores them in batches."""

import asyncio
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

SAMPLE_TIMEOUT = 1.0  # an answer slower than this counts as down


@dataclass(frozen=True)
class Sample:
    at: datetime
    up: bool
    latency_ms: float | None
    status: int | None


async def _sample(client: httpx.AsyncClient, url: str, put) -> None:
    at, started = datetime.now(UTC), time.perf_counter()
    try:
        response = await client.get(url)
    except httpx.HTTPError:
        put(Sample(at=at, up=False, latency_ms=None, status=None))
        return
    put(Sample(at=at, up=response.status_code == 200, latency_ms=(time.perf_counter() - started) * 1000,
               status=response.status_code))


async def sample_until(*, url: str, interval: float, put, stop: threading.Event) -> None:
    """Sample `url` on a fixed grid of `interval` seconds until `stop` is set."""
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task] = set()
    async with httpx.AsyncClient(timeout=SAMPLE_TIMEOUT, trust_env=False, verify=ssl.create_default_context()) as client:
        tick = loop.time()
        while not stop.is_set():
            task = asyncio.create_task(_sample(client, url, put))
            pending.add(task)
            task.add_done_callback(pending.discard)
            tick += interval
            await asyncio.sleep(max(0.0, tick - loop.time()))
        await asyncio.gather(*pending)


def downtime_intervals(samples: list[tuple[datetime, bool]], *, interval: timedelta) -> list[tuple[datetime, datetime]]:
    """Down stretches from time-ordered (at, up) samples: each from its first down sample to the
    next up sample (or one interval after the last sample, if it ends down)."""
    intervals, down_since = [], None
    for at, up in samples:
        if not up and down_since is None:
            down_since = at
        elif up and down_since is not None:
            intervals.append((down_since, at))
            down_since = None
    if down_since is not None:
        intervals.append((down_since, samples[-1][0] + interval))
    return intervals
