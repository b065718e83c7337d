"""The shape of a maintenance window in time (S6), as a pure function.

    start -- preparation -- service at risk (servers x 10 min) -- end
                            `-- major only: downtime ~5 min in, ~15 min long
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from upgrades.impact import impact_of


@dataclass(frozen=True)
class WindowPlan:
    start: datetime
    end: datetime
    at_risk_start: datetime
    downtime_start: datetime | None
    downtime_end: datetime | None

    @property
    def length(self) -> timedelta:
        return self.end - self.start


def window_length(*, servers: int, preparation: timedelta) -> timedelta:
    return preparation + impact_of(kind="minor", servers=servers, load_balanced_with_health_checks=True).at_risk


def plan_window(*, start: datetime, kind: str, servers: int, preparation: timedelta) -> WindowPlan:
    impact = impact_of(kind=kind, servers=servers, load_balanced_with_health_checks=True)
    at_risk_start = start + preparation
    downtime_start = at_risk_start + impact.downtime_offset if impact.downtime else None
    return WindowPlan(
        start=start,
        end=at_risk_start + impact.at_risk,
        at_risk_start=at_risk_start,
        downtime_start=downtime_start,
        downtime_end=downtime_start + impact.downtime if downtime_start else None,
    )


def plan_check(*, start: datetime, length: timedelta) -> WindowPlan:
    """The prerequisite check (S2): an appointment, with no service at risk."""
    return WindowPlan(start=start, end=start + length, at_risk_start=start + length, downtime_start=None, downtime_end=None)
