from celery import shared_task

from upgrades.services import availability, preflight


@shared_task(name="upgrades.preflight")
def preflight_task(request_id: int) -> str:
    return preflight.preflight_run(request_id=request_id)


@shared_task(name="upgrades.probe")
def probe_task(probe_id: int) -> int:
    return availability.probe_run(probe_id=probe_id)
