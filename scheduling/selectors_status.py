"""What a deployment's public status page tells the customer's service users, read from the
windows and their runs. Nothing here names a server, an address, a version or a person: the
service is called by the name the customer chose, times are on the organisation's clock."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Prefetch
from django.http import Http404
from django.utils import timezone

from portal import access
from portal.models import Deployment, User
from scheduling.announcement import window_impact
from scheduling.choices import WindowState
from scheduling.invites import invite_uid
from scheduling.models import MaintenanceWindow, StatusPage, StatusSubscriber
from upgrades.choices import RunState, StepProcedure
from upgrades.models import Message, Run
from upgrades.procedure import Phase
from upgrades.selectors_runs import availability_of

HISTORY_LENGTH = 10

LIVE_WORDS = {
    Phase.PREPARATION: "Maintenance under way: the service is not affected yet",
    Phase.AT_RISK: "Service at risk",
    Phase.LIMITED: "Service at risk: restored with limited capacity",
    Phase.FULL: "Restored",
}
OUTCOME_WORDS = {
    RunState.COMPLETED: "Completed",
    RunState.ROLLED_BACK: "Completed: the service was put back as it was before",
    RunState.ABORTED: "Stopped: the service was put back in use",
}


@dataclass(frozen=True)
class Update:
    """What the engineer told the service users during the maintenance."""

    at: datetime
    text: str


@dataclass(frozen=True)
class Maintenance:
    """One maintenance window as the service users see it."""

    uid: str  # the window's, for the feed
    calendar_uid: str  # the same as its calendar invite's
    sequence: int
    start: datetime
    end: datetime
    zone: str
    state: str  # WindowState
    moved: bool
    impact: list[str]
    live: str = ""
    outcome: str = ""
    measured_downtime: timedelta | None = None
    changed_at: datetime | None = None
    updates: list[Update] = field(default_factory=list)

    @property
    def cancelled(self) -> bool:
        return self.state == WindowState.CANCELLED

    @property
    def measured(self) -> str:
        """The downtime measured through the load balancer, in words ("" when not measured)."""
        if self.measured_downtime is None:
            return ""
        if not self.measured_downtime:
            return "Measured downtime: none, the service stayed available throughout."
        return f"Measured downtime: {duration_words(self.measured_downtime)}."


@dataclass(frozen=True)
class Status:
    page: StatusPage
    zone: str
    upcoming: list[Maintenance] = field(default_factory=list)
    history: list[Maintenance] = field(default_factory=list)

    @property
    def under_way(self) -> Maintenance | None:
        return next((maintenance for maintenance in self.upcoming if maintenance.live), None)


def duration_words(length: timedelta) -> str:
    minutes, seconds = divmod(int(length.total_seconds()), 60)
    if not minutes:
        return f"{seconds} seconds"
    return f"{minutes} minute{'s' if minutes != 1 else ''}" + (f" {seconds} seconds" if seconds else "")


def clock(moment: datetime, zone: str) -> str:
    """A time on the organisation's clock, with the zone's abbreviation."""
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%H:%M} {local.tzname()}"


def impact_lines(window: MaintenanceWindow, zone: str) -> list[str]:
    """S6's at-risk and downtime times, as the notice for service users words them."""
    impact = window_impact(window)
    span = f"from {clock(window.start, zone)} to {clock(window.end, zone)}"
    if impact.whole_window == "unavailable":
        return [f"Service unavailable for the whole window, {span}."]
    if impact.whole_window == "intermittent":
        return [f"Service intermittent for the whole window, {span}: please retry if it stops responding."]
    lines = [f"Service at risk from {clock(window.end - impact.at_risk, zone)} to {clock(window.end, zone)}."]
    if impact.downtime and window.downtime:
        lines.append(f"Downtime from about {clock(window.downtime.lower, zone)} "
                     f"to about {clock(window.downtime.upper, zone)}.")
    else:
        lines.append("No downtime expected.")
    return lines


def expected_back(run: Run) -> datetime | None:
    """When the downtime's last step is planned to end."""
    step = run.steps.filter(procedure=StepProcedure.UPGRADE, phase=Phase.DOWNTIME).order_by("-position").first()
    return step.planned_end if step else None


def live_words(run: Run, zone: str) -> str:
    if run.phase == Phase.DOWNTIME:
        back = expected_back(run)
        return f"Downtime, expected back at {clock(back, zone)}" if back else "Downtime"
    return LIVE_WORDS.get(run.phase, LIVE_WORDS[Phase.AT_RISK])


def _run_of(window: MaintenanceWindow) -> Run | None:
    try:
        return window.run
    except Run.DoesNotExist:
        return None


def _updates(run: Run | None) -> list[Update]:
    if run is None:
        return []
    notes = getattr(run, "public_notes", None)
    if notes is None:
        notes = run.messages.filter(public=True)
    return [Update(at=note.written_at, text=note.body) for note in notes]


def maintenance_of(window: MaintenanceWindow, zone: str) -> Maintenance:
    run = _run_of(window)
    live = outcome = ""
    measured = None
    updates = _updates(run)
    if run is not None and run.state in (RunState.RUNNING, RunState.PAUSED):
        live = live_words(run, zone)
    elif run is not None and run.state in OUTCOME_WORDS:
        outcome = OUTCOME_WORDS[run.state]
        availability = availability_of(run)
        if availability.samples:
            measured = timedelta(seconds=round(availability.down_seconds))
    return Maintenance(
        uid=str(window.uid), calendar_uid=invite_uid(window), sequence=window.sequence, start=window.start, end=window.end, zone=zone,
        state=window.state, moved=window.sequence > 0 and window.state != WindowState.CANCELLED,
        impact=impact_lines(window, zone), live=live, outcome=outcome, measured_downtime=measured,
        changed_at=max(moment for moment in (window.created_at, window.confirmed_at, window.cancelled_at,
                                             run and run.started_at, run and run.finished_at,
                                             updates and updates[-1].at) if moment),
        updates=updates,
    )


def _windows(deployment: Deployment):
    """The deployment's upgrade windows the service users are told of: confirmed ones (and what
    became of them), never a time still waiting for support nor a move not yet confirmed."""
    return (
        MaintenanceWindow.objects.upgrades()
        .filter(request__deployment=deployment, move_of__isnull=True,
                state__in=(WindowState.CONFIRMED, WindowState.COMPLETED, WindowState.CANCELLED))
        .exclude(state=WindowState.CANCELLED, confirmed_at__isnull=True)
        .select_related("request__deployment", "run")
        .prefetch_related(Prefetch("run__messages", queryset=Message.objects.filter(public=True),
                                   to_attr="public_notes"))
    )


def status_of(page: StatusPage, now: datetime | None = None) -> Status:
    """Coming and under-way maintenance (cancellations of a coming time included), then the
    history, newest first."""
    now = now or timezone.now()
    zone = page.deployment.organisation.time_zone
    windows = _windows(page.deployment)
    coming = windows.filter(period__endswith__gt=now).exclude(state=WindowState.COMPLETED).order_by("period")
    past = windows.exclude(pk__in=coming.values("pk")).order_by("-period")[:HISTORY_LENGTH]
    return Status(page=page, zone=zone, upcoming=[maintenance_of(window, zone) for window in coming],
                  history=[maintenance_of(window, zone) for window in past])


def status_page_public(*, token: str) -> StatusPage:
    """The page at `token`, if it is switched on; 404 for an old, wrong or switched-off address."""
    try:
        return StatusPage.objects.select_related("deployment__organisation").get(token=token, enabled=True)
    except StatusPage.DoesNotExist:
        raise Http404 from None


def status_page_of(*, deployment: Deployment) -> StatusPage | None:
    return StatusPage.objects.filter(deployment=deployment).first()


def may_manage_status_page(user: User, deployment: Deployment) -> bool:
    return access.may(user, "status_page.manage", organisation_id=deployment.organisation_id)


def subscriber_by_token(*, token: str) -> StatusSubscriber:
    try:
        return StatusSubscriber.objects.select_related("page__deployment__organisation").get(token=token)
    except StatusSubscriber.DoesNotExist:
        raise Http404 from None
