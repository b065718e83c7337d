"""A deployment's page lists its runs, newest first: what each upgraded to, in which window, how it
ended, when, how long it took, who drove it, and a link to its report."""

import re
from datetime import datetime, timedelta, timezone

import pytest
from django.urls import reverse

from tests.factories import (DeploymentFactory, EngineerUserFactory, MaintenanceWindowFactory, RunFactory,
                             UpgradeRequestFactory)
from upgrades.choices import RequestState, RunState

FIRST = datetime(2026, 1, 6, 9, tzinfo=timezone.utc)


@pytest.fixture
def campus(northwind):
    return DeploymentFactory(organisation=northwind, name="Campus history", server_groups=2)


def _run(deployment, *, release, start, state=RunState.COMPLETED, minutes=95, engineer=None):
    request = UpgradeRequestFactory(deployment=deployment, release=release, state=RequestState.COMPLETED)
    window = MaintenanceWindowFactory(request=request, start=start, engineer=engineer or EngineerUserFactory())
    ended = start + timedelta(minutes=minutes) if state != RunState.RUNNING else None
    return RunFactory(window=window, state=state, started_at=start, finished_at=ended)


def _rows(html: str) -> list[str]:
    section = re.search(r'<section id="runs".*?</section>', html, re.S).group(0)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
            for row in re.findall(r"<tr>(.*?)</tr>", section, re.S)[1:]]


def test_the_deployment_page_lists_its_runs_newest_first(client_for, customer, campus, release):
    customer.time_zone = "UTC"
    customer.save(update_fields=["time_zone"])
    engineer = EngineerUserFactory(full_name="Dana Whitfield")
    older = _run(campus, release=release, start=FIRST, state=RunState.ROLLED_BACK, minutes=200)
    newer = _run(campus, release=release, start=FIRST + timedelta(days=30), minutes=95, engineer=engineer)

    html = client_for(customer).get(reverse("deployment-detail", args=[campus.pk])).content.decode()

    rows = _rows(html)
    assert len(rows) == 2
    assert rows[0].startswith("10.0.0") and "Completed" in rows[0] and "Rolled back" in rows[1]
    assert "5 Feb 2026, 09:00" in rows[0] and "5 Feb 2026, 10:35" in rows[0]
    assert "1 h 35 min" in rows[0] and "3 h 20 min" in rows[1]
    assert "Dana Whitfield" in rows[0]
    assert reverse("run-report", args=[newer.pk]) in html and reverse("run-report", args=[older.pk]) in html
    assert reverse("window-detail", args=[newer.window_id]) in html


def test_a_running_upgrade_is_listed_with_its_live_page(client_for, support, campus, release):
    run = _run(campus, release=release, start=FIRST, state=RunState.RUNNING)

    html = client_for(support).get(reverse("deployment-detail", args=[campus.pk])).content.decode()

    (row,) = _rows(html)
    assert "Running" in row and "Live page" in row
    assert reverse("run-live", args=[run.pk]) in html


def test_a_long_history_is_paginated(client_for, customer, campus, release):
    for week in range(12):
        _run(campus, release=release, start=FIRST + timedelta(weeks=week))
    url = reverse("deployment-detail", args=[campus.pk])

    first = client_for(customer).get(url).content.decode()
    second = client_for(customer).get(url, {"page": 2}, headers={"HX-Request": "true"})

    assert len(_rows(first)) == 10 and "Page 1 of 2" in first
    assert "24 Mar 2026" in _rows(first)[0]  # the newest
    assert second.status_code == 200
    assert not second.content.decode().lstrip().startswith("<!doctype")  # only the section, for htmx
    assert len(_rows(second.content.decode())) == 2 and "6 Jan 2026" in _rows(second.content.decode())[-1]


def test_a_deployment_without_runs_says_so(client_for, customer, campus):
    html = client_for(customer).get(reverse("deployment-detail", args=[campus.pk])).content.decode()

    assert "No upgrade has run on this deployment yet." in html
