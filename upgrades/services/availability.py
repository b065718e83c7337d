"""Measured availability (the report's "measured against announced"): a probe samples the
deployment's service address through its load balancer every 250 ms while it runs.

`probe_start` creates the probe and sends its task; the task (`probe_run`) claims the probe,
samples in a thread of its own and stores the samples in batches, renewing its claim at each
batch; `probe_stop` ends it at the next batch, or, when the run it measures has ended, once the
service answers again (at the latest after a bound), so the downtime measured is all of it. A
probe is sampled by one worker at a time: a second one (a redelivered task) finds the claim
fresh and leaves.
"""

import asyncio
import queue
import threading
import time
import uuid
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from portal.dispatch import dispatch
from portal.dispatch import in_flight as dispatch_in_flight
from portal.models import Deployment
from upgrades.availability import Sample, sample_until
from upgrades.choices import ProbeState, RunState
from upgrades.models import AvailabilityProbe, AvailabilitySample, Run

INTERVAL_MS = 250
BATCH_SECONDS = 1.0
# A claim not renewed for this long belongs to a worker that died.
STALE_AFTER = timedelta(seconds=15)


def probe_start(*, deployment: Deployment, path: str = "/", interval_ms: int = INTERVAL_MS) -> AvailabilityProbe:
    if not deployment.service_url:
        raise ValueError("The deployment has no service address to probe.")
    with transaction.atomic():
        probe = AvailabilityProbe.objects.create(
            deployment=deployment, url=deployment.service_url.rstrip("/") + path, interval_ms=interval_ms,
        )
        dispatch("upgrades.probe", probe.pk, about=f"probe:{probe.pk}")
    return probe


def probe_stop(*, probe: AvailabilityProbe, until_up_within: timedelta | None = None) -> bool:
    """Stop sampling; with `until_up_within`, once the service answers again, and at the latest
    after that long. False if it was already stopped."""
    running = AvailabilityProbe.objects.filter(pk=probe.pk, state=ProbeState.RUNNING)
    if until_up_within is not None:
        return running.filter(until_up_by__isnull=True).update(until_up_by=timezone.now() + until_up_within) == 1
    return running.update(state=ProbeState.STOPPED, stopped_at=timezone.now()) == 1


def probes_sweep() -> int:
    """Beat: the probe of a live run whose worker died (its claim not renewed for STALE_AFTER),
    or whose task message was lost, is sent to a worker again; the claim keeps a probe to one
    sampler even if two tasks arrive."""
    now = timezone.now()
    since = now - STALE_AFTER
    live_runs = Run.objects.filter(state__in=[RunState.RUNNING, RunState.PAUSED], probe__isnull=False)
    stale = list(AvailabilityProbe.objects.filter(
        Q(heartbeat_at__lt=since) | Q(heartbeat_at__isnull=True, started_at__lt=since),  # never claimed: message lost
        Q(pk__in=live_runs.values("probe_id")) | Q(until_up_by__gt=now),  # a live run's, or one sampling on after it
        state=ProbeState.RUNNING,
    ).values_list("pk", flat=True))
    for probe_id in stale:
        if dispatch_in_flight(f"probe:{probe_id}") is None:
            dispatch("upgrades.probe", probe_id, about=f"probe:{probe_id}")
    return len(stale)


def _claim(probe_id: int, owner: str) -> bool:
    now = timezone.now()
    claimed = AvailabilityProbe.objects.filter(pk=probe_id, state=ProbeState.RUNNING).filter(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - STALE_AFTER)
    ).update(owner=owner, heartbeat_at=now)
    return claimed == 1


def _store(probe_id: int, samples: queue.SimpleQueue) -> list[AvailabilitySample]:
    batch = []
    while True:
        try:
            sample: Sample = samples.get_nowait()
        except queue.Empty:
            break
        batch.append(AvailabilitySample(probe_id=probe_id, at=sample.at, up=sample.up,
                                        latency_ms=sample.latency_ms, status=sample.status))
    AvailabilitySample.objects.bulk_create(batch)
    return batch


def _done(probe_id: int, owner: str, batch: list[AvailabilitySample]) -> bool:
    """Renew the claim; True when the probe is to stop: stopped, claimed by another worker, or
    sampling after its run until the service answered again (or the bound passed)."""
    now = timezone.now()
    mine = AvailabilityProbe.objects.filter(pk=probe_id, state=ProbeState.RUNNING, owner=owner)
    if mine.update(heartbeat_at=now) != 1:
        return True  # stopped, or (after a long stall) claimed by another worker
    until = mine.values_list("until_up_by", flat=True).first()
    if until is not None and (now >= until or (batch and batch[-1].up)):
        mine.update(state=ProbeState.STOPPED, stopped_at=now)
        return True
    return False


def probe_run(*, probe_id: int) -> int:
    """Sample until the probe is stopped; the number of samples stored. Runs in a worker."""
    owner = uuid.uuid4().hex
    if not _claim(probe_id, owner):
        return 0  # stopped already, or another worker holds a fresh claim: that one samples
    probe = AvailabilityProbe.objects.get(pk=probe_id)
    samples: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()
    sampler = threading.Thread(
        target=lambda: asyncio.run(sample_until(url=probe.url, interval=probe.interval_ms / 1000, put=samples.put, stop=stop)),
        name=f"probe {probe_id}", daemon=True,
    )
    sampler.start()
    stored = 0
    try:
        while True:
            time.sleep(BATCH_SECONDS)
            batch = _store(probe_id, samples)
            stored += len(batch)
            if _done(probe_id, owner, batch):
                break
    finally:
        stop.set()
        sampler.join(timeout=5)
        stored += len(_store(probe_id, samples))
    return stored
