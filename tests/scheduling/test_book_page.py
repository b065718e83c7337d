"""The booking page behind the scheduling link: free slots in the customer's zone, standard and
out-of-hours apart; a booking; a lost race answered with fresh slots, never a 500."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from scheduling.models import MaintenanceWindow
from scheduling.selectors import slots_for
from scheduling.services.links import link_issue, link_token
from tests.dates import FRIDAY, each_day

# The free slots depend on the day: every story here runs on one (some on each of tests.dates).
pytestmark = pytest.mark.day(FRIDAY)


@pytest.fixture
def book_url(approved, support):
    return reverse("book", args=[link_token(link_issue(upgrade=approved, by=support))])


def test_support_issues_the_link_from_the_request_page(client_for, support, customer, approved):
    client_for(support).post(reverse("request-action", args=[approved.pk, "issue_link"]))

    page = client_for(customer).get(reverse("request-detail", args=[approved.pk])).content.decode()
    assert "Book the maintenance window" in page and "/book/" in page


@each_day
def test_the_page_opens_on_the_first_free_slot_the_engine_offers(day, client_for, customer, book_url, approved):
    slots = slots_for(upgrade=approved)
    assert any(slot.standard for slot in slots) and any(not slot.standard for slot in slots)
    first = slots[0]
    local = _local(first.start)

    page = client_for(customer).get(book_url).content.decode()

    assert f'value="{first.start.isoformat()}"' in page
    assert f"7 days from {_long(local)}" in page
    cover = "within support hours" if first.standard else "out of hours (support confirms it)"
    assert f"Earliest free slot: <strong>{local:%A} {local.day} {local:%B, %H:%M}</strong>, {cover}" in page
    assert "out-of-hours slot" in page and "Previous 7 days" not in page


def test_switching_the_zone_shows_the_same_instants_in_another_clock(client_for, customer, book_url, approved):
    slot = slots_for(upgrade=approved)[0]

    page = client_for(customer).get(book_url, {"tz": "Australia/Sydney"}).content.decode()

    sydney = slot.start.astimezone(ZoneInfo("Australia/Sydney"))
    assert f'value="{slot.start.isoformat()}"' in page and sydney.strftime("%H:%M") in page


@each_day
def test_the_customer_books_a_slot_and_sees_the_window(day, client_for, customer, book_url, approved):
    slot = next(slot for slot in slots_for(upgrade=approved) if slot.standard)

    response = client_for(customer).post(book_url, {"start": slot.start.isoformat(), "tz": "Europe/London"}, follow=True)

    assert response.status_code == 200
    window = MaintenanceWindow.objects.get()
    assert window.period.lower == slot.start and window.engineer_id in slot.engineer_ids
    assert "Your window is booked" in response.content.decode()
    assert "Planned downtime" in response.content.decode()


def test_a_slot_that_is_not_free_is_refused_with_fresh_slots(client_for, customer, book_url):
    response = client_for(customer).post(book_url, {"start": datetime(2030, 1, 1, 3, 7).isoformat() + "+00:00"})

    assert response.status_code == 409
    assert "just taken" in response.content.decode()
    assert not MaintenanceWindow.objects.exists()


def test_garbage_in_the_form_is_no_500(client_for, customer, book_url):
    for value in ["", "yesterday", "2027-13-45T99:00", "\x00"]:
        assert client_for(customer).post(book_url, {"start": value}).status_code == 409
    assert client_for(customer).get(book_url, {"tz": "Mars/Base"}).status_code == 400  # said, see test_zone_picker


def test_a_foreign_customer_gets_the_refusal_page(client_for, outsider, book_url):
    response = client_for(outsider).get(book_url)

    assert response.status_code == 403 and "not valid" in response.content.decode()
    assert client_for(outsider).post(book_url, {"start": "2027-01-01T10:00:00+00:00"}).status_code == 403


def test_the_times_follow_the_chosen_zone_not_the_users_own(client_for, customer, book_url, approved):
    slot = next(slot for slot in slots_for(upgrade=approved) if slot.standard)
    london, new_york = (slot.start.astimezone(ZoneInfo(zone)).strftime("%H:%M") for zone in ("Europe/London", "America/New_York"))

    page = client_for(customer).get(book_url, {"tz": "America/New_York"}).content.decode()

    button = page[page.index(f'value="{slot.start.isoformat()}"'):]
    label = button[button.index(">") + 1:button.index("</button>")]
    assert label == new_york != london


# The week calendar ---------------------------------------------------------------------------


def _local(moment, zone="Europe/London"):
    return moment.astimezone(ZoneInfo(zone))


def _long(day) -> str:
    """A date as the page writes it: Sunday 29 November 2026."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def test_the_week_shows_seven_day_columns_with_standard_and_out_of_hours_apart(client_for, customer, book_url, approved):
    page = client_for(customer).get(book_url).content.decode()

    standard, out_of_hours = page.split('class="out-of-hours-slots"', 1)
    assert standard.count('class="slot standard') > 0 and 'class="slot out-of-hours' not in standard
    assert out_of_hours.count('class="slot out-of-hours') > 0 and 'class="slot standard' not in out_of_hours
    header = page[page.index('<table class="slot-grid standard">'):]
    assert header[:header.index("</thead>")].count('<th scope="col"') == 8  # the hour column and seven days


def test_slots_in_the_customers_low_usage_hours_are_highlighted(client_for, customer, book_url, northwind, approved):
    from datetime import time

    from scheduling.models import LowUsageHours

    northwind.low_usage_hours.all().delete()
    for weekday in range(5):
        LowUsageHours.objects.create(organisation=northwind, weekday=weekday, starts=time(8), ends=time(10))

    slots = slots_for(upgrade=approved)
    first = next(slot for slot in slots if slot.low_usage)
    week = (_local(first.start).date() - _local(slots[0].start).date()).days // 7

    page = client_for(customer).get(book_url, {"week": week}).content.decode()

    assert "in your low-usage hours" in page
    assert f'value="{first.start.isoformat()}" class="slot standard low-usage"' in page


def test_switching_the_zone_with_htmx_swaps_only_the_calendar(client_for, customer, book_url, approved):
    slot = next(slot for slot in slots_for(upgrade=approved) if slot.standard)

    response = client_for(customer).get(book_url, {"tz": "America/New_York"}, headers={"HX-Request": "true"})

    fragment = response.content.decode()
    assert fragment.lstrip().startswith('<div id="booking" ') and "<html" not in fragment
    assert _local(slot.start, "America/New_York").strftime("%H:%M") in fragment


def test_the_customer_pages_through_seven_days_at_a_time(client_for, customer, book_url, approved):
    slots = slots_for(upgrade=approved)
    first_day = _local(slots[0].start).date()
    second = [slot for slot in slots if 7 <= (_local(slot.start).date() - first_day).days < 14]

    page = client_for(customer).get(book_url, {"week": 1}, headers={"HX-Request": "true"}).content.decode()

    assert page.lstrip().startswith('<div id="booking" ')
    assert f"7 days from {_long(first_day + timedelta(days=7))}" in page
    assert all(f'value="{slot.start.isoformat()}"' in page for slot in second)
    assert f'value="{slots[0].start.isoformat()}"' not in page
    assert 'hx-get="?week=0&amp;tz=Europe/London"' in page and "Previous 7 days" in page and "show it" in page


def test_a_page_beyond_the_last_shows_the_last(client_for, customer, book_url, approved):
    last = slots_for(upgrade=approved)[-1]

    page = client_for(customer).get(book_url, {"week": 99}).content.decode()

    assert f'value="{last.start.isoformat()}"' in page and "Next 7 days" not in page
    assert client_for(customer).get(book_url, {"week": "soon"}).status_code == 200


# After the booking: the confirmation, the notice to forward, changes up to the cut-off -----------


@pytest.fixture
def booked(client_for, customer, book_url, approved):
    """A window a week ahead: well before the customer's cut-off."""
    slot = next(slot for slot in slots_for(upgrade=approved) if slot.standard and slot.start > timezone.now() + timedelta(days=7))
    client_for(customer).post(book_url, {"start": slot.start.isoformat()})
    return MaintenanceWindow.objects.get()


def test_the_booked_page_gives_the_times_and_the_notice_to_forward(client_for, customer, book_url, booked):
    page = client_for(customer).get(book_url, {"tz": "Europe/London"}).content.decode()

    start = _local(booked.start)
    assert start.strftime("%H:%M") in page and "Europe/London" in page
    assert "Service at risk" in page and "Planned downtime" in page
    assert '<textarea id="notice-' in page and "readonly" in page
    assert "Service at risk / limited capability from" in page  # S6's words, in the notice itself
    assert 'data-copy="#notice-' in page and "portal/copy.js" in page
    assert f"/windows/{booked.pk}/notice.txt?tz=Europe%2FLondon" in page
    assert f"/windows/{booked.pk}/invite.ics" in page


def test_a_double_click_books_once(client_for, customer, book_url, approved):
    slot = next(slot for slot in slots_for(upgrade=approved) if slot.standard)
    browser = client_for(customer)

    first = browser.post(book_url, {"start": slot.start.isoformat()})
    second = browser.post(book_url, {"start": slot.start.isoformat()})

    assert first.status_code == second.status_code == 302
    assert MaintenanceWindow.objects.count() == 1


def test_a_slot_taken_by_another_upgrade_is_refused_with_fresh_slots(client_for, customer, book_url, approved, northwind):
    from scheduling.services.booking import window_book
    from tests.scheduling.stories import approve, more_deployments

    slot = next(slot for slot in slots_for(upgrade=approved) if slot.standard and len(slot.engineer_ids) == 1)
    other = approve(more_deployments(northwind, 1)[0], by=customer, release=approved.release)
    window_book(upgrade=other, start=slot.start, engineer_ids=list(slot.engineer_ids), cover="standard", by=customer)

    response = client_for(customer).post(book_url, {"start": slot.start.isoformat()})

    page = response.content.decode()
    assert response.status_code == 409 and "This slot was just taken" in page
    assert f'value="{slot.start.isoformat()}"' not in page and 'class="slot standard' in page
    assert not approved.windows.exists()


def test_the_customer_moves_the_window_in_the_same_calendar(client_for, customer, book_url, approved, booked):
    page = client_for(customer).get(book_url, {"reschedule": "1"}).content.decode()
    assert "Moving your window" in page and 'name="reschedule" value="1"' in page
    later = next(slot for slot in slots_for(upgrade=approved, exclude_window=booked) if slot.standard and slot.start > booked.start)

    response = client_for(customer).post(book_url, {"action": "reschedule", "start": later.start.isoformat()}, follow=True)

    moved = MaintenanceWindow.objects.get()
    assert (moved.pk, moved.uid, moved.start, moved.sequence) == (booked.pk, booked.uid, later.start, booked.sequence + 1)
    assert "Your window is moved" in response.content.decode()


def test_a_move_to_a_slot_that_is_not_free_changes_nothing(client_for, customer, book_url, booked):
    response = client_for(customer).post(book_url, {"action": "reschedule", "start": "2031-01-01T03:07:00+00:00"})

    assert response.status_code == 409 and "just taken" in response.content.decode()
    booked.refresh_from_db()
    assert MaintenanceWindow.objects.get().start == booked.start


def test_the_customer_cancels_with_a_reason_and_may_book_again(client_for, customer, book_url, booked):
    refused = client_for(customer).post(book_url, {"action": "cancel", "reason": "  "})
    assert refused.status_code == 400 and "Say why" in refused.content.decode()
    assert MaintenanceWindow.objects.get().state == "confirmed"

    response = client_for(customer).post(book_url, {"action": "cancel", "reason": "Exams that week"}, follow=True)

    window = MaintenanceWindow.objects.get()
    assert window.state == "cancelled" and window.cancel_reason == "Exams that week"
    assert "Your window is cancelled" in response.content.decode() and 'class="slot standard' in response.content.decode()


@each_day
def test_the_customer_changes_the_window_up_to_the_cut_off_then_calls_support(day, client_for, customer, book_url, approved):
    slot = next(slot for slot in slots_for(upgrade=approved) if slot.standard and slot.start > timezone.now() + timedelta(hours=49))
    client_for(customer).post(book_url, {"start": slot.start.isoformat()})
    cut_off = slot.start - timedelta(hours=48)

    with time_machine.travel(cut_off - timedelta(minutes=1), tick=False):
        before = client_for(customer).get(book_url).content.decode()
    with time_machine.travel(cut_off + timedelta(minutes=1), tick=False):
        after = client_for(customer).get(book_url).content.decode()
        moved = client_for(customer).post(book_url, {"action": "reschedule", "start": slot.start.isoformat()})
        cancelled = client_for(customer).post(book_url, {"action": "cancel", "reason": "Too late?"})

    assert "Choose another time" in before and "call support" not in before
    assert "call support" in after and "Choose another time" not in after
    assert moved.status_code == 409 and "call support" in moved.content.decode().lower()
    assert cancelled.status_code == 409 and "Call support" in cancelled.content.decode()
    assert MaintenanceWindow.objects.get().state == "confirmed"


def test_the_page_answers_only_get_and_post(client_for, customer, book_url):
    assert client_for(customer).put(book_url).status_code == 405
    assert client_for(customer).delete(book_url).status_code == 405
