"""Reads for scheduling: the inputs of the slot engine, gathered from the database in a fixed
number of queries, and the free slots of one upgrade request."""

from collections import defaultdict
from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from django.conf import settings
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.shortcuts import get_object_or_404
from django.utils import timezone

from portal.choices import Role
from portal.models import Contact, Deployment, Organisation, Server, User
from portal.selectors import count_of, visible_to
from scheduling import slot_cache
from scheduling.calendars import Interval, WeeklyHours
from scheduling.choices import HOLDING_STATES, Purpose, WindowState
from scheduling.models import (
    Blackout, BusinessHours, Engineer, EngineerHours, LowUsageHours, MaintenanceWindow, SupportRegion, TimeOff,
)
from scheduling.plan import window_length
from scheduling.slots import EngineerCalendar, Slot, SlotQuery, free_slots
from upgrades.demo import LIVE_DEMO_NAME, LIVE_DEMO_ORGANISATION
from upgrades.models import Run, UpgradeRequest


# Windows people look back on as well as forward to: the booked ones and those done.
SHOWN_STATES = (*HOLDING_STATES, WindowState.COMPLETED)


def horizon() -> timedelta:
    return timedelta(days=settings.SCHEDULING_HORIZON_DAYS)


def length_of(*, upgrade: UpgradeRequest, purpose: str = Purpose.UPGRADE) -> timedelta:
    """How long the engineer's booking lasts: the whole window (S6), or the check (S2). The
    deployment's servers are counted here unless the request was read with their number
    (`request_for_booking`)."""
    if purpose == Purpose.CHECK:
        return timedelta(minutes=settings.SCHEDULING_CHECK_MINUTES)
    servers = getattr(upgrade, "server_count", None)
    return window_length(
        servers=upgrade.deployment.servers.count() if servers is None else servers,
        preparation=timedelta(minutes=settings.SCHEDULING_PREPARATION_MINUTES),
    )


def _weekly(zone: str, rows) -> WeeklyHours:
    spans = defaultdict(list)
    for row in rows:
        spans[row.weekday].append((row.starts, row.ends))
    return WeeklyHours(zone=zone, spans=dict(spans))


@lru_cache(maxsize=256)
def _public_holidays(country: str, subdivision: str, zone: str, years: tuple[int, ...]) -> tuple[Interval, ...]:
    """Each public holiday of a country (and subdivision) in `years`, as the whole local day.
    Kept per process: the calendar of a year does not change, and building it costs more
    than the rest of a slot query."""
    tz = ZoneInfo(zone)
    days = holidays.country_holidays(country, subdiv=subdivision or None, years=years)
    return tuple(
        Interval(datetime.combine(day, time(0), tzinfo=tz), datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz))
        for day in sorted(days)
    )


def _holidays(region: SupportRegion, start: datetime, end: datetime) -> list[Interval]:
    """The region's public holidays that meet [start, end)."""
    years = tuple(range(start.year, end.year + 1))
    return [
        interval for interval in _public_holidays(region.country, region.subdivision, region.time_zone, years)
        if interval.end > start and interval.start < end
    ]


def _interval(period: DateTimeTZRange) -> Interval:
    return Interval(period.lower, period.upper)


def slots_for(*, upgrade: UpgradeRequest, now: datetime | None = None, within: timedelta | None = None,
              purpose: str = Purpose.UPGRADE, exclude_window: MaintenanceWindow | None = None,
              earliest: datetime | None = None, length: timedelta | None = None) -> list[Slot]:
    """Free slots for booking this request's window (or its check), from tomorrow (or
    `earliest`) over the coming weeks. `exclude_window` is the window being moved: its own
    time counts as free. `length` is the window's (`length_of`), when the caller knows it.

    Computed once per state of the calendar and kept (`scheduling.slot_cache`): everyone who
    asks about the same customer, length and horizon meanwhile shares the answer."""
    now = now or timezone.now()
    organisation = upgrade.deployment.organisation
    start = max(earliest or now, now + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    end = start + (within or horizon())
    length = length or length_of(upgrade=upgrade, purpose=purpose)
    key = (organisation.pk, organisation.support_region, organisation.time_zone, length, start, end,
           exclude_window.pk if exclude_window is not None else None,
           settings.SCHEDULING_BUFFER_MINUTES, settings.SCHEDULING_GRID_MINUTES)
    return slot_cache.slots(key, lambda: _free_slots(
        organisation=organisation, start=start, end=end, length=length, exclude_window=exclude_window,
    ))


def _free_slots(*, organisation: Organisation, start: datetime, end: datetime, length: timedelta,
                exclude_window: MaintenanceWindow | None) -> list[Slot]:
    """The slot engine's inputs, read in a fixed number of queries, and its answer."""
    span = DateTimeTZRange(start - timedelta(days=1), end + timedelta(days=1))
    buffer = timedelta(minutes=settings.SCHEDULING_BUFFER_MINUTES)

    regions = {region.pk: region for region in SupportRegion.objects.all()}
    by_code = {region.code: region for region in regions.values()}
    home = by_code.get(organisation.support_region)
    if home is None:
        return []
    closed = _holidays(home, start, end) + [
        _interval(blackout.period)
        # Vendor-wide, the region's and the customer's own (`__in` with None would match no NULL).
        for blackout in Blackout.objects.filter(period__overlap=span).filter(
            Q(organisation__isnull=True) | Q(organisation=organisation.pk)
        ).filter(Q(region__isnull=True) | Q(region=home.pk))
    ]

    engineers = list(Engineer.objects.filter(user__is_active=True))
    hours = defaultdict(list)
    for row in EngineerHours.objects.filter(engineer__in=engineers):
        hours[row.engineer_id].append(row)
    busy = defaultdict(list)
    for time_off in TimeOff.objects.filter(engineer__in=engineers, period__overlap=span):
        busy[time_off.engineer_id].append(_interval(time_off.period))
    users = {engineer.user_id: engineer.pk for engineer in engineers}
    windows = MaintenanceWindow.objects.filter(engineer_id__in=users, state__in=HOLDING_STATES, held__overlap=span)
    if exclude_window is not None:
        windows = windows.exclude(pk=exclude_window.pk)
    for window in windows:
        # A new window must end a buffer before this one starts, and start after its buffer.
        busy[users[window.engineer_id]].append(Interval(window.held.lower - buffer, window.held.upper))
    region_holidays = {pk: _holidays(region, start, end) for pk, region in regions.items()}

    calendars = [
        EngineerCalendar(
            engineer_id=engineer.user_id,
            hours=_weekly(engineer.time_zone, hours[engineer.pk]),
            busy=busy[engineer.pk] + region_holidays[engineer.home_region_id],
        )
        for engineer in engineers
    ]
    quiet = list(LowUsageHours.objects.filter(organisation=organisation))
    query = SlotQuery(
        horizon=Interval(start, end),
        length=length,
        support_hours=_weekly(home.time_zone, BusinessHours.objects.filter(region=home)),
        grid=timedelta(minutes=settings.SCHEDULING_GRID_MINUTES),
        grid_zone=organisation.time_zone,
        closed=closed,
        low_usage=_weekly(organisation.time_zone, quiet) if quiet else None,
    )
    return free_slots(query, calendars)


def slot_at(*, upgrade: UpgradeRequest, start: datetime, purpose: str = Purpose.UPGRADE,
            exclude_window: MaintenanceWindow | None = None) -> Slot | None:
    """The free slot starting at `start`, if there is one now: what a booking must find.

    The same answer as looking `start` up in `slots_for`'s whole horizon, computed over the
    window's own time only: a booking must not pay for six weeks of slots."""
    if start.tzinfo is None:
        return None
    now = timezone.now()
    first = (now + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    length = length_of(upgrade=upgrade, purpose=purpose)
    if start < first or start + length > first + horizon():
        return None
    near = slots_for(upgrade=upgrade, purpose=purpose, exclude_window=exclude_window, now=now, earliest=start,
                     within=length + timedelta(hours=1), length=length)
    return next((slot for slot in near if slot.start == start), None)


def request_for_booking(*, user: User, pk: int) -> UpgradeRequest:
    """An upgrade request `user` may see (else 404), with what its slots and booking read of it:
    its deployment, organisation and number of servers."""
    upgrades = UpgradeRequest.objects.select_related("deployment__organisation").annotate(
        server_count=count_of(Server, "deployment", of="deployment")
    )
    return get_object_or_404(visible_to(upgrades, user), pk=pk)


def support_zone_of(*, organisation) -> str:
    """The clock of the support desk that serves `organisation` ("" if it has none)."""
    return SupportRegion.objects.filter(code=organisation.support_region).values_list("time_zone", flat=True).first() or ""


def contacts_told(*, organisation) -> list[Contact]:
    """The contacts a window's notices go to, as a booking names them before it is made."""
    return list(Contact.objects.filter(organisation=organisation).order_by("name"))


# Windows as people see them: pages and the API read them here, through the tenancy rule.


def window_get(*, user: User, pk: int) -> MaintenanceWindow:
    """One window, if `user` may see it (staff: all; a customer: their organisation's): else 404."""
    return get_object_or_404(
        visible_to(MaintenanceWindow.objects.all(), user).select_related(
            "request__deployment__organisation", "request__release", "engineer", "booked_by", "confirmed_by",
            "cancelled_by", "run",
        ),
        pk=pk,
    )


def windows_between(*, user: User, start: datetime, end: datetime) -> QuerySet[MaintenanceWindow]:
    """The windows (upgrades and checks) booked or done that overlap [start, end): the staff week view."""
    return visible_to(MaintenanceWindow.objects.all(), user).filter(
        state__in=SHOWN_STATES, period__overlap=DateTimeTZRange(start, end)
    ).select_related("request__deployment__organisation", "request__release", "engineer", "run").order_by("period")


def my_windows(*, user: User, since: datetime) -> QuerySet[MaintenanceWindow]:
    """Windows that end after `since` (the start of the viewer's today), booked or done: an
    engineer's own; support and administrators see every engineer's. With each run and what it
    has recorded before its start, for "My windows"."""
    windows = visible_to(MaintenanceWindow.objects.all(), user).filter(
        state__in=SHOWN_STATES, period__endswith__gt=since,
    )
    if user.role == Role.ENGINEER:
        windows = windows.filter(engineer=user)
    return windows.select_related(
        "request__deployment__organisation", "request__release", "engineer", "run__deployment",
    ).prefetch_related("run__readiness__recorded_by").order_by("period", "pk")


def windows_list(*, user: User, engineer_id: int | None = None, state: str = "",
                 since: datetime | None = None) -> QuerySet[MaintenanceWindow]:
    """Windows from `since` on, out-of-hours requests waiting for support's confirmation first (S7)."""
    windows = visible_to(MaintenanceWindow.objects.all(), user).select_related(
        "request__deployment__organisation", "request__release", "engineer", "run"
    )
    if since is not None:
        windows = windows.filter(period__endswith__gte=since)
    if engineer_id:
        windows = windows.filter(engineer_id=engineer_id)
    if state:
        windows = windows.filter(state=state)
    waiting = Case(When(state="requested", then=Value(0)), default=Value(1), output_field=IntegerField())
    return windows.annotate(waiting=waiting).order_by("waiting", "period")


def live_demo_get() -> tuple[Deployment | None, Run | None]:
    """`make run`'s live upgrade demo as it stands: its deployment and latest run (None for those
    not made yet)."""
    deployment = (Deployment.objects.filter(organisation__slug=LIVE_DEMO_ORGANISATION, name=LIVE_DEMO_NAME)
                  .select_related("organisation").first())
    if deployment is None:
        return None, None
    return deployment, Run.objects.filter(deployment=deployment).select_related("window").order_by("-pk").first()
