"""The ready-to-forward notice for the customer's own service users (S6), in their time zone,
and its cancellation once the window is cancelled (`users_notice` says which a window has).

S6's wording: the service is at risk (limited capability) for servers x 10 minutes; a major
upgrade has downtime starting about 5 minutes in for about 15 minutes. Without a load balancer
with health checks, the service is unavailable (major) or intermittent (minor, patch) for the
whole window.
"""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from scheduling.choices import Purpose, WindowState
from scheduling.models import MaintenanceWindow
from upgrades.choices import UpgradeKind
from upgrades.impact import Impact, impact_of


@dataclass(frozen=True)
class Announcement:
    subject: str
    body: str


def _when(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local:%A} {local.day} {local:%B %Y} at {local:%H:%M} {local.tzname()}"


def _clock(moment: datetime, zone: ZoneInfo, *, day_of: datetime | None = None) -> str:
    """The local time; with the day too when it is not the day of `day_of` (a window that runs
    past midnight on the reader's clock)."""
    local = moment.astimezone(zone)
    if day_of is not None and local.date() != day_of.astimezone(zone).date():
        return f"{local:%H:%M} on {local:%A} {local.day} {local:%B}"
    return f"{local:%H:%M}"


def window_impact(window: MaintenanceWindow) -> Impact:
    """What the window's upgrade means for the service users (S6): at risk from
    `window.end - impact.at_risk` to the end, the downtime as booked."""
    request = window.request
    deployment = request.deployment
    return impact_of(
        kind=request.kind, servers=deployment.servers.count(),
        load_balanced_with_health_checks=deployment.has_load_balancer and deployment.health_checks,
    )


def service_notice(*, window: MaintenanceWindow, zone: str) -> Announcement:
    """What the customer forwards to their users: plain text, times in `zone`."""
    tz = ZoneInfo(zone)
    request = window.request
    impact = window_impact(window)
    service = request.deployment.name
    at_risk_start = window.end - impact.at_risk
    subject = f"Planned maintenance of {service}: {_when(window.start, tz)}"
    lines = [
        f"Planned maintenance of {service}",
        "",
        f"{service} will be upgraded to version {request.release.version} on {_when(window.start, tz)}.",
        "",
    ]
    if impact.whole_window == "unavailable":
        lines.append(
            f"The service will be unavailable for the whole maintenance window, from {_clock(window.start, tz)} "
            f"to {_clock(window.end, tz, day_of=window.start)} ({tz.key})."
        )
    elif impact.whole_window == "intermittent":
        lines.append(
            f"The service will be intermittent for the whole maintenance window, from {_clock(window.start, tz)} "
            f"to {_clock(window.end, tz, day_of=window.start)} ({tz.key}): it may stop responding for short "
            "periods; please retry."
        )
    else:
        lines.append(
            f"Service at risk / limited capability from {_clock(at_risk_start, tz, day_of=window.start)} "
            f"to {_clock(window.end, tz, day_of=window.start)} ({tz.key}), for about {impact.at_risk_minutes} minutes."
        )
        if request.kind == UpgradeKind.MAJOR and window.downtime:
            lines.append(
                f"Service downtime from about {_clock(window.downtime.lower, tz, day_of=window.start)} to about "
                f"{_clock(window.downtime.upper, tz, day_of=window.start)}: the service will not be available "
                "during that time."
            )
        else:
            lines.append("No downtime is expected: the service stays available while servers are upgraded in turn.")
    lines += [
        "",
        "Please save your work and avoid starting long tasks during this time.",
        "We will let you know when the maintenance is complete.",
    ]
    return Announcement(subject=subject, body="\n".join(lines) + "\n")


def cancellation_notice(*, window: MaintenanceWindow, zone: str) -> Announcement:
    """What the customer forwards to their users once the window is cancelled: the maintenance
    they were told of will not happen."""
    tz = ZoneInfo(zone)
    service = window.request.deployment.name
    lines = [
        f"Maintenance of {service} cancelled",
        "",
        f"The planned maintenance of {service} on {_when(window.start, tz)} is cancelled.",
        "",
        "The service stays available as usual at that time: please disregard the earlier notice.",
    ]
    return Announcement(subject=f"Cancelled: planned maintenance of {service} on {_when(window.start, tz)}",
                        body="\n".join(lines) + "\n")


def users_notice(*, window: MaintenanceWindow, zone: str) -> Announcement | None:
    """The notice for the service users as the window stands: the planned maintenance while the
    window holds its time, its cancellation once cancelled (a requested move that was declined
    or confirmed is no window of its own); a prerequisite check has none."""
    if window.purpose != Purpose.UPGRADE:
        return None
    if window.is_holding:
        return service_notice(window=window, zone=zone)
    if window.state == WindowState.CANCELLED and window.move_of_id is None:
        return cancellation_notice(window=window, zone=zone)
    return None
