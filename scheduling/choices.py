from django.db import models


class WindowState(models.TextChoices):
    """The life of a maintenance window; the moves between states are in scheduling.workflow.

    S3: a cloud customer's window is *proposed* by the vendor's planner, then confirmed by
    support. S7: an out-of-hours booking is *requested* until support confirms staff
    availability. A confirmed window is *completed* when its run ends."""

    PROPOSED = "proposed", "Proposed (cloud plan, not yet confirmed)"
    REQUESTED = "requested", "Requested (out of hours, waiting for support)"
    CONFIRMED = "confirmed", "Confirmed"
    CANCELLED = "cancelled", "Cancelled"
    COMPLETED = "completed", "Completed"  # its run ended (completed, rolled back or aborted)


# Windows in these states hold their engineer's time (the exclusion constraint's condition).
HOLDING_STATES = (WindowState.PROPOSED, WindowState.REQUESTED, WindowState.CONFIRMED)


class Cover(models.TextChoices):
    STANDARD = "standard", "Within support hours"
    OUT_OF_HOURS = "out_of_hours", "Out of hours"


class Purpose(models.TextChoices):
    """What an engineer's booked time is for: the upgrade itself, or the prerequisite check
    that comes before approval (S2). Both are found by the same slot engine and held by the
    same exclusion constraint."""

    UPGRADE = "upgrade", "Upgrade"
    CHECK = "check", "Prerequisite check"
