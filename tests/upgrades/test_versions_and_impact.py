"""Kinds of upgrade (S4) and what is announced to service users (S6)."""

from datetime import timedelta

import pytest

from upgrades.choices import UpgradeKind
from upgrades.impact import impact_of
from upgrades.versions import VersionError, kind_between, parse


@pytest.mark.parametrize(
    "current, target, kind",
    [
        ("1.1", "2.0", UpgradeKind.MAJOR),
        ("1.1", "1.2", UpgradeKind.MINOR),
        ("1.1", "1.1.1", UpgradeKind.PATCH),
        ("9.4.2", "10.0.0", UpgradeKind.MAJOR),
        ("9.9.0", "9.10.0", UpgradeKind.MINOR),  # numbers, not text
    ],
)
def test_the_kind_follows_from_the_versions(current, target, kind):
    assert kind_between(current, target) == kind


@pytest.mark.parametrize("target", ["9.4.2", "9.4", "9.3.9"])
def test_the_same_or_an_older_version_is_no_upgrade(target):
    with pytest.raises(VersionError, match="not newer"):
        kind_between("9.4.2", target)


@pytest.mark.parametrize("text", ["", "abc", "9", "9..1", "9.4.2.1.5", "v9.4"])
def test_a_malformed_version_is_refused(text):
    with pytest.raises(VersionError):
        parse(text)


def test_a_major_upgrade_puts_the_service_at_risk_ten_minutes_per_server_with_downtime_five_minutes_in():
    impact = impact_of(kind=UpgradeKind.MAJOR, servers=4, load_balanced_with_health_checks=True)

    assert impact.at_risk == timedelta(minutes=40)
    assert (impact.downtime_offset, impact.downtime) == (timedelta(minutes=5), timedelta(minutes=15))
    assert "downtime starting about 5 minutes in, for about 15 minutes" in impact.summary()


def test_a_minor_upgrade_behind_a_load_balancer_has_no_downtime():
    impact = impact_of(kind=UpgradeKind.MINOR, servers=6, load_balanced_with_health_checks=True)

    assert impact.at_risk_minutes == 60 and impact.downtime is None
    assert "No downtime is expected" in impact.summary()


@pytest.mark.parametrize("kind, wording", [(UpgradeKind.MAJOR, "unavailable"), (UpgradeKind.MINOR, "intermittent")])
def test_without_a_load_balancer_the_whole_window_is_affected(kind, wording):
    impact = impact_of(kind=kind, servers=2, load_balanced_with_health_checks=False)

    assert f"the service is {wording} for the whole window" in impact.summary()
