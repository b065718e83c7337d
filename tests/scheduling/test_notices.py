"""A window's notices: written to the outbox in the transaction of the change (a lost race
mails nobody), and downloadable by whoever may see the window: the ready-to-forward notice in a
chosen zone (S6) and the calendar entry itself."""

from datetime import datetime, timedelta, timezone

import pytest
from django.urls import reverse
from icalendar import Calendar

from portal.models import Notice
from scheduling.choices import Cover
from scheduling.services.booking import SlotTaken, check_book, window_book
from scheduling.services.windows import window_cancel
from tests.conftest import deliver_outbox, mail_text
from tests.factories import DeploymentFactory, ServerFactory, UpgradeRequestFactory
from tests.scheduling.stories import approve

START = datetime(2027, 3, 9, 10, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def before_the_window(time_machine):
    """Ten days before START: the window and the check are ahead."""
    time_machine.move_to(START - timedelta(days=10), tick=False)


@pytest.fixture
def window(approved, customer, engineer):
    return window_book(upgrade=approved, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)


def test_every_notice_of_a_window_names_it_as_its_topic(window):
    topics = set(Notice.objects.values_list("topic", flat=True))

    assert topics == {f"scheduling.maintenancewindow:{window.pk}"}


def test_a_booking_that_lost_the_race_mails_nobody(window, customer, engineer, northwind, release):
    other = DeploymentFactory(organisation=northwind, name="Campus")
    ServerFactory(deployment=other)
    written = Notice.objects.count()

    with pytest.raises(SlotTaken):
        window_book(upgrade=approve(other, by=customer, release=release), start=START + timedelta(minutes=15),
                    engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)

    assert Notice.objects.count() == written


def test_the_customer_downloads_the_notice_for_their_users_in_their_zone(client_for, customer, window):
    response = client_for(customer).get(reverse("window-notice", args=[window.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="maintenance-notice-northwind-2027-03-09.txt"'
    text = response.content.decode()
    assert text.startswith("Subject: Planned maintenance of Production: Tuesday 9 March 2027 at 10:00 GMT\n")
    assert "Service downtime from about 10:20 to about 10:35" in text


def test_a_colleague_downloads_it_on_the_clock_of_their_own_users(client_for, colleague, window):
    response = client_for(colleague).get(reverse("window-notice", args=[window.pk]), {"tz": "Asia/Kolkata"})

    text = response.content.decode()
    assert "Tuesday 9 March 2027 at 15:30 IST" in text and "(Asia/Kolkata)" in text


def test_an_unknown_zone_is_refused_with_a_reason(client_for, customer, window):
    response = client_for(customer).get(reverse("window-notice", args=[window.pk]), {"tz": "Mars/Olympus_Mons"})

    assert response.status_code == 400
    assert "not a known time zone" in response.content.decode()


def test_a_prerequisite_check_has_no_notice_for_service_users(client_for, support, engineer, customer, northwind_deployment,
                                                               release):
    request = UpgradeRequestFactory(in_review=True, deployment=northwind_deployment, release=release,
                                    requested_by=customer, assignee=support)
    check = check_book(upgrade=request, start=START, engineer_ids=[engineer.pk], by=support)

    assert client_for(customer).get(reverse("window-notice", args=[check.pk])).status_code == 404
    assert client_for(customer).get(reverse("window-ics", args=[check.pk])).status_code == 200


def test_the_calendar_entry_downloads_as_the_invite_and_as_the_cancellation_later(client_for, customer, support, window):
    url = reverse("window-ics", args=[window.pk])

    response = client_for(customer).get(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8; method=REQUEST"
    assert response["Content-Disposition"] == 'attachment; filename="maintenance-window-northwind-2027-03-09.ics"'
    calendar = Calendar.from_ical(response.content)
    (event,) = calendar.events
    assert str(event["UID"]) == f"{window.uid}@upgrade-portal" and event["SEQUENCE"] == 0
    assert event["DTSTART"].params["TZID"] == "Europe/London"

    window_cancel(window=window, by=support, reason="The customer's data centre moves that week.")
    cancelled = Calendar.from_ical(client_for(support).get(url).content)

    assert cancelled["METHOD"] == "CANCEL" and cancelled.events[0]["SEQUENCE"] == 1
    assert str(cancelled.events[0]["UID"]) == str(event["UID"])


def test_a_cancelled_window_offers_the_cancellation_for_the_service_users_instead(client_for, customer, window):
    window_cancel(window=window, by=customer, reason="Our exams were moved to that week.")

    page = client_for(customer).get(reverse("window-detail", args=[window.pk])).content.decode()
    download = client_for(customer).get(reverse("window-notice", args=[window.pk]))

    assert "Cancellation notice for your service users" in page and "Ready to forward" in page
    assert "Maintenance of Production cancelled" in page and "will be upgraded" not in page
    assert reverse("window-notice", args=[window.pk]) in page
    assert download["Content-Disposition"] == 'attachment; filename="maintenance-cancellation-northwind-2027-03-09.txt"'
    text = download.content.decode()
    assert text.startswith("Subject: Cancelled: planned maintenance of Production on Tuesday 9 March 2027 at 10:00 GMT\n")
    assert "stays available as usual" in text and "downtime" not in text


def test_the_cancellation_mail_carries_the_notice_for_the_service_users(inbox, customer, engineer, window):
    deliver_outbox(inbox).clear()

    window_cancel(window=window, by=customer, reason="Our exams were moved to that week.")

    deliver_outbox(inbox)
    (to_olivia,) = [message for message in inbox if message["To"] == "olivia.bennett@northwind.example"]
    assert "Cancelled" in to_olivia["Subject"] and "Maintenance of Production cancelled" in mail_text(to_olivia)
    (to_engineer,) = [message for message in inbox if message["To"] == engineer.email]
    assert "service users" not in mail_text(to_engineer)


@pytest.mark.parametrize("name", ["window-notice", "window-ics"])
def test_another_organisation_cannot_download_them(client_for, outsider, window, name):
    assert client_for(outsider).get(reverse(name, args=[window.pk])).status_code == 404


@pytest.mark.parametrize("name", ["window-notice", "window-ics"])
def test_a_download_is_read_only(client_for, customer, window, name):
    assert client_for(customer).post(reverse(name, args=[window.pk])).status_code == 405


@pytest.mark.parametrize("name", ["window-notice", "window-ics"])
def test_a_download_needs_a_log_in(client, window, name):
    response = client.get(reverse(name, args=[window.pk]))

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_window_that_does_not_exist_is_not_found(client_for, support):
    assert client_for(support).get(reverse("window-ics", args=[999999])).status_code == 404
