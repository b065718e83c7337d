"""The booking page behind the scheduling link: free slots in the customer's zone, standard and
out-of-hours apart; a booking; a lost race answered with fresh slots, never a 500."""

from datetime import datetime

import pytest
from django.urls import reverse

from scheduling.models import MaintenanceWindow
from scheduling.selectors import slots_for
from scheduling.services.links import link_issue, link_token
from upgrades.choices import RequestState
from upgrades.models import UpgradeRequest


@pytest.fixture
def approved(customer, northwind_deployment, release):
    return UpgradeRequest.objects.create(
        deployment=northwind_deployment, release=release, from_version="9.4.2", kind=release.kind,
        requested_by=customer, state=RequestState.APPROVED,
    )


@pytest.fixture
def book_url(approved, support):
    return reverse("book", args=[link_token(link_issue(request=approved, by=support))])


def test_support_issues_the_link_from_the_request_page(client_for, support, customer, approved):
    client_for(support).post(reverse("request-action", args=[approved.pk, "issue_link"]))

    page = client_for(customer).get(reverse("request-detail", args=[approved.pk])).content.decode()
    assert "Book the maintenance window" in page and "/book/" in page


def test_the_customer_sees_free_slots_in_their_zone(client_for, customer, book_url, approved):
    slots = slots_for(request=approved)
    assert any(slot.standard for slot in slots) and any(not slot.standard for slot in slots)

    page = client_for(customer).get(book_url).content.decode()

    first = slots[0].start.astimezone(__import__("zoneinfo").ZoneInfo("Europe/London"))
    assert f'value="{slots[0].start.isoformat()}"' in page and first.strftime("%H:%M") in page
    assert "out-of-hours slot" in page


def test_switching_the_zone_shows_the_same_instants_in_another_clock(client_for, customer, book_url, approved):
    slot = slots_for(request=approved)[0]

    page = client_for(customer).get(book_url, {"tz": "Australia/Sydney"}).content.decode()

    sydney = slot.start.astimezone(__import__("zoneinfo").ZoneInfo("Australia/Sydney"))
    assert f'value="{slot.start.isoformat()}"' in page and sydney.strftime("%H:%M") in page


def test_the_customer_books_a_slot_and_sees_the_window(client_for, customer, book_url, approved):
    slot = next(slot for slot in slots_for(request=approved) if slot.standard)

    response = client_for(customer).post(book_url, {"start": slot.start.isoformat(), "tz": "Europe/London"})

    assert response.status_code == 200
    window = MaintenanceWindow.objects.get()
    assert window.period.lower == slot.start and window.engineer_id in slot.engineer_ids
    assert "Your window is booked" in response.content.decode()
    assert "Planned downtime" in response.content.decode()


def test_a_slot_that_is_not_free_is_refused_with_fresh_slots(client_for, customer, book_url):
    response = client_for(customer).post(book_url, {"start": datetime(2030, 1, 1, 3, 7).isoformat() + "+00:00"})

    assert response.status_code == 409
    assert "not free any more" in response.content.decode()
    assert not MaintenanceWindow.objects.exists()


def test_garbage_in_the_form_is_no_500(client_for, customer, book_url):
    for value in ["", "yesterday", "2027-13-45T99:00", "\x00"]:
        assert client_for(customer).post(book_url, {"start": value}).status_code == 409
    assert client_for(customer).get(book_url, {"tz": "Mars/Base"}).status_code == 200


def test_a_foreign_customer_gets_the_refusal_page(client_for, outsider, book_url):
    response = client_for(outsider).get(book_url)

    assert response.status_code == 403 and "not valid" in response.content.decode()
    assert client_for(outsider).post(book_url, {"start": "2027-01-01T10:00:00+00:00"}).status_code == 403


def test_the_times_follow_the_chosen_zone_not_the_users_own(client_for, customer, book_url, approved):
    from zoneinfo import ZoneInfo

    slot = next(slot for slot in slots_for(request=approved) if slot.standard)
    london, new_york = (slot.start.astimezone(ZoneInfo(zone)).strftime("%H:%M") for zone in ("Europe/London", "America/New_York"))

    page = client_for(customer).get(book_url, {"tz": "America/New_York"}).content.decode()

    button = page[page.index(f'value="{slot.start.isoformat()}"'):]
    label = button[button.index(">") + 1:button.index("</button>")]
    assert label == new_york != london
