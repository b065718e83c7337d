"""Calendars to subscribe to (webcal): a status page's for the customer's service users
(scheduling.status_feeds) and each person's own, of the windows that concern them.

A person's feed holds each window as the very entry its mailed invite carries
(`invites.window_event`: one UID for the window's life, its SEQUENCE raised by every move and
by the cancellation), so a calendar that has both the invite and the feed keeps one entry, and a
move or a cancellation replaces it. Times are in UTC: the feed spans organisations and zones,
and every calendar shows UTC times on the reader's own clock. The calendar carries no METHOD, so
each entry's DTSTAMP is when the window last changed (RFC 5545, 3.8.7.2).
"""

from collections.abc import Iterable
from datetime import UTC, timedelta

from icalendar import Calendar, Event, vDuration

from scheduling.invites import PRODID, invite_summary, window_event
from scheduling.models import MaintenanceWindow

# How often a subscribed calendar should fetch again: REFRESH-INTERVAL (RFC 7986) and Outlook's
# X-PUBLISHED-TTL. Google decides for itself (every few hours).
REFRESH = timedelta(hours=1)


def feed_calendar(*, name: str, description: str, events: Iterable[Event]) -> Calendar:
    """A calendar to subscribe to: its name and description (RFC 7986's NAME and DESCRIPTION, and
    the X-WR- ones older calendars read), how often to refresh it, and the time zones its events
    are written in."""
    calendar = Calendar.new(prodid=PRODID, name=name, description=description, refresh_interval=REFRESH)
    del calendar["UID"]  # a random UID would change the file's text at every fetch
    calendar["REFRESH-INTERVAL"].params["VALUE"] = "DURATION"  # RFC 7986 requires it
    calendar.add("X-PUBLISHED-TTL", vDuration(REFRESH))
    events = list(events)
    for event in events:
        calendar.add_component(event)
    if events:
        # Only the rules around the events: a VTIMEZONE of every transition since 1970 is noise.
        calendar.add_missing_timezones(
            first_date=(min(event.start for event in events) - timedelta(days=366)).date(),
            last_date=(max(event.end for event in events) + timedelta(days=366)).date(),
        )
    return calendar


def person_ics(*, name: str, windows: Iterable[MaintenanceWindow], organisations_named: bool) -> str:
    """The .ics text of a person's feed. Each window carries `revised_at` (its last change,
    `selectors_feeds.windows_concerning`), its entry's DTSTAMP. With `organisations_named` (the
    vendor's people, whose feed spans customers), each entry's summary starts with its customer."""
    events = [
        window_event(
            window, stamp=(window.revised_at or window.created_at).astimezone(UTC), zone=UTC,
            summary=f"{window.request.deployment.organisation.name}: {invite_summary(window)}"
            if organisations_named else "",
        )
        for window in windows
    ]
    description = "Maintenance windows and prerequisite checks of the upgrade portal that concern you."
    return feed_calendar(name=name, description=description, events=events).to_ical().decode()
