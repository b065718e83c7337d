"""A status page's subscribers hear "starting soon" an hour (STATUS_STARTING_SOON_MINUTES) before
their service is at risk (S6), once, from beat; read from a real SMTP server."""

from datetime import timedelta

from scheduling.models import StatusSubscriber
from scheduling.selectors_status import clock
from scheduling.services.status_notices import at_risk_start, starting_soon_enqueue
from tests.conftest import deliver_outbox, mail_text
from tests.scheduling.status_world import START

STUDENT = "student@example.org"


def test_subscribers_hear_starting_soon_once_an_hour_before_the_service_is_at_risk(
        inbox, time_machine, status_page, status_window, settings):
    settings.STATUS_STARTING_SOON_MINUTES = 60
    StatusSubscriber.objects.create(page=status_page, email=STUDENT, confirmed_at=START - timedelta(days=20))
    StatusSubscriber.objects.create(page=status_page, email="not.confirmed@example.org")
    at_risk = at_risk_start(status_window)
    assert status_window.start <= at_risk < status_window.end

    time_machine.move_to(at_risk - timedelta(minutes=61), tick=False)
    assert starting_soon_enqueue() == 0  # too early
    time_machine.move_to(at_risk - timedelta(minutes=59), tick=False)
    assert starting_soon_enqueue() == 1
    assert starting_soon_enqueue() == 0  # beat again: once

    deliver_outbox(inbox)
    soon = [message for message in inbox if "starts soon" in message["Subject"]]
    assert [message["To"] for message in soon] == [STUDENT]
    assert soon[0]["Subject"] == "Maintenance of AppsAnywhere starts soon"
    zone = status_page.deployment.organisation.time_zone
    assert f"the service is at risk from {clock(at_risk, zone)}" in mail_text(soon[0])
    assert soon[0]["List-Unsubscribe"]


def test_nothing_is_said_once_the_service_is_at_risk(inbox, time_machine, status_page, status_window):
    StatusSubscriber.objects.create(page=status_page, email=STUDENT, confirmed_at=START - timedelta(days=20))
    time_machine.move_to(at_risk_start(status_window) + timedelta(minutes=1), tick=False)

    assert starting_soon_enqueue() == 0
