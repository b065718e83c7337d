"""Support books the prerequisite check (S2) on a week grid like the customer's booking page,
each free time by support's clock and the customer's, instead of a list of hundreds of options."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from scheduling.choices import Purpose
from scheduling.selectors import slots_for
from tests.dates import FRIDAY

pytestmark = pytest.mark.day(FRIDAY)


@pytest.fixture
def in_new_york(northwind):
    northwind.time_zone = "America/New_York"
    northwind.save()
    return northwind


def test_the_check_slots_are_a_week_grid_in_both_clocks(client_for, support, in_review, in_new_york):
    slots = slots_for(upgrade=in_review, purpose=Purpose.CHECK, within=timedelta(days=14))
    first = slots[0]
    mine, theirs = first.start.astimezone(ZoneInfo(support.time_zone)), first.start.astimezone(ZoneInfo("America/New_York"))

    page = client_for(support).get(reverse("request-detail", args=[in_review.pk])).content.decode()

    assert '<select name="start"' not in page and 'class="check-grid"' in page
    assert f'value="{first.start.isoformat()}"' in page
    assert f"{mine:%H:%M}<small>{theirs:%H:%M}</small>" in page
    assert f"Times are yours (<strong>{support.time_zone}</strong>), with the customer's (<strong>America/New_York</strong>)" in page
    assert "Erin Walsh" in page  # who is free these days
    assert len(page) < 50_000, len(page)  # the page with the old list of every slot weighed 78 KB


def test_support_pages_through_the_two_weeks(client_for, support, in_review):
    slots = slots_for(upgrade=in_review, purpose=Purpose.CHECK, within=timedelta(days=14))
    zone = ZoneInfo(support.time_zone)
    first_day = slots[0].start.astimezone(zone).date()
    later = next(slot for slot in slots if slot.start.astimezone(zone).date() >= first_day + timedelta(days=7))

    first = client_for(support).get(reverse("request-detail", args=[in_review.pk])).content.decode()
    second = client_for(support).get(reverse("request-detail", args=[in_review.pk]), {"check_week": 1}).content.decode()

    assert f'value="{later.start.isoformat()}"' not in first and f'value="{later.start.isoformat()}"' in second
    assert "?check_week=1#check" in first and '<details id="check" open>' in second
