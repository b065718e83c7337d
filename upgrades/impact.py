"""What an upgrade means for the customer's service users (S4, S6), as a pure function.

Service at risk lasts number of servers x 10 minutes, for every kind. A major upgrade also has
about 15 minutes of downtime starting about 5 minutes in. Without a load balancer with health
checks, the service is unavailable (major) or intermittent (minor, patch) for the whole window.
"""

from dataclasses import dataclass
from datetime import timedelta

from upgrades.choices import UpgradeKind

MINUTES_AT_RISK_PER_SERVER = 10
DOWNTIME_STARTS_AFTER = timedelta(minutes=5)
DOWNTIME_LASTS = timedelta(minutes=15)


@dataclass(frozen=True)
class Impact:
    kind: UpgradeKind
    servers: int
    at_risk: timedelta
    downtime_offset: timedelta | None
    downtime: timedelta | None
    load_balanced: bool

    @property
    def whole_window(self) -> str:
        """How the service behaves for the whole window when it is not load balanced, or ""."""
        if self.load_balanced:
            return ""
        return "unavailable" if self.kind == UpgradeKind.MAJOR else "intermittent"

    @property
    def at_risk_minutes(self) -> int:
        return int(self.at_risk.total_seconds() // 60)

    def summary(self) -> str:
        text = f"Service at risk / limited capability for {self.at_risk_minutes} minutes ({self.servers} servers x 10 minutes)."
        if self.whole_window:
            return text + f" Without a load balancer with health checks the service is {self.whole_window} for the whole window."
        if self.downtime:
            start = int(self.downtime_offset.total_seconds() // 60)
            length = int(self.downtime.total_seconds() // 60)
            return text + f" Service downtime starting about {start} minutes in, for about {length} minutes."
        return text + " No downtime is expected."


def impact_of(*, kind: UpgradeKind, servers: int, load_balanced_with_health_checks: bool) -> Impact:
    major = kind == UpgradeKind.MAJOR
    return Impact(
        kind=kind,
        servers=servers,
        at_risk=timedelta(minutes=MINUTES_AT_RISK_PER_SERVER * servers),
        downtime_offset=DOWNTIME_STARTS_AFTER if major else None,
        downtime=DOWNTIME_LASTS if major else None,
        load_balanced=load_balanced_with_health_checks,
    )
