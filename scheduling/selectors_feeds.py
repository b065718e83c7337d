"""Reads for people's calendar feeds: the feed behind a key, and the maintenance windows that
concern a person.

Whom a window concerns: its engineer; the support desk (support and administrators: every
window, as the desk works every organisation's); a customer's people, every window of their own
organisation's deployments. A window is listed from its booking until HISTORY after its end; a
cancelled one for CANCELLED_KEPT after its cancellation, as STATUS:CANCELLED with its raised
SEQUENCE, so that a calendar that had it removes it. A move still waiting for support's
confirmation is not listed: its window keeps its confirmed time until then.
"""

from datetime import datetime, timedelta

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import Http404

from portal import access
from portal.choices import Role
from portal.models import CalendarFeed, User
from portal.selectors import visible_to
from portal.tokens import key_hash
from scheduling.choices import WindowState
from scheduling.models import MaintenanceWindow

HISTORY = timedelta(days=90)
CANCELLED_KEPT = timedelta(days=30)


def feed_of(*, user: User) -> CalendarFeed | None:
    return CalendarFeed.objects.filter(user=user).first()


def feed_by_key(*, key: str) -> CalendarFeed:
    """The feed at `key`; 404 for a key never made, replaced or revoked, and for a disabled account."""
    feed = CalendarFeed.objects.select_related("user").filter(key_hash=key_hash(key)).first()
    if feed is None or not feed.user.is_active:
        raise Http404
    return feed


def _concerning(user: User) -> QuerySet[MaintenanceWindow]:
    windows = MaintenanceWindow.objects.filter(move_of__isnull=True)
    if user.is_customer:
        return visible_to(windows, user)
    if access.is_desk(user):
        return windows
    if user.role == Role.ENGINEER:
        return windows.filter(engineer=user)
    return windows.none()


def windows_concerning(*, user: User, now: datetime) -> list[MaintenanceWindow]:
    """The windows of `user`'s feed, each with `revised_at`: when it last changed (its history's
    newest row), the DTSTAMP of its entry."""
    if not user.is_active:
        return []
    revised = (
        MaintenanceWindow.pgh_event_model.objects.filter(pgh_obj=OuterRef("pk"))
        .order_by("-pgh_created_at").values("pgh_created_at")[:1]
    )
    listed = (
        Q(state=WindowState.CANCELLED, cancelled_at__gte=now - CANCELLED_KEPT)
        | (~Q(state=WindowState.CANCELLED) & Q(period__endswith__gte=now - HISTORY))
    )
    windows = (
        _concerning(user).filter(listed)
        .select_related("request__deployment__organisation", "request__release", "engineer")
        # The description counts the deployment's servers: one query for all, not one each.
        .prefetch_related("request__deployment__servers")
        .annotate(revised_at=Subquery(revised))
        .order_by("period", "pk")
    )
    return list(windows)


def feed_scope(user: User) -> str:
    """What `user`'s feed holds, in words."""
    if user.is_customer:
        return f"the maintenance windows and prerequisite checks of {user.contact.organisation.name}'s deployments"
    if access.is_desk(user):
        return "every maintenance window and prerequisite check, of every customer"
    if user.role == Role.ENGINEER:
        return "the maintenance windows and prerequisite checks you are the engineer of"
    return "nothing"


def feed_name(user: User) -> str:
    """The calendar's name in the calendar app."""
    if user.is_customer:
        return f"Maintenance windows: {user.contact.organisation.name}"
    if access.is_desk(user):
        return "Maintenance windows: every customer"
    return f"Maintenance windows: {user.full_name}"
