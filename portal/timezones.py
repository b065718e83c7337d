"""Time zones at the edges: names are validated against the IANA database that tzdata ships."""

import zoneinfo
from functools import cache

from django.core.exceptions import ValidationError


@cache
def time_zone_names() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones() - {"localtime", "Factory"}))


def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in time_zone_names()]


def validate_time_zone(value: str) -> None:
    if value not in time_zone_names():
        raise ValidationError(f"“{value}” is not a known time zone (for example Europe/London).")
