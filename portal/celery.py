import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Every periodic task of the portal sent through Redis is declared here, in one place. The
# sweeps a live run depends on (stale steps, stranded runs, stale probes) run in the dispatcher
# (`manage.py dispatcher`), which needs neither Redis nor a worker to notice them.
app.conf.beat_schedule = {
    "notices-sweep": {"task": "portal.notices_sweep", "schedule": 30.0},
    "webhooks-sweep": {"task": "portal.webhooks_sweep", "schedule": 30.0},
    "window-reminders": {"task": "scheduling.reminders_sweep", "schedule": 300.0},
    "cloud-notices": {"task": "scheduling.cloud_notices_sweep", "schedule": 300.0},
    "failures-escalate": {"task": "upgrades.failures_escalate", "schedule": 60.0},
    "status-starting-soon": {"task": "scheduling.status_starting_soon_sweep", "schedule": 60.0},
}


@task_prerun.connect
@task_postrun.connect
def _connections_as_for_a_request(task=None, **kwargs) -> None:
    """A task begins and ends as Django's requests do: a database connection that failed, or that
    settings do not keep (CONN_MAX_AGE), is closed; with DATABASE_POOL it goes back to the pool.
    Celery's own per-task close is off (CELERY_DB_REUSE_MAX): under prefork it closed the whole
    pool at every task, so that each step's task opened a pool and a connection afresh."""
    from django.db import close_old_connections

    if task is not None and getattr(task.request, "is_eager", False):
        return  # run inline by its caller, inside the caller's transaction: not a task's own
    close_old_connections()
