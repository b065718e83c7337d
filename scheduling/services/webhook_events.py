"""What the outgoing webhooks hear (portal.webhooks): a window scheduled, moved or cancelled, and
its run started, paused, completed, rolled back or aborted. Each is published inside the
transaction of the move that causes it, under a key naming the cause once, so a move retried or
re-triggered delivers nothing twice.

The payload's `data` (docs/webhooks.md) names the organisation, the deployment, the window (in
UTC) and the run, with the portal page to open.
"""

from django.conf import settings
from django.urls import reverse

from portal.choices import WebhookEvent
from portal.webhooks import webhook_publish
from scheduling.models import MaintenanceWindow
from upgrades.choices import RunState
from upgrades.models import Run

RUN_ENDS = {RunState.COMPLETED: WebhookEvent.RUN_COMPLETED, RunState.ROLLED_BACK: WebhookEvent.RUN_ROLLED_BACK,
            RunState.ABORTED: WebhookEvent.RUN_ABORTED}
ENDED_WORDS = {RunState.COMPLETED: "completed", RunState.ROLLED_BACK: "was rolled back",
               RunState.ABORTED: "was aborted"}


def _url(name: str, pk: int) -> str:
    return settings.SITE_URL.rstrip("/") + reverse(name, args=[pk])


def _data(window: MaintenanceWindow, *, summary: str, run: Run | None = None, **extra) -> dict:
    deployment = window.request.deployment
    organisation = deployment.organisation
    data = {
        "summary": summary,
        "organisation": {"slug": organisation.slug, "name": organisation.name},
        "deployment": {"id": deployment.pk, "name": deployment.name},
        "request": {"id": window.request_id, "url": _url("request-detail", window.request_id)},
        "window": {"id": window.pk, "purpose": window.purpose, "state": window.state,
                   "start": window.start.isoformat(), "end": window.end.isoformat()},
        "url": _url("run-live", run.pk) if run else _url("request-detail", window.request_id),
        **extra,
    }
    if run is not None:
        state = Run.objects.values_list("state", flat=True).get(pk=run.pk)  # as this transaction left it
        data["run"] = {"id": run.pk, "state": state, "from_version": run.from_version,
                       "to_version": run.to_version, "url": _url("run-live", run.pk)}
    return data


def _publish(window: MaintenanceWindow, *, key: str, event: str, summary: str, run: Run | None = None,
             **extra) -> None:
    webhook_publish(key=key, event=event, organisation=window.request.deployment.organisation,
                    data=_data(window, summary=summary, run=run, **extra))


def _what(window: MaintenanceWindow) -> str:
    return f"{'Prerequisite check' if window.purpose == 'check' else 'Maintenance window'} of " \
           f"{window.request.deployment.name}"


def window_announced(*, window: MaintenanceWindow, moved: bool) -> None:
    """A window confirmed (scheduled), or a confirmed window moved."""
    if window.move_of_id:
        return  # a proposed move: the window it would replace is the one announced
    event = WebhookEvent.WINDOW_MOVED if moved else WebhookEvent.WINDOW_SCHEDULED
    verb = "moved to" if moved else "scheduled for"
    _publish(window, key=f"window:{window.pk}:{event}:{window.sequence}", event=event,
             summary=f"{_what(window)} {verb} {window.start:%Y-%m-%d %H:%M} UTC")


def window_called_off(*, window: MaintenanceWindow) -> None:
    if window.move_of_id:
        return
    _publish(window, key=f"window:{window.pk}:cancelled:{window.sequence}", event=WebhookEvent.WINDOW_CANCELLED,
             summary=f"{_what(window)} on {window.start:%Y-%m-%d %H:%M} UTC is cancelled",
             reason=window.cancel_reason)


def run_began(*, run: Run, **_signal) -> None:
    """Receives `upgrades.signals.run_started`."""
    _publish(run.window, key=f"run:{run.pk}:started", event=WebhookEvent.RUN_STARTED, run=run,
             summary=f"The upgrade of {run.deployment.name} to {run.to_version} has started")


def run_paused(*, run: Run, reason: str, event: int, **_signal) -> None:
    """Receives `upgrades.signals.run_paused`: one delivery per pause (its live event's number)."""
    _publish(run.window, key=f"run:{run.pk}:paused:{event}", event=WebhookEvent.RUN_PAUSED, run=run,
             summary=f"The upgrade of {run.deployment.name}: {reason[0].lower()}{reason[1:]}", reason=reason)


def run_finished(*, run: Run, **_signal) -> None:
    """Receives `upgrades.signals.run_ended`."""
    state = Run.objects.values_list("state", flat=True).get(pk=run.pk)
    _publish(run.window, key=f"run:{run.pk}:ended", event=RUN_ENDS[state], run=run,
             summary=f"The upgrade of {run.deployment.name} to {run.to_version} {ENDED_WORDS[state]}")
