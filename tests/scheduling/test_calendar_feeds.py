"""People's calendar feeds: each person subscribes (webcal) to the windows that concern them, at
an address whose key they can replace or revoke. The feed holds each window as its mailed invite
does (same UID and SEQUENCE), follows moves and cancellations, and never shows another
organisation's windows. Every feed is read back by two independent parsers: `icalendar` and
`ical`, which validates RFC 5545 strictly."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from ical.calendar_stream import IcsCalendarStream
from icalendar import Calendar

from portal.models import Deployment, Notice, SecurityEvent, User
from portal.services import password_set, token_create
from scheduling.choices import Cover
from scheduling.services import lifecycle
from scheduling.services.booking import window_book
from scheduling.services.feeds import calendar_feed_make, calendar_feed_revoke
from scheduling.services.windows import window_cancel, window_confirm, window_reschedule
from tests.scheduling.stories import approve

START = datetime(2027, 3, 9, 10, 0, tzinfo=UTC)  # Northwind's window, in the London engineer's hours
CONTOSO_START = datetime(2027, 3, 10, 15, 0, tzinfo=UTC)  # 10:00 in New York


@pytest.fixture(autouse=True)
def before_the_windows(time_machine):
    time_machine.move_to(START - timedelta(days=10), tick=False)
    return time_machine


@pytest.fixture
def northwind_window(approved, customer, engineer):
    return window_book(upgrade=approved, start=START, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)


@pytest.fixture
def apac_engineer(world) -> User:
    return User.objects.get(email="engineer.apac@vendor.example")


@pytest.fixture
def contoso_window(contoso, outsider, release, apac_engineer):
    upgrade = approve(Deployment.objects.filter(organisation=contoso).first(), by=outsider, release=release)
    return window_book(upgrade=upgrade, start=CONTOSO_START, engineer_ids=[apac_engineer.pk], cover=Cover.STANDARD,
                       by=outsider)


def feed_url(key: str) -> str:
    return reverse("calendar-feed", args=[key])


def fetch(key: str, **headers):
    """The feed as a calendar app fetches it: no session, the key in the address."""
    return Client().get(feed_url(key), **headers)


def entries(response) -> dict[str, dict]:
    """The feed's events by UID, as both parsers read them; they must agree."""
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    text = response.content.decode()
    by_icalendar = {
        str(event["UID"]): {
            "sequence": int(event["SEQUENCE"]), "status": str(event["STATUS"]), "start": event.DTSTART,
            "end": event.DTEND, "stamp": event.DTSTAMP, "summary": str(event["SUMMARY"]),
        }
        for event in Calendar.from_ical(text).walk("VEVENT")
    }
    by_ical = {
        event.uid: {
            "sequence": event.sequence, "status": event.status.value, "start": event.dtstart, "end": event.dtend,
            "stamp": event.dtstamp, "summary": event.summary,
        }
        for event in IcsCalendarStream.calendar_from_ics(text).events
    }
    assert by_icalendar == by_ical
    return by_icalendar


def mailed(window, kind: str) -> dict:
    """The calendar entry of the window's mail `kind` (invite, cancel) at its current SEQUENCE."""
    notice = Notice.objects.filter(key=f"window:{window.pk}:{kind}:{window.sequence}").first()
    (event,) = Calendar.from_ical(notice.attachments[0]["content"]).walk("VEVENT")
    return {"uid": str(event["UID"]), "sequence": int(event["SEQUENCE"]), "status": str(event["STATUS"])}


def test_a_contact_s_feed_follows_their_window_through_a_move_and_a_cancellation(
        customer, engineer, northwind_window, before_the_windows):
    _feed, key = calendar_feed_make(by=customer)
    invite = mailed(northwind_window, "invite")

    (booked,) = entries(fetch(key)).items()
    assert booked[0] == invite["uid"]
    assert booked[1]["sequence"] == invite["sequence"]
    assert booked[1]["status"] == "CONFIRMED"
    assert booked[1]["start"] == START

    before_the_windows.shift(timedelta(hours=1))
    moved_window = window_reschedule(window=northwind_window, start=START + timedelta(days=1),
                                     engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)
    (moved,) = entries(fetch(key)).items()
    assert moved[0] == booked[0] == mailed(moved_window, "invite")["uid"]
    assert moved[1]["sequence"] == mailed(moved_window, "invite")["sequence"] > booked[1]["sequence"]
    assert moved[1]["start"] == START + timedelta(days=1)

    before_the_windows.shift(timedelta(hours=1))
    cancelled_window = window_cancel(window=moved_window, by=customer, reason="Exams moved")
    (cancelled,) = entries(fetch(key)).items()
    assert cancelled[0] == booked[0]
    assert cancelled[1]["status"] == "CANCELLED" == mailed(cancelled_window, "cancel")["status"]
    assert cancelled[1]["sequence"] == mailed(cancelled_window, "cancel")["sequence"] > moved[1]["sequence"]


def test_a_cancelled_window_leaves_the_feed_a_month_after_its_cancellation(
        customer, northwind_window, before_the_windows):
    _feed, key = calendar_feed_make(by=customer)
    window_cancel(window=northwind_window, by=customer, reason="Exams")

    before_the_windows.shift(timedelta(days=29))
    assert [entry["status"] for entry in entries(fetch(key)).values()] == ["CANCELLED"]
    before_the_windows.shift(timedelta(days=2))
    assert entries(fetch(key)) == {}


def test_a_completed_window_stays_confirmed_for_90_days_after_its_end(
        customer, northwind_window, before_the_windows):
    _feed, key = calendar_feed_make(by=customer)
    before_the_windows.move_to(northwind_window.end + timedelta(hours=1), tick=False)
    lifecycle.run_closed(run=northwind_window.run)  # the run ended: its window is completed

    assert [entry["status"] for entry in entries(fetch(key)).values()] == ["CONFIRMED"]
    before_the_windows.move_to(northwind_window.end + timedelta(days=91), tick=False)
    assert entries(fetch(key)) == {}


def test_an_out_of_hours_booking_is_tentative_until_support_confirms_it(approved, customer, engineer, support):
    _feed, key = calendar_feed_make(by=engineer)
    window = window_book(upgrade=approved, start=START, engineer_ids=[engineer.pk], cover=Cover.OUT_OF_HOURS,
                         by=customer)
    (requested,) = entries(fetch(key)).values()

    window_confirm(window=window, by=support)
    (confirmed,) = entries(fetch(key)).values()

    assert requested["status"] == "TENTATIVE"
    assert confirmed["status"] == "CONFIRMED"
    assert confirmed["sequence"] > requested["sequence"]


def test_a_move_waiting_for_support_leaves_the_entry_at_its_confirmed_time(customer, engineer, northwind_window):
    _feed, key = calendar_feed_make(by=engineer)

    window_reschedule(window=northwind_window, start=START + timedelta(days=1), engineer_ids=[engineer.pk],
                      cover=Cover.OUT_OF_HOURS, by=customer)

    (entry,) = entries(fetch(key)).values()
    assert entry["start"] == START
    assert entry["status"] == "CONFIRMED"


def test_another_organisation_s_windows_never_appear(customer, colleague, outsider, northwind_window, contoso_window):
    northwind = {str(northwind_window.uid) + "@upgrade-portal"}
    contoso = {str(contoso_window.uid) + "@upgrade-portal"}

    assert set(entries(fetch(calendar_feed_make(by=customer)[1]))) == northwind
    assert set(entries(fetch(calendar_feed_make(by=colleague)[1]))) == northwind
    response = fetch(calendar_feed_make(by=outsider)[1])
    assert set(entries(response)) == contoso
    assert b"Northwind" not in response.content


def test_an_engineer_s_feed_holds_their_own_windows_and_support_s_every_window(
        engineer, apac_engineer, support, admin_user, northwind_window, contoso_window):
    both = {str(window.uid) + "@upgrade-portal" for window in (northwind_window, contoso_window)}

    assert set(entries(fetch(calendar_feed_make(by=engineer)[1]))) == {str(northwind_window.uid) + "@upgrade-portal"}
    assert set(entries(fetch(calendar_feed_make(by=apac_engineer)[1]))) == {str(contoso_window.uid) + "@upgrade-portal"}
    desk = entries(fetch(calendar_feed_make(by=support)[1]))
    assert set(desk) == both
    assert set(entries(fetch(calendar_feed_make(by=admin_user)[1]))) == both
    # The vendor's feeds span customers: each entry says whose it is.
    assert desk[str(contoso_window.uid) + "@upgrade-portal"]["summary"].startswith("Contoso College: Maintenance: ")


def test_the_feed_costs_as_many_queries_for_many_windows_as_for_one(
        support, northwind_window, contoso, outsider, release, apac_engineer, before_the_windows,
        django_assert_max_num_queries):
    _feed, key = calendar_feed_make(by=support)
    with CaptureQueriesContext(connection) as one:
        assert len(entries(fetch(key))) == 1
    upgrade = approve(Deployment.objects.filter(organisation=contoso).first(), by=outsider, release=release)
    window_book(upgrade=upgrade, start=CONTOSO_START, engineer_ids=[apac_engineer.pk], cover=Cover.STANDARD,
                by=outsider)
    before_the_windows.shift(timedelta(minutes=5))  # the fetch is recorded again, as the first was

    with django_assert_max_num_queries(len(one)):
        assert len(entries(fetch(key))) == 2


def test_the_calendar_is_named_refreshes_hourly_and_speaks_utc(customer, northwind_window):
    response = fetch(calendar_feed_make(by=customer)[1])

    text = response.content.decode()
    assert "X-WR-CALNAME:Maintenance windows: Northwind University\r\n" in text
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in text
    assert "X-PUBLISHED-TTL:PT1H\r\n" in text
    assert "DTSTART:20270309T100000Z\r\n" in text
    assert "VTIMEZONE" not in text
    (entry,) = entries(response).values()
    # DTSTAMP: when the window last changed, in UTC (RFC 5545 3.8.7.2 for a calendar without METHOD).
    assert entry["stamp"].utcoffset() == timedelta(0)
    assert entry["stamp"] <= datetime.now(UTC) + timedelta(seconds=5)


def test_a_replaced_or_revoked_key_answers_404(customer, northwind_window):
    _feed, first = calendar_feed_make(by=customer)
    assert fetch(first).status_code == 200

    _feed, second = calendar_feed_make(by=customer)
    assert fetch(first).status_code == 404
    assert fetch(second).status_code == 200

    assert calendar_feed_revoke(by=customer) is True
    assert fetch(second).status_code == 404
    assert fetch("cal_never-made").status_code == 404
    assert list(SecurityEvent.objects.filter(user=customer).values_list("kind", flat=True).order_by("pk")) == [
        "calendar_feed_made", "calendar_feed_made", "calendar_feed_revoked",
    ]


def test_a_disabled_account_s_feed_answers_404(customer, northwind_window):
    _feed, key = calendar_feed_make(by=customer)
    User.objects.filter(pk=customer.pk).update(is_active=False)

    assert fetch(key).status_code == 404


def test_a_new_password_ends_the_feed(customer, northwind_window):
    _feed, key = calendar_feed_make(by=customer)

    password_set(user=customer, password="a new and long passphrase", by=customer)

    assert fetch(key).status_code == 404


def test_the_key_opens_nothing_but_the_feed(customer, northwind_window):
    _feed, key = calendar_feed_make(by=customer)
    api_key = token_create(by=customer, name="Script")[1]

    assert Client().get("/api/v1/windows/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
    assert Client().get("/api/v1/windows/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401
    assert fetch(api_key).status_code == 404
    assert Client().get(reverse("status-page", args=[key])).status_code == 404
    fetched = Client()
    assert fetched.get(feed_url(key)).status_code == 200
    assert fetched.get(reverse("calendar-settings")).status_code == 302  # still to the log-in page


def test_a_calendar_that_has_the_latest_is_answered_304(customer, engineer, northwind_window, before_the_windows):
    _feed, key = calendar_feed_make(by=customer)
    first = fetch(key)
    etag, modified = first["ETag"], first["Last-Modified"]

    again = fetch(key, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    assert fetch(key, HTTP_IF_MODIFIED_SINCE=modified).status_code == 304

    before_the_windows.shift(timedelta(hours=2))
    window_reschedule(window=northwind_window, start=START + timedelta(days=1), engineer_ids=[engineer.pk],
                      cover=Cover.STANDARD, by=customer)
    changed = fetch(key, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert changed["Last-Modified"] != modified
    assert fetch(key, HTTP_IF_MODIFIED_SINCE=modified).status_code == 200


def test_too_many_fetches_are_refused_for_a_while(customer, northwind_window, settings):
    settings.CALENDAR_FEED_RATE = (2, 3600)
    _feed, key = calendar_feed_make(by=customer)

    assert [fetch(key).status_code for _ in range(2)] == [200, 200]
    refused = fetch(key)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0


class TestTheCalendarPage:
    def test_it_offers_a_feed_to_whoever_has_none(self, client_for, customer):
        response = client_for(customer).get(reverse("calendar-settings"))

        assert response.status_code == 200
        assert "You have no calendar feed." in response.content.decode()

    def test_making_the_feed_shows_its_address_once(self, client_for, customer, northwind_window):
        client = client_for(customer)

        made = client.post(reverse("calendar-make")).content.decode()
        later = client.get(reverse("calendar-settings")).content.decode()

        (key,) = {part.split(".ics")[0] for part in made.split("/calendar/")[1:] if part.startswith("cal_")
                  and ".ics" in part.split('"')[0]}
        assert f'value="webcal://testserver/calendar/{key}.ics"' in made
        assert f'value="http://testserver/calendar/{key}.ics"' in made
        assert fetch(key).status_code == 200
        assert key not in later
        assert key[:10] in later

    def test_it_says_when_a_calendar_last_fetched_the_feed(self, client_for, customer, northwind_window):
        client = client_for(customer)
        _feed, key = calendar_feed_make(by=customer)
        before = client.get(reverse("calendar-settings")).content.decode()

        fetch(key)
        after = client.get(reverse("calendar-settings")).content.decode()

        assert "<dt>Last fetched</dt><dd>never</dd>" in before
        assert "<dt>Last fetched</dt><dd>27 Feb 2027 10:00</dd>" in after  # London, in winter

    def test_revoking_it_says_so(self, client_for, customer):
        client = client_for(customer)
        calendar_feed_make(by=customer)

        response = client.post(reverse("calendar-revoke"), follow=True)

        assert "Your calendar feed is revoked" in response.content.decode()
        assert "You have no calendar feed." in response.content.decode()

    def test_the_menu_links_to_it(self, client_for, engineer):
        page = client_for(engineer).get(reverse("my-windows")).content.decode()

        assert f'href="{reverse("calendar-settings")}"' in page
