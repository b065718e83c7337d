"""Service users subscribe to a status page by e-mail: a confirmation first and nothing else
until they confirm (double opt-in); then scheduled, moved, cancelled, started and ended, each
with a one-click way out (List-Unsubscribe, RFC 8058). Read from a real SMTP server."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from portal.choices import NoticeState
from portal.models import Notice
from scheduling.choices import Cover
from scheduling.models import StatusSubscriber
from scheduling.services.booking import window_book
from scheduling.services.status import status_page_save
from scheduling.services.windows import window_cancel, window_reschedule
from tests.conftest import wait_for
from tests.factories import RunFactory
from tests.scheduling.status_world import START
from upgrades.choices import RunState
from upgrades.models import AvailabilityProbe, AvailabilitySample, Run
from upgrades.procedure import Phase
from upgrades.services.lifecycle import run_started
from upgrades.signals import run_ended

STUDENT = "student@example.org"


@pytest.fixture(autouse=True)
def before_the_window(time_machine):
    time_machine.move_to(START - timedelta(days=10), tick=True)


def _text(message) -> str:
    return next(part for part in message.walk() if part.get_content_type() == "text/plain").get_payload(
        decode=True).decode()


def _sent(inbox, count: int) -> None:
    wait_for(lambda: set(Notice.objects.values_list("state", flat=True)) <= {NoticeState.SENT})
    wait_for(lambda: len(inbox) == count)


def _mails_to_student(inbox) -> list:
    return [message for message in inbox if message["To"] == STUDENT]


def _link(message, name: str) -> str:
    """The full address of the mail's `name` link (confirm, unsubscribe)."""
    return re.search(rf"https?://\S+/subscriptions/\S+/{name}/", _text(message)).group(0)


def _subscribe(client, page) -> None:
    response = client.post(reverse("status-subscribe", args=[page.token]), {"email": STUDENT})
    assert "Check your inbox" in response.content.decode()


def test_nothing_but_the_confirmation_is_sent_before_the_subscriber_confirms(
        worker, inbox, client, status_page, approved, customer, engineer):
    _subscribe(client, status_page)
    _sent(inbox, 1)

    window_book(upgrade=approved, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)
    _sent(inbox, Notice.objects.count())

    (confirmation,) = _mails_to_student(inbox)
    assert confirmation["Subject"] == "Confirm your subscription to maintenance news of AppsAnywhere"
    assert "/confirm/" in _text(confirmation)


def test_a_confirmed_subscriber_hears_of_the_window_its_move_and_unsubscribes_in_one_click(
        worker, inbox, client, status_page, approved, customer, engineer):
    _subscribe(client, status_page)
    _sent(inbox, 1)
    confirm = urlsplit(_link(inbox[0], "confirm")).path
    assert "Confirm my subscription" in client.get(confirm).content.decode()
    assert "Subscription confirmed" in client.post(confirm).content.decode()

    window = window_book(upgrade=approved, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)
    _sent(inbox, Notice.objects.count())
    window_reschedule(window=window, start=START + timedelta(days=1), engineer_ids=[engineer.pk],
                      cover=Cover.STANDARD, by=customer)
    _sent(inbox, Notice.objects.count())

    _, scheduled, moved = _mails_to_student(inbox)
    assert scheduled["Subject"] == "Maintenance of AppsAnywhere planned for Tuesday 9 March 2027"
    assert moved["Subject"] == "Maintenance of AppsAnywhere moved to Wednesday 10 March 2027"
    assert "Downtime from about" in _text(moved)
    assert engineer.full_name not in _text(moved) and approved.deployment.name not in _text(moved)
    assert moved["List-Unsubscribe"].strip() == f"<{_link(moved, 'unsubscribe')}>"  # unfolded
    assert moved["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    unsubscribe = urlsplit(_link(moved, "unsubscribe")).path
    # RFC 8058: the mail client posts this body, without a CSRF token of ours.
    response = client.post(unsubscribe, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert not StatusSubscriber.objects.exists()

    window_cancel(window=window, by=customer, reason="Exams")
    _sent(inbox, Notice.objects.count())
    assert len(_mails_to_student(inbox)) == 3
    assert client.get(unsubscribe).status_code == 404


def test_subscribers_hear_the_start_and_the_end_with_the_downtime_measured(db, status_page, approved, customer,
                                                                            engineer, time_machine):
    window = window_book(upgrade=approved, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)
    StatusSubscriber.objects.create(page=status_page, email=STUDENT, confirmed_at=START - timedelta(days=20))
    time_machine.move_to(START, tick=False)
    run = RunFactory(window=window, state=RunState.RUNNING, phase=Phase.PREPARATION, started_at=START)

    run_started(run=run, by=engineer)
    probe = AvailabilityProbe.objects.create(deployment=approved.deployment, url="http://service.example/")
    AvailabilitySample.objects.bulk_create(
        AvailabilitySample(probe=probe, at=START + timedelta(seconds=seconds), up=not 60 <= seconds < 190)
        for seconds in range(0, 600)
    )
    Run.objects.filter(pk=run.pk).update(state=RunState.COMPLETED, phase=Phase.FULL, probe=probe,
                                         finished_at=START + timedelta(hours=1))
    run_ended.send(sender=Run, run=run)

    started, ended = Notice.objects.filter(recipient=STUDENT).order_by("pk")
    assert started.subject == "Maintenance of AppsAnywhere has started"
    assert ended.subject == "Maintenance of AppsAnywhere is over"
    assert "Measured downtime: 2 minutes 10 seconds." in ended.body


def test_a_bad_address_is_refused_on_the_page(client, status_page):
    response = client.post(reverse("status-subscribe", args=[status_page.token]), {"email": "not an address"})

    assert response.status_code == 400
    assert not StatusSubscriber.objects.exists()


def test_a_switched_off_page_takes_no_subscription(client, customer, status_page, northwind_deployment):
    status_page_save(deployment=northwind_deployment, by=customer, service_name="AppsAnywhere", enabled=False)

    assert client.post(reverse("status-subscribe", args=[status_page.token]), {"email": STUDENT}).status_code == 404


def test_one_client_may_not_have_many_strangers_mailed(client, status_page, settings):
    settings.STATUS_SUBSCRIBE_CLIENT_RATE = (3, 3600)
    for n in range(3):
        assert client.post(reverse("status-subscribe", args=[status_page.token]),
                           {"email": f"student{n}@example.org"}).status_code == 200

    response = client.post(reverse("status-subscribe", args=[status_page.token]), {"email": "stranger@example.org"})

    page = response.content.decode()
    assert response.status_code == 429
    assert "Too many subscriptions from your address: try again in" in page
    assert 'value="stranger@example.org"' in page  # what was typed stays in the field
    assert not StatusSubscriber.objects.filter(email="stranger@example.org").exists()
    assert not Notice.objects.filter(recipient="stranger@example.org").exists()
