"""Calendar invites of a maintenance window (.ics, RFC 5545/5546), built with icalendar.

A window is one calendar entry for its whole life: its UID never changes, and SEQUENCE (raised
by the services on every reschedule and on cancellation) tells calendars which message is the
newest, so a reschedule moves the entry and a cancellation removes it. Times are written in the
organisation's own zone with its VTIMEZONE, so the entry shows the clock the customer agreed to
even in a calendar set to another zone.
"""

from datetime import datetime, timedelta, tzinfo
from email.utils import parseaddr
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.urls import reverse
from icalendar import Calendar, Event, vCalAddress

from scheduling.choices import Purpose, WindowState
from scheduling.models import MaintenanceWindow
from upgrades.impact import impact_of

PRODID = "-//Upgrade portal//Maintenance windows//EN"
REQUEST, CANCEL = "REQUEST", "CANCEL"


def invite_uid(window: MaintenanceWindow) -> str:
    return f"{window.uid}@upgrade-portal"


def invite_summary(window: MaintenanceWindow) -> str:
    request = window.request
    if window.purpose == Purpose.CHECK:
        return f"Prerequisite check: {request.deployment.name} before {request.release.version}"
    return f"Maintenance: {request.deployment.name} upgrade to {request.release.version}"


def invite_description(window: MaintenanceWindow) -> str:
    request = window.request
    deployment = request.deployment
    link = settings.SITE_URL.rstrip("/") + reverse("request-detail", args=[request.pk])
    if window.purpose == Purpose.CHECK:
        lines = [
            f"The prerequisite check of {deployment.name} before its upgrade to {request.release.version}, "
            f"with {window.engineer.full_name}.",
            "Please have the application administrator and remote access ready.",
        ]
    else:
        impact = impact_of(
            kind=request.kind, servers=deployment.servers.count(),
            load_balanced_with_health_checks=deployment.has_load_balancer and deployment.health_checks,
        )
        lines = [
            f"Upgrade of {deployment.name} from {request.from_version} to {request.release.version} "
            f"({request.get_kind_display().lower()}), with {window.engineer.full_name}.",
            impact.summary(),
            "The lead contact should be available for the whole window.",
        ]
    if window.state == WindowState.CANCELLED and window.cancel_reason:
        lines.append(f"Cancelled: {window.cancel_reason}")
    return "\n\n".join([*lines, f"Details: {link}"])


def _address(email: str, name: str = "", **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    if name:
        address.params["CN"] = name
    address.params.update(params)
    return address


def _status(window: MaintenanceWindow, cancelled: bool) -> str:
    if cancelled or window.state == WindowState.CANCELLED:
        return "CANCELLED"
    if window.state in (WindowState.CONFIRMED, WindowState.COMPLETED):
        return "CONFIRMED"
    # Not yet confirmed (an out-of-hours request, a cloud proposal): the time is pencilled in.
    return "TENTATIVE"


def window_event(window: MaintenanceWindow, *, stamp: datetime, zone: tzinfo, cancelled: bool = False,
                 period: DateTimeTZRange | None = None, summary: str = "") -> Event:
    """The window's calendar entry, the same in a mailed invite and in a subscribed feed: its
    UID for life, its SEQUENCE, its times written in `zone`, and its STATUS (CANCELLED once
    cancelled, or when `cancelled` says so: the removal of a time the window left)."""
    period = period or window.period
    event = Event.new(
        uid=invite_uid(window),
        sequence=window.sequence,
        stamp=stamp,
        start=period.lower.astimezone(zone),
        end=period.upper.astimezone(zone),
        summary=summary or invite_summary(window),
        description=invite_description(window),
        location=window.request.deployment.name,
    )
    event.add("status", _status(window, cancelled))
    event.add("transp", "OPAQUE")
    return event


def invite_ics(*, window: MaintenanceWindow, method: str, attendees: list[str], now: datetime | None = None,
               period: DateTimeTZRange | None = None) -> str:
    """The .ics text of `window` for `method` (REQUEST to add or move it, CANCEL to remove it),
    at the window's time, or at `period`: the time a cancelled entry had in its reader's calendar
    before the window moved."""
    zone = ZoneInfo(window.request.deployment.organisation.time_zone)
    period = period or window.period
    organiser_name, organiser_email = parseaddr(settings.DEFAULT_FROM_EMAIL)
    event = window_event(window, stamp=now or datetime.now(tz=ZoneInfo("UTC")), zone=zone,
                         cancelled=method == CANCEL, period=period)
    event.add("organizer", _address(organiser_email, organiser_name))
    for email in sorted(set(attendees)):
        event.add("attendee", _address(email, ROLE="REQ-PARTICIPANT", PARTSTAT="NEEDS-ACTION", RSVP="FALSE"))
    calendar = Calendar.new(prodid=PRODID, method=method, subcomponents=[event])
    del calendar["UID"]  # a random UID of the file itself would only be confused with the event's
    # Only the rules around the window: a VTIMEZONE of every transition since 1970 is noise.
    calendar.add_missing_timezones(
        first_date=(period.lower - timedelta(days=366)).date(), last_date=(period.upper + timedelta(days=366)).date()
    )
    return calendar.to_ical().decode()


def invite_attachment(*, window: MaintenanceWindow, method: str, attendees: list[str],
                      period: DateTimeTZRange | None = None) -> dict:
    """The invite as an outbox attachment (portal.models.Notice.attachments)."""
    return {
        "name": "cancel.ics" if method == CANCEL else "invite.ics",
        "content_type": f"text/calendar; method={method}",
        "content": invite_ics(window=window, method=method, attendees=attendees, period=period),
    }
