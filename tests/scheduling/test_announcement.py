"""The notice the customer forwards to their own service users (S6): at risk for servers x 10
minutes; a major upgrade's downtime about 5 minutes in for about 15 minutes; without a load
balancer with health checks, unavailable (major) or intermittent (minor) for the whole window;
every time on the reader's clock, daylight saving included."""

from datetime import datetime, timezone

import pytest

from scheduling.announcement import service_notice
from scheduling.choices import Cover
from scheduling.services.booking import window_book
from tests.factories import UpgradeRequestFactory
from upgrades.choices import UpgradeKind

# A Tuesday in winter: London is on GMT, so UTC and London clocks agree.
TUESDAY = datetime(2027, 3, 9, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def window_for(northwind, customer, engineer, release):
    """A booked window of a two-server deployment (15 minutes of preparation, then 20 minutes at
    risk), with or without a load balancer with health checks."""

    def make(*, kind: str, load_balanced: bool, start: datetime = TUESDAY):
        request = UpgradeRequestFactory(
            approved=True, kind=kind, release=release, requested_by=customer, deployment__organisation=northwind,
            deployment__name=f"Library {kind} {'LB' if load_balanced else 'direct'} {start:%d%H}",
            deployment__unbalanced=not load_balanced, deployment__server_groups=1,
        )
        return window_book(upgrade=request, start=start, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)

    return make


def test_a_major_upgrade_behind_a_load_balancer_announces_risk_and_the_downtime(window_for):
    window = window_for(kind=UpgradeKind.MAJOR, load_balanced=True)

    notice = service_notice(window=window, zone="Europe/London")

    assert notice.subject == "Planned maintenance of Library major LB 0910: Tuesday 9 March 2027 at 10:00 GMT"
    assert "Service at risk / limited capability from 10:15 to 10:35 (Europe/London), for about 20 minutes." in notice.body
    assert "Service downtime from about 10:20 to about 10:35" in notice.body
    assert "whole maintenance window" not in notice.body


def test_a_minor_upgrade_behind_a_load_balancer_has_no_downtime(window_for):
    window = window_for(kind=UpgradeKind.MINOR, load_balanced=True)

    body = service_notice(window=window, zone="Europe/London").body

    assert "Service at risk / limited capability from 10:15 to 10:35" in body
    assert "No downtime is expected" in body and "downtime from" not in body


def test_a_major_upgrade_without_a_load_balancer_is_unavailable_for_the_whole_window(window_for):
    window = window_for(kind=UpgradeKind.MAJOR, load_balanced=False)

    body = service_notice(window=window, zone="Europe/London").body

    assert "The service will be unavailable for the whole maintenance window, from 10:00 to 10:35 (Europe/London)." in body
    assert "No downtime is expected" not in body


def test_a_minor_upgrade_without_a_load_balancer_is_intermittent_for_the_whole_window(window_for):
    window = window_for(kind=UpgradeKind.MINOR, load_balanced=False)

    body = service_notice(window=window, zone="Europe/London").body

    assert "The service will be intermittent for the whole maintenance window, from 10:00 to 10:35" in body
    assert "unavailable" not in body


@pytest.mark.parametrize(
    ("zone", "before", "after", "expected"),
    [
        # London moves to BST on Sunday 28 March 2027.
        ("Europe/London", datetime(2027, 3, 26, 10, tzinfo=timezone.utc), datetime(2027, 3, 29, 10, tzinfo=timezone.utc),
         ("Friday 26 March 2027 at 10:00 GMT", "Monday 29 March 2027 at 11:00 BST", "from about 11:20 to about 11:35")),
        # New York moves to EDT on Sunday 14 March 2027.
        ("America/New_York", datetime(2027, 3, 12, 15, tzinfo=timezone.utc), datetime(2027, 3, 15, 15, tzinfo=timezone.utc),
         ("Friday 12 March 2027 at 10:00 EST", "Monday 15 March 2027 at 11:00 EDT", "from about 11:20 to about 11:35")),
        # Sydney leaves daylight saving on Sunday 4 April 2027.
        ("Australia/Sydney", datetime(2027, 4, 1, 23, tzinfo=timezone.utc), datetime(2027, 4, 4, 23, tzinfo=timezone.utc),
         ("Friday 2 April 2027 at 10:00 AEDT", "Monday 5 April 2027 at 09:00 AEST", "from about 09:20 to about 09:35")),
    ],
)
def test_the_same_utc_time_reads_right_on_either_side_of_a_clock_change(window_for, zone, before, after, expected):
    first = window_for(kind=UpgradeKind.MAJOR, load_balanced=True, start=before)
    second = window_for(kind=UpgradeKind.MAJOR, load_balanced=True, start=after)

    earlier, later = service_notice(window=first, zone=zone), service_notice(window=second, zone=zone)

    assert expected[0] in earlier.subject and expected[1] in later.subject
    # The downtime moves with the clock: still 20 minutes after the start.
    assert f"Service downtime {expected[2]}" in later.body


def test_a_window_past_midnight_on_the_readers_clock_names_the_next_day(window_for):
    window = window_for(kind=UpgradeKind.MAJOR, load_balanced=False, start=datetime(2027, 3, 9, 23, 45, tzinfo=timezone.utc))

    body = service_notice(window=window, zone="Europe/London").body

    assert "from 23:45 to 00:20 on Wednesday 10 March (Europe/London)" in body


def test_the_notice_reads_in_the_zone_the_customer_chose(window_for):
    window = window_for(kind=UpgradeKind.MAJOR, load_balanced=True)

    notice = service_notice(window=window, zone="Asia/Kolkata")

    assert "Tuesday 9 March 2027 at 15:30 IST" in notice.subject
    assert "from 15:45 to 16:05 (Asia/Kolkata)" in notice.body
