"""Where an engineer starts the day: "My windows", today's and the coming windows assigned to them,
each run's state, and a start button once the window is open and the run ready. Support sees
everybody's; customers have no such page."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.models import User
from scheduling.choices import Cover
from scheduling.services.booking import window_book
from tests.factories import RunFactory
from tests.scheduling.stories import approve
from tests.upgrades.runs import confirmed_window
from upgrades.choices import ReadinessKind
from upgrades.models import Readiness, Release


@pytest.fixture
def other_engineer(world) -> User:
    return User.objects.get(email="engineer.apac@vendor.example")


def open_run(deployment, engineer, customer):
    """A window of Northwind's upgrade that opened a minute ago, and its run."""
    return RunFactory(window=confirmed_window(deployment, Release.objects.get(version="10.0.0"), engineer=engineer,
                                              customer=customer))


def ready(run, by) -> None:
    for kind in (ReadinessKind.SNAPSHOTS, ReadinessKind.BACKUP, ReadinessKind.PREFLIGHT):
        Readiness.objects.create(run=run, kind=kind, passed=True, recorded_by=by, recorded_at=timezone.now(),
                                 data={"versions": dict(run.previous_versions)})


def test_an_engineer_lands_on_their_windows(client_for, engineer):
    response = client_for(engineer).get(reverse("home"))

    assert response.status_code == 302 and response["Location"] == reverse("my-windows")


def test_the_engineer_sees_their_open_window_and_starts_it_once_ready(client_for, engineer, customer,
                                                                      northwind_deployment):
    run = open_run(northwind_deployment, engineer, customer)
    page = client_for(engineer).get(reverse("my-windows")).content.decode()

    assert "Northwind University" in page and "Open now" in page and "Get ready" in page
    assert "Start the upgrade" not in page and "○ VM snapshots taken" in page

    ready(run, engineer)
    page = client_for(engineer).get(reverse("my-windows")).content.decode()
    assert "Start the upgrade" in page and reverse("run-action", args=[run.pk, "start"]) in page


def test_a_window_booked_through_the_link_appears_with_its_run(client_for, engineer, customer,
                                                               northwind_deployment):
    request = approve(northwind_deployment, by=customer, release=Release.objects.get(version="10.0.0"))
    start = (timezone.now() + timedelta(days=3)).replace(hour=10, minute=0, second=0, microsecond=0)
    window = window_book(upgrade=request, start=start, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)

    page = client_for(engineer).get(reverse("my-windows")).content.decode()

    assert reverse("window-detail", args=[window.pk]) in page and "Scheduled" in page
    assert reverse("run-live", args=[window.run.pk]) in page


def test_another_engineer_does_not_see_it_but_support_sees_everybodys(client_for, engineer, other_engineer, support,
                                                                     customer, northwind_deployment):
    run = open_run(northwind_deployment, engineer, customer)

    theirs = client_for(other_engineer).get(reverse("my-windows")).content.decode()
    desk = client_for(support).get(reverse("my-windows")).content.decode()

    assert reverse("run-live", args=[run.pk]) not in theirs and "No window today or later" in theirs
    assert reverse("run-live", args=[run.pk]) in desk and "Erin Walsh" in desk and "Coming windows" in desk


def test_customers_have_no_such_page_and_it_takes_no_post(client_for, customer, engineer):
    assert client_for(customer).get(reverse("my-windows")).status_code == 404
    assert client_for(engineer).post(reverse("my-windows")).status_code == 405
