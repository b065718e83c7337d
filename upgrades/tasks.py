from celery import shared_task

from upgrades.services import preflight


@shared_task(name="upgrades.preflight")
def preflight_task(request_id: int) -> str:
    return preflight.preflight_run(request_id=request_id)
