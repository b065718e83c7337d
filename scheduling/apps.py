from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Scheduling"

    def ready(self):
        from portal import notices
        from scheduling.services import lifecycle, status_notices, webhook_events
        from upgrades.signals import run_ended, run_paused, run_started

        # An upgrade's run has ended: its window is completed, in the same transaction.
        run_ended.connect(lifecycle.run_closed, dispatch_uid="scheduling.run_closed")
        # The status pages' subscribers hear that maintenance began and ended.
        run_started.connect(status_notices.run_began, dispatch_uid="scheduling.status_run_began")
        run_ended.connect(status_notices.run_finished, dispatch_uid="scheduling.status_run_finished")
        # The organisations' and the vendor's webhooks hear the run's events.
        run_started.connect(webhook_events.run_began, dispatch_uid="scheduling.webhook_run_began")
        run_paused.connect(webhook_events.run_paused, dispatch_uid="scheduling.webhook_run_paused")
        run_ended.connect(webhook_events.run_finished, dispatch_uid="scheduling.webhook_run_finished")
        notices.HEADERS[status_notices.TOPIC] = status_notices.unsubscribe_headers
