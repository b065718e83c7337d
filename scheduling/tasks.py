"""Beat's scheduling work; thin wrappers around services (schedules are in portal/celery.py)."""

from celery import shared_task

from scheduling.services.cloud import cloud_notices_enqueue
from scheduling.services.notices import reminders_enqueue
from scheduling.services.status_notices import starting_soon_enqueue


@shared_task(name="scheduling.reminders_sweep")
def reminders_sweep() -> int:
    """Reminders before each confirmed window (SCHEDULING_REMINDER_DAYS), once per window,
    time and recipient."""
    return reminders_enqueue()


@shared_task(name="scheduling.cloud_notices_sweep")
def cloud_notices_sweep() -> int:
    """S3: the two weeks' notice of every confirmed cloud window, exactly once."""
    return cloud_notices_enqueue()


@shared_task(name="scheduling.status_starting_soon_sweep")
def status_starting_soon_sweep() -> int:
    """A status page's subscribers hear "starting soon" before the service is at risk, once."""
    return starting_soon_enqueue()
