"""The public status page of a deployment for the customer's own service users: switched on and
named by the lead, at an address that can be rotated, showing the S6 times of coming
maintenance, the live phase in plain words and the history, without a word about servers."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from portal.models import Server
from scheduling.services.status import status_page_rotate, status_page_save
from scheduling.services.windows import window_cancel
from tests.factories import RunFactory
from tests.scheduling.status_world import START
from upgrades.choices import RunState
from upgrades.models import AvailabilityProbe, AvailabilitySample, Message
from upgrades.procedure import Phase
from upgrades.services.conversation import message_post

LONDON = ZoneInfo("Europe/London")


pytestmark = pytest.mark.usefixtures("ten_days_before")


@pytest.fixture
def window(status_window):
    return status_window


def _url(page) -> str:
    return reverse("status-page", args=[page.token])


def _clock(moment: datetime) -> str:
    return moment.astimezone(LONDON).strftime("%H:%M")


def test_an_anonymous_visitor_sees_the_coming_window_times_and_nothing_of_the_servers(
        client, status_page, window, settings):
    settings.SITE_URL = "https://portal.vendor.example"  # not the lab servers' loopback address
    response = client.get(_url(status_page))

    page = response.content.decode()
    assert response.status_code == 200
    assert "AppsAnywhere" in page and "Europe/London" in page
    assert f"Tuesday 9 March 2027, {_clock(window.start)} to {_clock(window.end)} GMT" in page
    assert "Service at risk from " in page and f"to {_clock(window.end)} GMT." in page
    assert f"Downtime from about {_clock(window.downtime.lower)} GMT to about {_clock(window.downtime.upper)} GMT" in page
    deployment = window.request.deployment
    secrets = [deployment.name, window.request.release.version, deployment.cloudpaging_version,
               deployment.openjdk_version, deployment.tomcat_version, window.engineer.full_name,
               window.request.requested_by.full_name]
    for server in Server.objects.filter(deployment=deployment):
        secrets += [server.hostname, server.address]
    assert [secret for secret in secrets if secret in page] == []


def test_a_switched_off_page_answers_404(client, customer, status_page, northwind_deployment):
    status_page_save(deployment=northwind_deployment, by=customer, service_name="AppsAnywhere", enabled=False)

    assert client.get(_url(status_page)).status_code == 404
    assert client.get(reverse("status-feed", args=[status_page.token])).status_code == 404
    assert client.get(reverse("status-calendar", args=[status_page.token])).status_code == 404


def test_a_rotated_address_answers_404_at_the_old_one_at_once(client, customer, status_page):
    old = _url(status_page)

    status_page_rotate(page=status_page, by=customer)

    assert client.get(old).status_code == 404
    assert client.get(_url(status_page)).status_code == 200


def test_a_wrong_address_answers_404(client, status_page):
    assert client.get(reverse("status-page", args=["not-the-token"])).status_code == 404


def test_the_page_takes_no_post(client, status_page):
    assert client.post(_url(status_page)).status_code == 405


@pytest.mark.parametrize(("phase", "words"), [
    (Phase.AT_RISK, "Service at risk"),
    (Phase.DOWNTIME, "Downtime, expected back at "),
    (Phase.FULL, "Restored"),
])
def test_during_the_run_the_page_says_the_phase_in_plain_words(client, status_page, window, phase, words):
    run = RunFactory(window=window, state=RunState.RUNNING, phase=phase, started_at=START)

    page = client.get(_url(status_page)).content.decode()

    assert words in page
    if phase == Phase.DOWNTIME:
        back = run.steps.filter(phase=Phase.DOWNTIME).order_by("-position").first().planned_end
        assert f"Downtime, expected back at {_clock(back)} GMT" in page


def test_after_the_run_the_history_shows_the_downtime_measured(client, status_page, window, time_machine):
    time_machine.move_to(START + timedelta(hours=3), tick=False)
    probe = AvailabilityProbe.objects.create(deployment=window.request.deployment, url="http://service.example/")
    AvailabilitySample.objects.bulk_create(
        AvailabilitySample(probe=probe, at=START + timedelta(minutes=10, seconds=seconds), up=not 60 <= seconds < 300)
        for seconds in range(0, 600)
    )
    RunFactory(window=window, state=RunState.COMPLETED, phase=Phase.FULL, started_at=START,
               finished_at=START + timedelta(hours=1), probe=probe)

    page = client.get(_url(status_page)).content.decode()

    assert "Past maintenance" in page
    assert "Completed" in page and "Measured downtime: 4 minutes." in page


def test_a_cancelled_window_is_shown_cancelled(client, customer, status_page, window):
    window_cancel(window=window, by=customer, reason="Exams")

    page = client.get(_url(status_page)).content.decode()

    assert "Cancelled" in page and "This maintenance is cancelled" in page
    assert "Exams" not in page  # the reason is the customer's own business


def test_an_update_the_engineer_writes_for_the_service_users_is_on_the_page_without_their_name(
        client, status_page, window, engineer, time_machine):
    run = RunFactory(window=window, state=RunState.PAUSED, phase=Phase.AT_RISK, started_at=START)
    time_machine.move_to(START + timedelta(minutes=32), tick=False)
    message_post(upgrade=window.request, run=run, by=engineer, public=True,
                 body="A step failed; we are looking at it. The service stays available.")
    message_post(upgrade=window.request, run=run, by=engineer, body="Between us: nothing for the users")

    page = client.get(_url(status_page)).content.decode()
    feed = client.get(reverse("status-feed", args=[status_page.token])).content.decode()

    assert "Service at risk" in page
    assert f"{_clock(START + timedelta(minutes=32))}</time> A step failed; we are looking at it." in page
    assert "A step failed; we are looking at it." in feed
    assert "Between us" not in page and "Between us" not in feed
    assert engineer.full_name not in page and engineer.full_name not in feed


def test_only_the_vendor_writes_updates_for_the_status_page(client_for, customer, window, status_page):
    run = RunFactory(window=window, state=RunState.RUNNING, phase=Phase.AT_RISK, started_at=START)

    with pytest.raises(PermissionDenied):
        message_post(upgrade=window.request, run=run, by=customer, public=True, body="All done, go home")
    response = client_for(customer).post(reverse("conversation-post", args=[window.request.pk]),
                                         {"body": "All done, go home", "public": "yes", "run": run.pk})

    assert response.status_code == 403
    assert not Message.objects.exists()
    assert "All done" not in client_for(customer).get(_url(status_page)).content.decode()


def test_an_update_is_written_during_the_run_and_is_never_also_internal(engineer, window):
    run = RunFactory(window=window, state=RunState.RUNNING, phase=Phase.AT_RISK, started_at=START)

    with pytest.raises(ValidationError, match="either internal or on the status page"):
        message_post(upgrade=window.request, run=run, by=engineer, public=True, internal=True, body="Both")
    with pytest.raises(ValidationError, match="during the upgrade"):
        message_post(upgrade=window.request, by=engineer, public=True, body="Before the day")
    assert not Message.objects.exists()
