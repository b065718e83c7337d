import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Every periodic task of the portal is declared here, in one place.
app.conf.beat_schedule = {
    "notices-sweep": {"task": "portal.notices_sweep", "schedule": 30.0},
    "window-reminders": {"task": "scheduling.reminders_sweep", "schedule": 300.0},
    "cloud-notices": {"task": "scheduling.cloud_notices_sweep", "schedule": 300.0},
    "steps-sweep": {"task": "upgrades.steps_sweep", "schedule": 15.0},
    "probes-sweep": {"task": "upgrades.probes_sweep", "schedule": 15.0},
}
