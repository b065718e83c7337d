"""What a window's changes tell people, written to the outbox (portal.notices) inside the
transaction of the change: calendar invites, cancellations, requests for support's
confirmation."""

from scheduling.models import MaintenanceWindow


def window_confirmed(*, window: MaintenanceWindow) -> None:
    """The window is confirmed, or a confirmed window moved: every contact gets the invite."""


def window_requested(*, window: MaintenanceWindow) -> None:
    """An out-of-hours window waits for support's confirmation (S7)."""


def window_cancelled(*, window: MaintenanceWindow) -> None:
    """A confirmed window is off: calendars remove the entry."""
