"""What the subscribers of a status page are mailed, through the outbox (portal.notices), inside
the transaction of the change: the confirmation of their subscription, then (once confirmed)
each maintenance scheduled, moved, cancelled, started and ended, with the downtime measured.

Each subscriber gets their own notice (their own unsubscribe link), under the topic
`scheduling.statussubscriber:<pk>`, whose mails carry List-Unsubscribe and
List-Unsubscribe-Post (RFC 8058). The keys say what happened to which version of the window:

    status:subscriber:<pk>:confirm               the double opt-in
    status:<page>:window:<pk>:scheduled:<seq>    announced (moved: a later sequence)
    status:<page>:window:<pk>:cancelled:<seq>    called off
    status:<page>:window:<pk>:soon:<seq>         starting soon (STATUS_STARTING_SOON_MINUTES
                                                 before the service is at risk; beat)
    status:<page>:run:<pk>:started               the maintenance began
    status:<page>:run:<pk>:ended                 it ended, with the downtime measured
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from portal.models import Notice
from portal.notices import notice_enqueue
from scheduling.choices import Purpose, WindowState
from scheduling.models import MaintenanceWindow, StatusPage, StatusSubscriber
from scheduling.announcement import window_impact
from scheduling.selectors_status import clock, impact_lines, maintenance_of
from upgrades.choices import RunState
from upgrades.models import Run

TOPIC = "scheduling.statussubscriber"


def topic_of(subscriber: StatusSubscriber) -> str:
    return f"{TOPIC}:{subscriber.pk}"


def absolute_url(name: str, token: str) -> str:
    """The full address of a status page's or a subscription's URL `name`, as mails and feeds give it."""
    return settings.SITE_URL.rstrip("/") + reverse(name, args=[token])


def unsubscribe_url(subscriber: StatusSubscriber) -> str:
    return absolute_url("status-unsubscribe", subscriber.token)


def unsubscribe_headers(notice: Notice) -> dict[str, str]:
    """The headers of one-click unsubscription (RFC 8058) for a subscriber's notice."""
    subscriber = StatusSubscriber.objects.filter(pk=notice.topic.rsplit(":", 1)[1]).first()
    if subscriber is None:
        return {}
    return {"List-Unsubscribe": f"<{unsubscribe_url(subscriber)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def _day(moment: datetime, zone: str) -> str:
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%A} {local.day} {local:%B %Y}"


def _span(window: MaintenanceWindow, zone: str) -> str:
    start, end = (moment.astimezone(ZoneInfo(zone)) for moment in (window.start, window.end))
    return f"{_day(window.start, zone)}, {start:%H:%M} to {end:%H:%M} {end.tzname()} ({zone})"


def confirmation_send(*, subscriber: StatusSubscriber) -> None:
    page = subscriber.page
    notice_enqueue(
        key=f"status:subscriber:{subscriber.pk}:confirm", topic=topic_of(subscriber), recipients=[subscriber.email],
        subject=f"Confirm your subscription to maintenance news of {page.service_name}",
        body="\n\n".join([
            f"Someone, hopefully you, asked to be told by e-mail about maintenance of {page.service_name}.",
            f"To confirm, open this link: {absolute_url('status-confirm', subscriber.token)}",
            "If it was not you, ignore this mail: you will get nothing more.",
        ]) + "\n",
    )


def _tell(*, page: StatusPage, key: str, subject: str, lines: list[str]) -> None:
    """One notice per confirmed subscriber, each with their own way out."""
    page_url = absolute_url("status-page", page.token)
    for subscriber in page.subscribers.filter(confirmed_at__isnull=False):
        notice_enqueue(
            key=key, topic=topic_of(subscriber), recipients=[subscriber.email], subject=subject,
            body="\n\n".join([*lines, f"Status page: {page_url}",
                              f"To stop these mails: {unsubscribe_url(subscriber)}"]) + "\n",
        )


def _page_of(window: MaintenanceWindow) -> StatusPage | None:
    """The switched-on status page that announces `window`, if any."""
    if window.purpose != Purpose.UPGRADE or window.move_of_id:
        return None
    return StatusPage.objects.filter(deployment_id=window.request.deployment_id, enabled=True).first()


def window_announced(*, window: MaintenanceWindow) -> None:
    """A window confirmed (scheduled) or, once announced, moved to a new time."""
    page = _page_of(window)
    if page is None:
        return
    zone = page.deployment.organisation.time_zone
    told = Notice.objects.filter(key__startswith=f"status:{page.pk}:window:{window.pk}:scheduled:").exists()
    verb = "moved to" if told else "planned for"
    _tell(
        page=page, key=f"status:{page.pk}:window:{window.pk}:scheduled:{window.sequence}",
        subject=f"Maintenance of {page.service_name} {verb} {_day(window.start, zone)}",
        lines=[f"Maintenance of {page.service_name} is {verb} {_span(window, zone)}.",
               *impact_lines(window, zone)],
    )


def window_called_off(*, window: MaintenanceWindow) -> None:
    page = _page_of(window)
    if page is None or window.state != WindowState.CANCELLED:
        return
    zone = page.deployment.organisation.time_zone
    _tell(
        page=page, key=f"status:{page.pk}:window:{window.pk}:cancelled:{window.sequence}",
        subject=f"Maintenance of {page.service_name} on {_day(window.start, zone)} is cancelled",
        lines=[f"The maintenance of {page.service_name} planned for {_span(window, zone)} is cancelled: "
               "the service is not affected then."],
    )


def at_risk_start(window: MaintenanceWindow) -> datetime:
    """When the service users' service is first at risk (S6): the window's start when the whole
    window is affected, else the at-risk time before its end, as the notice words it."""
    impact = window_impact(window)
    return window.start if impact.whole_window else window.end - impact.at_risk


def starting_soon_enqueue(*, now: datetime | None = None) -> int:
    """Beat: "starting soon" to the subscribers of each confirmed window whose service is at risk
    within STATUS_STARTING_SOON_MINUTES, once per window and time (a moved window is told
    afresh); how many notices were written. Nothing once the run has started: "started" said it."""
    now = now or timezone.now()
    ahead = timedelta(minutes=settings.STATUS_STARTING_SOON_MINUTES)
    windows = MaintenanceWindow.objects.upgrades().filter(
        state=WindowState.CONFIRMED, move_of__isnull=True, period__endswith__gt=now,
        period__startswith__lte=now + ahead + timedelta(days=1),
    ).select_related("request__deployment__organisation")
    count = 0
    for window in windows:
        begins = at_risk_start(window)
        if not now < begins <= now + ahead or Run.objects.filter(window=window).exclude(state=RunState.SCHEDULED).exists():
            continue
        page = _page_of(window)
        if page is None:
            continue
        zone = page.deployment.organisation.time_zone
        key = f"status:{page.pk}:window:{window.pk}:soon:{window.sequence}"
        before = Notice.objects.filter(key=key).count()
        _tell(page=page, key=key, subject=f"Maintenance of {page.service_name} starts soon",
              lines=[f"Maintenance of {page.service_name} starts soon: the service is at risk from "
                     f"{clock(begins, zone)}.", *impact_lines(window, zone)])
        count += Notice.objects.filter(key=key).count() - before
    return count


def run_began(*, run: Run, **_signal) -> None:
    """Receives `upgrades.signals.run_started`."""
    page = _page_of(run.window)
    if page is None:
        return
    zone = page.deployment.organisation.time_zone
    _tell(
        page=page, key=f"status:{page.pk}:run:{run.pk}:started",
        subject=f"Maintenance of {page.service_name} has started",
        lines=[f"Maintenance of {page.service_name} has started ({_span(run.window, zone)}).",
               *impact_lines(run.window, zone)],
    )


def run_finished(*, run: Run, **_signal) -> None:
    """Receives `upgrades.signals.run_ended`: the maintenance is over, with what was measured."""
    page = _page_of(run.window)
    if page is None:
        return
    # Read afresh: the run's state just changed in this transaction.
    window = MaintenanceWindow.objects.select_related("run", "request__deployment").get(pk=run.window_id)
    maintenance = maintenance_of(window, page.deployment.organisation.time_zone)
    _tell(page=page, key=f"status:{page.pk}:run:{run.pk}:ended",
          subject=f"Maintenance of {page.service_name} is over",
          lines=[f"Maintenance of {page.service_name}: {maintenance.outcome.lower()}.",
                 *([maintenance.measured] if maintenance.measured else [])])
