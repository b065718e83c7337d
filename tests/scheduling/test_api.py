"""The scheduling API, told by the people who use it: the approved customer lists free slots in
their own zone and books one; support confirms, the customer moves or cancels it; the rules of
the booking page hold (S7, S8), someone else's rows are 404, a slot taken first is 409 with the
free slots now, and bad input writes nothing."""

from datetime import datetime, timedelta, timezone

import pytest
from django.test import Client
from django.utils import timezone as django_timezone

from portal.models import Deployment, User
from scheduling.choices import WindowState
from scheduling.models import MaintenanceWindow, SchedulingLink
from scheduling.services.links import link_issue
from upgrades.choices import RequestState
from upgrades.models import UpgradeRequest
from upgrades.services import requests

from tests.conftest import pass_second_factor
from tests.factories import UpgradeRequestFactory
from tests.scheduling import stories
from tests.scheduling.stories import more_deployments, race

API = "/api/v1"
# A Monday; the first bookable day is the Tuesday, so week 0 is 1-7 March and week 1 holds START.
NOW = datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc)
# 10:00 in London: the London engineer alone is free then (Sydney's day ended at 08:00 UTC).
START = datetime(2027, 3, 9, 10, 0, tzinfo=timezone.utc)
# 07:00 in London: before Northwind's support hours, so out of hours (S7).
EARLY = datetime(2027, 3, 9, 7, 0, tzinfo=timezone.utc)
TAKEN = "This slot was just taken"


class Api(Client):
    """A logged-in client that speaks JSON."""

    def post(self, path, data=None, **extra):
        return super().post(path, {} if data is None else data, content_type="application/json", **extra)


def api_for(user: User) -> Api:
    client = Api()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    pass_second_factor(client, user)
    return client


def iso(moment: datetime) -> str:
    return moment.isoformat()


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


def approve(deployment: Deployment, *, customer: User, release) -> UpgradeRequest:
    """An approved request, made directly (the approval path has tests of its own), with the
    scheduling link support issued (S8)."""
    upgrade = stories.approve(deployment, by=customer, release=release)
    link_issue(upgrade=upgrade, by=User.objects.get(email="support@vendor.example"))
    return upgrade


@pytest.fixture
def approved(customer, northwind_deployment, release) -> UpgradeRequest:
    return approve(northwind_deployment, customer=customer, release=release)


def slots_url(upgrade: UpgradeRequest, **query) -> str:
    params = "&".join(f"{key}={value}" for key, value in query.items())
    return f"{API}/requests/{upgrade.pk}/slots/" + (f"?{params}" if params else "")


def book_url(upgrade: UpgradeRequest) -> str:
    return f"{API}/requests/{upgrade.pk}/window/"


def book(client: Api, upgrade: UpgradeRequest, start: datetime, **body):
    return client.post(book_url(upgrade), {"start": iso(start), **body})


# Free slots --------------------------------------------------------------------------------


def test_the_customer_sees_free_slots_in_the_zone_they_choose(approved, customer):
    response = api_for(customer).get(slots_url(approved, tz="America/New_York", week=1))

    assert response.status_code == 200, response.content
    answer = response.json()
    assert (answer["time_zone"], answer["week"], answer["week_start"]) == ("America/New_York", 1, "2027-03-08")
    assert answer["length_minutes"] == 55  # 15 minutes of preparation + 4 servers x 10 minutes (S6)
    slot = next(slot for slot in answer["slots"] if slot["start"] == "2027-03-09T10:00:00Z")
    # The same instant, by New York's clock (EST until 14 March).
    assert (slot["local_start"], slot["local_end"]) == ("2027-03-09T05:00:00-05:00", "2027-03-09T05:55:00-05:00")
    assert (slot["cover"], slot["standard"]) == ("standard", True)
    assert slot["engineer_ids"] is None  # who is free is the vendor's business
    early = next(slot for slot in answer["slots"] if slot["start"] == "2027-03-09T07:00:00Z")
    assert (early["cover"], early["low_usage"]) == ("out_of_hours", True)


def test_support_also_sees_which_engineers_are_free(approved, support, engineer):
    answer = api_for(support).get(slots_url(approved, week=1)).json()

    slot = next(slot for slot in answer["slots"] if slot["start"] == "2027-03-09T10:00:00Z")
    assert slot["engineer_ids"] == [engineer.pk]
    assert slot["local_start"] == "2027-03-09T10:00:00+00:00"  # Northwind's own clock by default


@pytest.mark.parametrize("query, field", [({"tz": "Mars/Olympus"}, "tz"), ({"week": -1}, "week"),
                                          ({"week": 12}, "week"), ({"purpose": "party"}, "purpose")])
def test_it_says_what_is_wrong_with_the_question(approved, customer, query, field):
    response = api_for(customer).get(slots_url(approved, **query))

    assert response.status_code == 400
    assert field in response.json()


def test_it_refuses_slots_before_approval(customer, support, northwind_deployment, release):
    draft = requests.request_create(deployment=northwind_deployment, release=release, by=customer)

    for user in (customer, support):
        response = api_for(user).get(slots_url(draft))
        assert response.status_code == 409
        assert "not approved yet" in response.json()["detail"]


def test_a_customer_whose_link_was_withdrawn_sees_no_slots(approved, customer, support):
    SchedulingLink.objects.filter(request=approved).update(revoked_at=django_timezone.now())

    response = api_for(customer).get(slots_url(approved))

    assert response.status_code == 409
    assert "Ask support for a new one" in response.json()["detail"]
    assert api_for(support).get(slots_url(approved)).status_code == 200  # support books for them


def in_review(deployment: Deployment, *, customer: User, support: User, release) -> UpgradeRequest:
    return UpgradeRequestFactory(in_review=True, deployment=deployment, release=release, requested_by=customer,
                                 assignee=support)


def test_only_vendor_staff_look_for_check_slots(customer, support, northwind_deployment, release):
    upgrade = in_review(northwind_deployment, customer=customer, support=support, release=release)

    assert api_for(customer).get(slots_url(upgrade, purpose="check")).status_code == 403
    answer = api_for(support).get(slots_url(upgrade, purpose="check", week=1)).json()
    assert answer["length_minutes"] == 60 and answer["slots"]


def test_another_organisations_request_does_not_exist(approved, outsider):
    client = api_for(outsider)

    assert client.get(slots_url(approved)).status_code == 404
    assert book(client, approved, START).status_code == 404
    assert client.post(book_url(approved), {"start": "nonsense"}).status_code == 404  # 404 before any 400
    assert not MaintenanceWindow.objects.exists()


def test_the_wrong_method_is_405(approved, customer):
    client = api_for(customer)

    assert client.get(book_url(approved)).status_code == 405
    assert client.post(slots_url(approved)).status_code == 405
    assert client.delete(book_url(approved)).status_code == 405


# Booking -----------------------------------------------------------------------------------


def test_the_customer_books_a_window_on_a_free_slot(approved, customer, engineer):
    response = book(api_for(customer), approved, START)

    assert response.status_code == 201, response.content
    window = response.json()
    assert (window["start"], window["end"]) == ("2027-03-09T10:00:00Z", "2027-03-09T10:55:00Z")
    # Major (S6): at risk for 4 servers x 10 minutes; downtime about 5 minutes in, 15 minutes long.
    assert window["at_risk_start"] == "2027-03-09T10:15:00Z"
    assert (window["downtime_start"], window["downtime_end"]) == ("2027-03-09T10:20:00Z", "2027-03-09T10:35:00Z")
    assert (window["state"], window["cover"], window["engineer"]["id"]) == ("confirmed", "standard", engineer.pk)
    assert window["customer_may_change"] is True
    assert approved.timeline.filter(action="window_booked").count() == 1


def test_sending_the_same_booking_twice_books_once(approved, customer):
    client = api_for(customer)

    first = book(client, approved, START)
    again = book(client, approved, START)

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert MaintenanceWindow.objects.count() == 1


def test_a_second_booking_at_another_time_is_a_reschedule(approved, customer):
    client = api_for(customer)
    book(client, approved, START)

    response = book(client, approved, START + timedelta(hours=2))

    assert response.status_code == 409
    assert "reschedule it instead" in response.json()["detail"]
    assert MaintenanceWindow.objects.count() == 1


def test_an_out_of_hours_booking_waits_for_support(approved, customer):
    response = book(api_for(customer), approved, EARLY)

    assert response.status_code == 201
    assert (response.json()["state"], response.json()["cover"]) == ("requested", "out_of_hours")


@pytest.mark.parametrize(
    "body, message",
    [
        ({}, "required"),
        ({"start": "next Tuesday"}, "format"),
        ({"start": "2027-03-09T10:00:00"}, "with its offset"),
        ({"start": "2027-03-09T10:07:00Z"}, "every 15 minutes"),
        ({"start": "2027-03-09T10:00:30Z"}, "every 15 minutes"),
        ({"start": "2027-02-09T10:00:00Z"}, "in the future"),
        ({"start": "2029-03-09T10:00:00Z"}, "days ahead"),
        ({"start": "2027-03-09T10:00:00Z", "purpose": "party"}, "valid choice"),
        ({"start": "2027-03-09T10:00:00Z", "time_zone": "Nowhere/Town"}, "not a known time zone"),
    ],
)
def test_it_refuses_a_bad_booking_and_writes_nothing(approved, customer, body, message):
    response = api_for(customer).post(book_url(approved), body)

    assert response.status_code == 400
    assert message in str(response.json())
    assert not MaintenanceWindow.objects.exists()


def test_it_refuses_a_booking_before_approval(customer, northwind_deployment, release):
    draft = requests.request_create(deployment=northwind_deployment, release=release, by=customer)

    response = book(api_for(customer), draft, START)

    assert response.status_code == 409
    assert "not approved yet" in response.json()["detail"]
    assert not MaintenanceWindow.objects.exists()


def test_an_engineer_does_not_book_for_the_customer(approved, engineer):
    assert book(api_for(engineer), approved, START).status_code == 403
    assert not MaintenanceWindow.objects.exists()


def test_a_slot_somebody_else_took_is_409_with_the_free_slots_now(approved, customer, northwind, release):
    book(api_for(customer), approved, START)
    (other_deployment,) = more_deployments(northwind, 1)
    other = approve(other_deployment, customer=customer, release=release)

    response = book(api_for(customer), other, START, time_zone="Australia/Sydney")

    assert response.status_code == 409
    answer = response.json()
    assert answer["detail"].startswith(TAKEN)
    assert 0 < len(answer["slots"]) <= 20
    assert "2027-03-09T10:00:00Z" not in [slot["start"] for slot in answer["slots"]]
    assert answer["slots"][0]["local_start"].endswith("+11:00")  # Sydney's summer time
    assert MaintenanceWindow.objects.count() == 1


def test_support_books_the_prerequisite_check(customer, support, northwind_deployment, release):
    upgrade = in_review(northwind_deployment, customer=customer, support=support, release=release)

    assert book(api_for(customer), upgrade, START, purpose="check").status_code == 403
    response = book(api_for(support), upgrade, START, purpose="check")

    assert response.status_code == 201, response.content
    assert (response.json()["purpose"], response.json()["end"]) == ("check", "2027-03-09T11:00:00Z")
    upgrade.refresh_from_db()
    assert (upgrade.state, upgrade.check_at) == (RequestState.CHECK_SCHEDULED, START)


# Windows -----------------------------------------------------------------------------------


def windows(client: Api, query: str = "") -> list[dict]:
    response = client.get(f"{API}/windows/{query}")
    assert response.status_code == 200, response.content
    return response.json()["results"]


@pytest.fixture
def booked(approved, customer) -> MaintenanceWindow:
    return MaintenanceWindow.objects.get(pk=book(api_for(customer), approved, START).json()["id"])


@pytest.fixture
def contoso_window(outsider, support, contoso, release) -> MaintenanceWindow:
    upgrade = approve(Deployment.objects.filter(organisation=contoso).first(), customer=outsider, release=release)
    # 15:00 in London is 10:00 in New York: inside Contoso's hours, and the London engineer's.
    response = book(api_for(support), upgrade, datetime(2027, 3, 10, 15, 0, tzinfo=timezone.utc))
    return MaintenanceWindow.objects.get(pk=response.json()["id"])


def test_a_customer_lists_their_own_windows_and_staff_all(booked, contoso_window, customer, outsider, support):
    assert [row["id"] for row in windows(api_for(customer))] == [booked.pk]
    assert [row["id"] for row in windows(api_for(outsider))] == [contoso_window.pk]
    assert [row["id"] for row in windows(api_for(support))] == [booked.pk, contoso_window.pk]  # by start


def test_the_window_list_filters(booked, contoso_window, support, engineer):
    client = api_for(support)

    assert [row["id"] for row in windows(client, f"?engineer={engineer.pk}&state=confirmed")] == [
        booked.pk, contoso_window.pk
    ]
    assert windows(client, "?state=requested") == []
    assert [row["id"] for row in windows(client, "?from=2027-03-10T00:00:00Z")] == [contoso_window.pk]
    assert [row["id"] for row in windows(client, "?to=2027-03-10T00:00:00%2B00:00")] == [booked.pk]
    assert [row["id"] for row in windows(client, f"?request={booked.request_id}")] == [booked.pk]


@pytest.mark.parametrize("query", ["?from=2027-03-10T00:00:00", "?from=tomorrow", "?state=done", "?engineer=x",
                                   "?from=2027-03-10T00:00:00Z&to=2027-03-09T00:00:00Z"])
def test_a_malformed_window_filter_is_400(booked, support, query):
    assert api_for(support).get(f"{API}/windows/{query}").status_code == 400


def test_another_organisations_window_does_not_exist(booked, outsider):
    client = api_for(outsider)

    assert client.get(f"{API}/windows/{booked.pk}/").status_code == 404
    for move, body in (("confirm", {}), ("reschedule", {"start": iso(START + timedelta(hours=3))}),
                       ("cancel", {"reason": "Exams"})):
        assert client.post(f"{API}/windows/{booked.pk}/{move}/", body).status_code == 404
    booked.refresh_from_db()
    assert (booked.state, booked.start) == (WindowState.CONFIRMED, START)


def test_a_window_move_answers_only_post(booked, support):
    client = api_for(support)

    assert client.get(f"{API}/windows/{booked.pk}/cancel/").status_code == 405
    assert client.delete(f"{API}/windows/{booked.pk}/").status_code == 405


def test_support_confirms_an_out_of_hours_request(approved, customer, support):
    window_id = book(api_for(customer), approved, EARLY).json()["id"]
    confirm = f"{API}/windows/{window_id}/confirm/"

    assert api_for(customer).post(confirm).status_code == 403  # staff availability is support's call (S7)
    response = api_for(support).post(confirm)

    assert response.status_code == 200
    assert response.json()["state"] == "confirmed"
    again = api_for(support).post(confirm)
    assert again.status_code == 409
    assert "cannot be confirmed now" in again.json()["detail"]


def test_the_customer_moves_their_window_to_another_free_slot(booked, customer):
    later = START + timedelta(days=1, hours=1)

    response = api_for(customer).post(f"{API}/windows/{booked.pk}/reschedule/", {"start": iso(later), "reason": "Exams"})

    assert response.status_code == 200, response.content
    assert (response.json()["start"], response.json()["sequence"]) == ("2027-03-10T11:00:00Z", 1)
    assert response.json()["uid"] == str(booked.uid)  # the same calendar entry, moved
    assert MaintenanceWindow.objects.count() == 1


def test_moving_a_window_a_little_later_overlapping_itself_is_allowed(booked, customer):
    response = api_for(customer).post(
        f"{API}/windows/{booked.pk}/reschedule/", {"start": iso(START + timedelta(minutes=15))}
    )

    assert response.status_code == 200, response.content
    assert response.json()["start"] == "2027-03-09T10:15:00Z"


def test_moving_to_a_taken_slot_is_409_with_the_free_slots(booked, customer, northwind, release):
    (other_deployment,) = more_deployments(northwind, 1)
    other = approve(other_deployment, customer=customer, release=release)
    taken = START + timedelta(days=1)
    book(api_for(customer), other, taken)

    response = api_for(customer).post(f"{API}/windows/{booked.pk}/reschedule/", {"start": iso(taken)})

    assert response.status_code == 409
    assert response.json()["detail"].startswith(TAKEN) and response.json()["slots"]
    booked.refresh_from_db()
    assert booked.start == START


@pytest.mark.parametrize("body, message", [({}, "required"), ({"start": "2027-03-09T12:00:00"}, "offset"),
                                           ({"start": "2027-03-09T12:05:00Z"}, "every 15 minutes")])
def test_a_bad_reschedule_changes_nothing(booked, customer, body, message):
    response = api_for(customer).post(f"{API}/windows/{booked.pk}/reschedule/", body)

    assert response.status_code == 400
    assert message in str(response.json())
    booked.refresh_from_db()
    assert (booked.start, booked.sequence) == (START, 0)


def test_close_to_the_start_only_support_moves_the_window(approved, customer, support):
    tomorrow = datetime(2027, 3, 2, 10, 0, tzinfo=timezone.utc)
    window_id = book(api_for(customer), approved, tomorrow).json()["id"]
    url = f"{API}/windows/{window_id}/reschedule/"

    refused = api_for(customer).post(url, {"start": iso(START)})
    assert refused.status_code == 409
    assert "less than 48 hours" in refused.json()["detail"]
    assert api_for(support).post(url, {"start": iso(START)}).status_code == 200


def test_the_customer_cancels_saying_why(booked, customer):
    url = f"{API}/windows/{booked.pk}/cancel/"
    client = api_for(customer)

    blank = client.post(url, {"reason": "  "})
    assert blank.status_code == 409 and "Say why" in blank.json()["detail"]
    response = client.post(url, {"reason": "The exams moved."})

    assert response.status_code == 200
    assert (response.json()["state"], response.json()["cancel_reason"]) == ("cancelled", "The exams moved.")
    assert client.post(url, {"reason": "Again"}).status_code == 409
    assert client.post(f"{API}/windows/{booked.pk}/reschedule/", {"start": iso(START)}).status_code == 409


# The race ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_many_customers_booking_one_slot_through_the_api_get_one_window(world, customer, support, northwind, release):
    contenders = [approve(deployment, customer=customer, release=release) for deployment in more_deployments(northwind, 8)]
    clients = [api_for(customer) for _ in contenders]

    responses = race([
        (lambda client=client, upgrade=upgrade: book(client, upgrade, START))
        for client, upgrade in zip(clients, contenders)
    ])

    assert sorted(getattr(response, "status_code", response) for response in responses) == [201] + [409] * 7
    assert all(response.json()["detail"].startswith(TAKEN) for response in responses if response.status_code == 409)
    assert MaintenanceWindow.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_double_click_through_the_api_books_once(world, customer, support, northwind_deployment, release):
    upgrade = approve(northwind_deployment, customer=customer, release=release)

    responses = race([lambda: book(api_for(customer), upgrade, START) for _ in range(2)])

    assert sorted(response.status_code for response in responses) == [200, 201]
    assert len({response.json()["id"] for response in responses}) == 1
    assert MaintenanceWindow.objects.count() == 1
