"""Measured availability (the report's "measured against announced"): a probe samples the
deployment's service address through its load balancer every 250 ms while it runs.

`probe_start` creates the probe and sends its task; the task (`probe_run`) claims the probe,
samples in a thread of its own and stores the samples in batches, renewing its claim at each
batch; `probe_stop` ends it at the next batch. A probe is sampled by one worker at a time: a
second one (a redelivered task) finds the claim fresh and leaves.
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

from portal.models import Deployment
from upgrades.availability import Sample, sample_until
from upgrades.choices import ProbeState, RunState
from upgrades.models import AvailabilityProbe, AvailabilitySample

INTERVAL_MS = 250
BATCH_SECONDS = 1.0
# A claim not renewed for this long belongs to a worker that died.
STALE_AFTER = timedelta(seconds=15)


def probe_start(*, deployment: Deployment, path: str = "/", interval_ms: int = INTERVAL_MS) -> AvailabilityProbe:
    if not deployment.service_url:
        raise ValueError("The deployment has no service address to probe.")
    from upgrades.tasks import probe_task

    with transaction.atomic():
        probe = AvailabilityProbe.objects.create(
            deployment=deployment, url=deployment.service_url.rstrip("/") + path, interval_ms=interval_ms,
        )
        transaction.on_commit(lambda: probe_task.delay(probe.pk))
    return probe


def probe_stop(*, probe: AvailabilityProbe) -> bool:
    """Stop sampling; False if it was already stopped."""
    changed = AvailabilityProbe.objects.filter(pk=probe.pk, state=ProbeState.RUNNING).update(
        state=ProbeState.STOPPED, stopped_at=timezone.now(),
    )
    return changed == 1


def probes_sweep() -> int:
    """Beat: the probe of a live run whose worker died (its claim not renewed for STALE_AFTER),
    or whose task message was lost, is sent to a worker again; the claim keeps a probe to one
    sampler even if two tasks arrive."""
    from upgrades.models import Run
    from upgrades.tasks import probe_task

    since = timezone.now() - STALE_AFTER
    live_runs = Run.objects.filter(state__in=[RunState.RUNNING, RunState.PAUSED], probe__isnull=False)
    stale = list(AvailabilityProbe.objects.filter(
        Q(heartbeat_at__lt=since) | Q(heartbeat_at__isnull=True, started_at__lt=since),  # never claimed: message lost
        state=ProbeState.RUNNING, pk__in=live_runs.values("probe_id"),
    ).values_list("pk", flat=True))
    for probe_id in stale:
        probe_task.delay(probe_id)
    return len(stale)


def _claim(probe_id: int, owner: str) -> bool:
    now = timezone.now()
    claimed = AvailabilityProbe.objects.filter(pk=probe_id, state=ProbeState.RUNNING).filter(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - STALE_AFTER)
    ).update(owner=owner, heartbeat_at=now)
    return claimed == 1


def _store(probe_id: int, samples: queue.SimpleQueue) -> int:
    batch = []
    while True:
        try:
            sample: Sample = samples.get_nowait()
        except queue.Empty:
            break
        batch.append(AvailabilitySample(probe_id=probe_id, at=sample.at, up=sample.up,
                                        latency_ms=sample.latency_ms, status=sample.status))
    AvailabilitySample.objects.bulk_create(batch)
    return len(batch)


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
            stored += _store(probe_id, samples)
            renewed = AvailabilityProbe.objects.filter(pk=probe_id, state=ProbeState.RUNNING, owner=owner).update(
                heartbeat_at=timezone.now(),
            )
            if renewed != 1:
                break  # stopped, or (after a long stall) claimed by another worker
    finally:
        stop.set()
        sampler.join(timeout=5)
        stored += _store(probe_id, samples)
    return stored
