from django.db import models


class WindowState(models.TextChoices):
    """S7: an out-of-hours booking is requested until support confirms staff availability."""

    REQUESTED = "requested", "Requested (out of hours, waiting for support)"
    CONFIRMED = "confirmed", "Confirmed"
    CANCELLED = "cancelled", "Cancelled"


# Windows in these states hold their engineer's time (the exclusion constraint's condition).
HOLDING_STATES = (WindowState.REQUESTED, WindowState.CONFIRMED)


class Cover(models.TextChoices):
    STANDARD = "standard", "Within support hours"
    OUT_OF_HOURS = "out_of_hours", "Out of hours"
