from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Scheduling"

    def ready(self):
        from scheduling.services import lifecycle
        from upgrades.signals import run_ended

        # An upgrade's run has ended: its window is completed, in the same transaction.
        run_ended.connect(lifecycle.run_closed, dispatch_uid="scheduling.run_closed")
