"""What a window's changes tell people, written to the outbox (portal.notices) inside the
transaction of the change: calendar invites, cancellations, requests for support's
confirmation, and the reminders before the window.

The outbox sends one notice per (key, recipient) once. The keys say what happened to which
version of the window:

    window:<pk>:invite:<sequence>        the calendar entry (METHOD:REQUEST) at that version
    window:<pk>:cancel:<sequence>        its removal (METHOD:CANCEL)
    window:<pk>:requested:<sequence>     support is asked to confirm out-of-hours cover (S7)
    window:<pk>:awaiting:<sequence>      the customer is told it waits for that
    window:<pk>:declined:<sequence>      a requested move is declined: the window stays
    window:<pk>:reminder:<days>d:<start> the reminder <days> before that start

so a re-trigger of the same change never mails twice, while a reschedule (a new SEQUENCE, a
new start) mails again.
"""

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.db.models import Min
from django.urls import reverse
from django.utils import timezone

from portal import recipients
from portal.choices import Role
from portal.models import Notice, User
from portal.notices import notice_enqueue
from scheduling.announcement import users_notice
from scheduling.choices import Purpose, WindowState
from scheduling.invites import CANCEL, REQUEST, invite_attachment, invite_summary
from scheduling.models import Engineer, MaintenanceWindow
from scheduling.services import status_notices, webhook_events


def _topic(window: MaintenanceWindow) -> str:
    return f"scheduling.maintenancewindow:{window.pk}"


def _key(window: MaintenanceWindow, kind: str) -> str:
    return f"window:{window.pk}:{kind}:{window.sequence}"


def _link(window: MaintenanceWindow) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("request-detail", args=[window.request_id])


def _change_line(window: MaintenanceWindow) -> list[str]:
    """Where the customer's people move or cancel their upgrade window: its page (after logging
    in), up to the cut-off."""
    if window.purpose != Purpose.UPGRADE or window.request.deployment.organisation.is_cloud:
        return []
    url = settings.SITE_URL.rstrip("/") + reverse("window-detail", args=[window.move_of_id or window.pk])
    hours = settings.SCHEDULING_CUSTOMER_CUTOFF_HOURS
    return [f"To move or cancel it (up to {hours} hours before it starts), log in to the portal: {url}"]


def people_of(window: MaintenanceWindow) -> dict[str, str]:
    """Who is told about the window, each with the zone their times are written in: every
    contact of the organisation (all roles, S10; portal users among them at their contact's
    address, `portal.recipients`), and the window's engineer on their home clock."""
    people = recipients.contacts_of(window.request.deployment.organisation_id)
    engineer = window.engineer
    home = Engineer.objects.filter(user=engineer).values_list("time_zone", flat=True).first()
    people[engineer.email.lower()] = home or engineer.time_zone
    return people


def _invited(window: MaintenanceWindow) -> set[str]:
    """Everybody who was ever sent this window's calendar entry."""
    return set(
        Notice.objects.filter(topic=_topic(window), key__startswith=f"window:{window.pk}:invite:")
        .values_list("recipient", flat=True)
    )


def _when(moment: datetime, zone: str) -> str:
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M} {local.tzname()}"


def _span(window: MaintenanceWindow, zone: str) -> str:
    end = window.end.astimezone(ZoneInfo(zone))
    return f"{_when(window.start, zone)} to {end:%H:%M} ({zone})"


def _enqueue_by_zone(*, window: MaintenanceWindow, key: str, people: dict[str, str], subject: str,
                     body_in: Callable[[str, bool], str], attachments: list[dict] | None = None) -> list[Notice]:
    """One cause, one key: each recipient reads the times on their own clock, and the
    customer's people (not the engineer) get what is meant for the customer."""
    groups: dict[tuple[str, bool], list[str]] = defaultdict(list)
    engineer = window.engineer.email.lower()
    for email, zone in people.items():
        groups[zone, email != engineer].append(email)
    created = []
    for (zone, customer), addresses in sorted(groups.items()):
        created += notice_enqueue(
            key=key, topic=_topic(window), recipients=addresses, subject=subject, body=body_in(zone, customer),
            attachments=attachments,
        )
    return created


def _forwardable(window: MaintenanceWindow, zone: str) -> list[str]:
    """The notice for the service users as the window stands (its cancellation, once cancelled)."""
    notice = users_notice(window=window, zone=zone)
    if notice is None:
        return []
    return ["A notice for your service users, ready to forward:", "-" * 60, notice.body.rstrip(), "-" * 60]


def _organisation(window: MaintenanceWindow) -> str:
    return window.request.deployment.organisation.name


def window_confirmed(*, window: MaintenanceWindow, was: DateTimeTZRange | None = None) -> None:
    """The window is confirmed, or a confirmed window moved (from `was`): every contact and the
    engineer get the calendar entry at its current SEQUENCE. Whoever had an earlier version but
    is no longer involved (an engineer replaced by the move, a contact removed) gets its
    cancellation, at the time they had."""
    status_notices.window_announced(window=window)
    people = people_of(window)
    moved = window.sequence > 0 and _invited(window)
    webhook_events.window_announced(window=window, moved=bool(moved))
    what = _what(window)
    verb = "moved" if moved else "confirmed"

    def body_in(zone: str, customer: bool) -> str:
        lines = [
            f"The {what} of {window.request.deployment.name} is {verb}: {_span(window, zone)}.",
            f"Engineer: {window.engineer.full_name}.",
            "The attached calendar entry" + (" replaces the earlier one." if moved else " adds it to your calendar."),
            *(_forwardable(window, zone) if customer else []),
            *(_change_line(window) if customer else []),
            f"Details: {_link(window)}",
        ]
        return "\n\n".join(lines) + "\n"

    _enqueue_by_zone(
        window=window, key=_key(window, "invite"), people=people,
        subject=f"[{_organisation(window)}] {invite_summary(window)} {verb}",
        body_in=body_in,
        attachments=[invite_attachment(window=window, method=REQUEST, attendees=list(people))],
    )
    left = _invited(window) - set(people)
    if left:
        _cancel(
            window=window, people={email: window.request.deployment.organisation.time_zone for email in left},
            lines_in=lambda zone, _customer: [
                f"The {_what(window)} of {window.request.deployment.name} changed, and you are no longer part of it."
            ],
            period=was,
        )


def window_requested(*, window: MaintenanceWindow) -> None:
    """An out-of-hours window waits for support's confirmation (S7): support is asked to find
    staff, and the customer's contacts are told it is not confirmed yet."""
    organisation = window.request.deployment.organisation
    support = dict(User.objects.filter(is_active=True, role=Role.SUPPORT).values_list("email", "time_zone"))
    _enqueue_by_zone(
        window=window, key=_key(window, "requested"), people=support,
        subject=f"[{organisation.name}] Out-of-hours window to confirm: {window.request.deployment.name}",
        body_in=lambda zone, _customer: "\n\n".join([
            f"{organisation.name} asks for an out-of-hours maintenance window (S7): {_span(window, zone)}.",
            f"Engineer held for it: {window.engineer.full_name}.",
            "Confirm it once staff are available for that time, or reschedule it with the customer.",
            f"Details: {_link(window)}",
        ]) + "\n",
    )
    contacts = {email: zone for email, zone in people_of(window).items() if email != window.engineer.email.lower()}
    moved = window.move_of

    def awaiting(zone: str, _customer: bool) -> str:
        if moved is not None:
            lines = [
                f"Your maintenance window of {window.request.deployment.name} is asked to move to {_span(window, zone)}.",
                "That time is outside support hours, so it waits for support to confirm that staff are available. "
                f"Until then your window stays booked as confirmed: {_span(moved, zone)}. "
                "You will receive the updated calendar invite if the move is confirmed.",
            ]
        else:
            lines = [
                f"Your maintenance window of {window.request.deployment.name} is requested for {_span(window, zone)}.",
                "It is outside support hours, so it waits for support to confirm that staff are available. "
                "You will receive the calendar invite once it is confirmed.",
            ]
        return "\n\n".join([*lines, *_change_line(window), f"Details: {_link(window)}"]) + "\n"

    _enqueue_by_zone(
        window=window, key=_key(window, "awaiting"), people=contacts,
        subject=f"[{organisation.name}] Out-of-hours {'move' if moved else 'window'} requested: "
                f"{window.request.deployment.name}",
        body_in=awaiting,
    )


def window_move_declined(*, window: MaintenanceWindow) -> None:
    """A requested move out of hours is declined (or withdrawn): the customer's contacts are
    told that their window stays where it was confirmed."""
    moved = window.move_of
    contacts = {email: zone for email, zone in people_of(moved).items() if email != moved.engineer.email.lower()}
    _enqueue_by_zone(
        window=window, key=_key(window, "declined"), people=contacts,
        subject=f"[{_organisation(window)}] Move not confirmed: {window.request.deployment.name}",
        body_in=lambda zone, _customer: "\n\n".join([
            f"The move of your maintenance window of {window.request.deployment.name} to {_span(window, zone)} "
            "was not confirmed.",
            f"Reason: {window.cancel_reason}" if window.cancel_reason else "",
            f"Your window stays as confirmed: {_span(moved, zone)}.",
            f"Details: {_link(moved)}",
        ]).replace("\n\n\n\n", "\n\n") + "\n",
    )


def _cancel(*, window: MaintenanceWindow, people: dict[str, str], lines_in,
            period: DateTimeTZRange | None = None) -> None:
    _enqueue_by_zone(
        window=window, key=_key(window, "cancel"), people=people,
        subject=f"[{_organisation(window)}] Cancelled: {invite_summary(window)}",
        body_in=lambda zone, customer: "\n\n".join([
            *lines_in(zone, customer),
            "The attached cancellation removes it from your calendar.",
            f"Details: {_link(window)}",
        ]) + "\n",
        attachments=[invite_attachment(window=window, method=CANCEL, attendees=list(people), period=period)],
    )


def _what(window: MaintenanceWindow) -> str:
    return "prerequisite check" if window.purpose == Purpose.CHECK else "maintenance window"


def window_cancelled(*, window: MaintenanceWindow) -> None:
    """A confirmed window is cancelled: calendars remove the entry. Everybody who had it is
    told, and the people of the window now."""
    status_notices.window_called_off(window=window)
    webhook_events.window_called_off(window=window)
    people = people_of(window)
    home = window.request.deployment.organisation.time_zone
    people |= {email: home for email in _invited(window) - set(people)}
    name = window.request.deployment.name

    def lines_in(zone: str, customer: bool) -> list[str]:
        reason = f"Reason: {window.cancel_reason}" if window.cancel_reason else "It was cancelled."
        return [f"The {_what(window)} of {name} on {_span(window, zone)} is off.", reason,
                *(_forwardable(window, zone) if customer else [])]

    _cancel(window=window, people=people, lines_in=lines_in)


def _due(now: datetime) -> list[tuple[MaintenanceWindow, int]]:
    """(window, days) of every reminder due now: the window is confirmed and starts within
    `days` (the smallest such count), and its calendar entry went out before that point (a
    window confirmed 3 days ahead is not reminded "7 days before": the invite just said it)."""
    days_list = sorted(set(settings.SCHEDULING_REMINDER_DAYS))
    if not days_list:
        return []
    windows = list(
        MaintenanceWindow.objects.filter(
            state=WindowState.CONFIRMED, purpose=Purpose.UPGRADE,
            period__startswith__gt=now, period__startswith__lte=now + timedelta(days=days_list[-1]),
        ).select_related("request__deployment__organisation", "request__release", "engineer")
    )
    invited = dict(
        Notice.objects.filter(key__in=[_key(window, "invite") for window in windows])
        .values("key").annotate(first=Min("created_at")).values_list("key", "first")
    )
    due = []
    for window in windows:
        # Only the nearest reminder: after a pause of beat, "7 days before" is stale once
        # "1 day before" is due.
        days = next(days for days in days_list if window.start - timedelta(days=days) <= now)
        told = invited.get(_key(window, "invite"))
        if told is None or told < window.start - timedelta(days=days):
            due.append((window, days))
    return due


def _in_days(days: int) -> str:
    return "tomorrow" if days == 1 else f"in {days} days"


def reminders_enqueue(*, now: datetime | None = None) -> int:
    """Reminders before each confirmed upgrade window (SCHEDULING_REMINDER_DAYS), once per
    window, day count, start and recipient; returns how many notices were written. Beat
    firing twice finds them written; a window moved to a new start is reminded afresh."""
    now = now or timezone.now()
    count = 0
    for window, days in _due(now):

        def body_in(zone: str, customer: bool, window=window, days=days) -> str:
            return "\n\n".join([
                f"Reminder: the maintenance window of {window.request.deployment.name} is {_in_days(days)}: "
                f"{_span(window, zone)}.",
                f"Engineer: {window.engineer.full_name}. The lead contact should be available for the whole window.",
                *(_forwardable(window, zone) if customer else []),
                f"Details: {_link(window)}",
            ]) + "\n"

        count += len(_enqueue_by_zone(
            window=window, key=f"window:{window.pk}:reminder:{days}d:{window.start.isoformat()}",
            people=people_of(window),
            subject=f"[{_organisation(window)}] Reminder: {invite_summary(window)} {_in_days(days)}",
            body_in=body_in,
        ))
    return count
