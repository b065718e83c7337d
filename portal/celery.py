import os

from celery import Celery

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
