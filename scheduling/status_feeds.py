"""A status page's news as an Atom feed and as a calendar (.ics, for webcal subscriptions).

The calendar keeps each window's invite UID (scheduling.invites) and its SEQUENCE, raised by
every move and by the cancellation, so a subscribed calendar moves the entry and marks it
cancelled. Times are in the organisation's zone with its VTIMEZONE.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.utils import feedgenerator
from icalendar import Event

from scheduling.calendar_feeds import feed_calendar
from scheduling.selectors_status import Maintenance, Status


def _summary(status: Status, maintenance: Maintenance) -> str:
    name = status.page.service_name
    if maintenance.cancelled:
        return f"Cancelled: maintenance of {name}"
    return f"Maintenance of {name}"


def _description(maintenance: Maintenance) -> str:
    lines = list(maintenance.impact)
    if maintenance.cancelled:
        lines.insert(0, "This maintenance is cancelled: the service is not affected then.")
    lines += [f"{update.at.astimezone(ZoneInfo(maintenance.zone)):%H:%M}: {update.text}" for update in maintenance.updates]
    if maintenance.outcome:
        lines.append(maintenance.outcome + ".")
    return "\n".join(lines)


def _local_span(maintenance: Maintenance) -> str:
    zone = ZoneInfo(maintenance.zone)
    start, end = maintenance.start.astimezone(zone), maintenance.end.astimezone(zone)
    return f"{start:%A} {start.day} {start:%B %Y}, {start:%H:%M} to {end:%H:%M} {end.tzname()} ({maintenance.zone})"


def status_atom(*, status: Status, page_url: str, feed_url: str) -> str:
    feed = feedgenerator.Atom1Feed(
        title=f"Maintenance of {status.page.service_name}", link=page_url, feed_url=feed_url,
        description=f"Planned maintenance of {status.page.service_name}", language="en",
    )
    for maintenance in [*status.upcoming, *status.history]:
        feed.add_item(
            title=f"{_summary(status, maintenance)}: {_local_span(maintenance)}", link=page_url,
            description=_description(maintenance), unique_id=f"urn:uuid:{maintenance.uid}",
            updateddate=maintenance.changed_at, pubdate=maintenance.changed_at,
        )
    return feed.writeString("utf-8")


def status_ics(*, status: Status, now: datetime) -> str:
    zone = ZoneInfo(status.zone)
    events = []
    for maintenance in [*status.upcoming, *status.history]:
        event = Event.new(
            uid=maintenance.calendar_uid, sequence=maintenance.sequence, stamp=now,
            start=maintenance.start.astimezone(zone), end=maintenance.end.astimezone(zone),
            summary=_summary(status, maintenance), description=_description(maintenance),
        )
        event.add("status", "CANCELLED" if maintenance.cancelled else "CONFIRMED")
        event.add("transp", "TRANSPARENT")
        events.append(event)
    name = status.page.service_name
    return feed_calendar(name=f"Maintenance of {name}", description=f"Planned maintenance of {name}",
                         events=events).to_ical().decode()
