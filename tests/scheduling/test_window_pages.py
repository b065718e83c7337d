"""The pages around a booked window: the staff calendar (week and list), the window page where
support confirms an out-of-hours request (S7), and support or the customer (before the cut-off)
moves or cancels it; and the prerequisite check booked from the request page on the same slot
engine (S2)."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from portal.models import Notice
from scheduling.choices import Purpose, WindowState
from scheduling.models import MaintenanceWindow
from scheduling.selectors import slots_for
from scheduling.services.booking import window_book
from upgrades.choices import RequestState

from tests.dates import FRIDAY
from tests.scheduling.stories import approve, more_deployments

# The windows are booked on the free slots of the day.
pytestmark = pytest.mark.day(FRIDAY)


def _book(upgrade, customer, *, standard: bool) -> MaintenanceWindow:
    """A window more than a week ahead, well before the customer's cut-off."""
    slot = next(
        slot for slot in slots_for(upgrade=upgrade)
        if slot.standard == standard and slot.start > timezone.now() + timedelta(days=7)
    )
    return window_book(
        upgrade=upgrade, start=slot.start, engineer_ids=list(slot.engineer_ids),
        cover="standard" if standard else "out_of_hours", by=customer,
    )


@pytest.fixture
def window(approved, customer):
    return _book(approved, customer, standard=True)


@pytest.fixture
def requested(approved, customer):
    """An out-of-hours booking, waiting for support (S7)."""
    return _book(approved, customer, standard=False)


def _url(window, action=None):
    return reverse("window-action", args=[window.pk, action]) if action else reverse("window-detail", args=[window.pk])


# The staff calendar ---------------------------------------------------------------------------


def test_support_sees_the_week_of_a_window_in_their_own_zone(client_for, support, window):
    local = window.start.astimezone(ZoneInfo(support.time_zone))

    page = client_for(support).get(reverse("windows"), {"week": local.date().isoformat()}).content.decode()

    assert f"{local:%H:%M}–" in page and "Northwind University" in page and "Production" in page
    assert "Major upgrade → 10.0.0" in page and "Confirmed" in page
    assert _url(window) in page
    assert page.count('class="week-day') == 7


def test_engineers_see_the_calendar_too_and_the_menu_leads_there(client_for, engineer, window):
    page = client_for(engineer).get(reverse("windows"), {"view": "list"}).content.decode()

    assert "Northwind University" in page and f'href="{reverse("windows")}"' in page


def test_customers_and_outsiders_get_no_calendar(client_for, customer, outsider, window):
    assert client_for(customer).get(reverse("windows")).status_code == 404
    assert client_for(outsider).get(reverse("windows")).status_code == 404


def test_the_calendar_answers_get_only(client_for, support):
    assert client_for(support).post(reverse("windows")).status_code == 405


def test_a_week_that_is_not_a_date_shows_this_week_and_says_so(client_for, support):
    response = client_for(support).get(reverse("windows"), {"week": "next tuesday"})

    assert response.status_code == 200 and "is not a date" in response.content.decode()


def test_the_list_puts_out_of_hours_requests_first(client_for, support, customer, requested, northwind):

    earlier = approve(more_deployments(northwind, 1)[0], by=customer, release=requested.request.release)
    standard = _book(earlier, customer, standard=True)

    page = client_for(support).get(reverse("windows"), {"view": "list"}).content.decode()

    assert page.index(_url(requested)) < page.index(_url(standard))
    assert "1 out-of-hours request" in page


def test_the_list_filters_by_engineer_and_state(client_for, support, customer, window, northwind):

    requested = _book(approve(more_deployments(northwind, 1)[0], by=customer, release=window.request.release), customer, standard=False)
    desk = client_for(support)

    confirmed = desk.get(reverse("windows"), {"view": "list", "state": "confirmed"}).content.decode()
    nobody = desk.get(reverse("windows"), {"view": "list", "engineer": support.pk}).content.decode()

    assert _url(window) in confirmed and _url(requested) not in confirmed
    assert "That engineer is not known" in nobody and _url(window) in nobody


def test_bad_filters_are_named_not_a_500(client_for, support):
    page = client_for(support).get(reverse("windows"), {"view": "list", "state": "lost", "engineer": "x"}).content.decode()

    assert "That state is not known" in page and "That engineer is not known" in page


# The window page ------------------------------------------------------------------------------


def test_the_customer_sees_their_window_in_their_clock_with_the_notice_to_forward(client_for, customer, window):
    page = client_for(customer).get(_url(window)).content.decode()

    london = window.start.astimezone(ZoneInfo("Europe/London"))
    assert f"{london:%H:%M}" in page and "Service at risk" in page
    assert '<textarea id="notice-' in page and 'data-copy="#notice-' in page
    assert "Move to another time" in page and "Cancel the window" in page
    assert "Confirm the window" not in page


def test_the_notice_follows_the_zone_asked_for(client_for, customer, window):
    page = client_for(customer).get(_url(window), {"tz": "America/New_York"}).content.decode()

    new_york = window.start.astimezone(ZoneInfo("America/New_York"))
    assert f"at {new_york:%H:%M}" in page and "(America/New_York)" in page


def test_staff_see_the_notices_and_their_states_and_the_timeline(client_for, support, window):
    page = client_for(support).get(_url(window)).content.decode()

    notices = Notice.objects.filter(topic=f"scheduling.maintenancewindow:{window.pk}")
    assert notices.exists()
    assert notices.first().recipient in page and "Pending" in page
    assert "booked the maintenance window" in page


def test_an_outsider_gets_404_for_the_page_and_its_actions(client_for, outsider, window):
    assert client_for(outsider).get(_url(window)).status_code == 404
    assert client_for(outsider).post(_url(window, "cancel"), {"reason": "mine now"}).status_code == 404
    window.refresh_from_db()
    assert window.state == WindowState.CONFIRMED


def test_actions_are_posts_and_known_ones(client_for, support, window):
    assert client_for(support).get(_url(window, "confirm")).status_code == 405
    assert client_for(support).post(_url(window, "explode")).status_code == 404
    assert client_for(support).put(_url(window)).status_code == 405


def test_support_confirms_an_out_of_hours_request(client_for, support, requested):
    response = client_for(support).post(_url(requested, "confirm"), follow=True)

    requested.refresh_from_db()
    assert requested.state == WindowState.CONFIRMED and requested.confirmed_by == support
    assert "The window is confirmed" in response.content.decode()


def test_confirming_twice_says_so_and_changes_nothing(client_for, support, window):
    response = client_for(support).post(_url(window, "confirm"), follow=True)

    assert "cannot be confirmed now" in response.content.decode()


def test_a_customer_cannot_confirm_out_of_hours_cover(client_for, customer, requested):
    assert client_for(customer).post(_url(requested, "confirm")).status_code == 403
    requested.refresh_from_db()
    assert requested.state == WindowState.REQUESTED


def test_support_moves_a_window_to_another_free_slot(client_for, support, window):
    later = next(slot for slot in slots_for(upgrade=window.request, exclude_window=window)
                 if slot.standard and slot.start > window.start)
    page = client_for(support).get(_url(window), {"start": later.start.isoformat()}).content.decode()
    assert f'value="{later.start.isoformat()}"' in page and "Confirm the move" in page

    response = client_for(support).post(_url(window, "reschedule"), {"start": later.start.isoformat(), "reason": "Engineer ill"}, follow=True)

    window.refresh_from_db()
    assert window.start == later.start and window.sequence == 1
    assert "The window is moved" in response.content.decode()


@pytest.mark.parametrize("start", ["", "tomorrow", "2031-01-01T03:07:00+00:00", "2027-13-45T99:00"])
def test_a_move_to_no_free_slot_is_refused_and_changes_nothing(client_for, support, window, start):
    before = window.start

    response = client_for(support).post(_url(window, "reschedule"), {"start": start}, follow=True)

    window.refresh_from_db()
    assert window.start == before and window.sequence == 0
    page = response.content.decode()
    assert "just taken" in page or "Choose one of the free slots" in page


def test_a_cancel_needs_a_reason(client_for, customer, window):
    response = client_for(customer).post(_url(window, "cancel"), {"reason": " "}, follow=True)

    window.refresh_from_db()
    assert window.state == WindowState.CONFIRMED and "Say why" in response.content.decode()


def test_the_customer_cancels_before_the_cutoff(client_for, customer, window):
    client_for(customer).post(_url(window, "cancel"), {"reason": "Exams moved"})

    window.refresh_from_db()
    assert window.state == WindowState.CANCELLED and window.cancelled_by == customer


def test_after_the_cutoff_the_customer_is_refused_and_support_is_not(client_for, customer, support, window):
    with time_machine.travel(window.start - timedelta(hours=20), tick=False):
        page = client_for(customer).get(_url(window)).content.decode()
        refused = client_for(customer).post(_url(window, "cancel"), {"reason": "Too late?"}, follow=True)
        window.refresh_from_db()
        assert window.state == WindowState.CONFIRMED
        client_for(support).post(_url(window, "cancel"), {"reason": "Customer called: exams."})

    assert "call support" in page and "Move to another time" not in page
    assert "Call support" in refused.content.decode()
    window.refresh_from_db()
    assert window.state == WindowState.CANCELLED and window.cancelled_by == support


def test_an_engineer_reads_but_does_not_change(client_for, engineer, window):
    assert client_for(engineer).get(_url(window)).status_code == 200
    assert client_for(engineer).post(_url(window, "cancel"), {"reason": "Busy"}).status_code == 403


# The prerequisite check, booked from the request page (S2) -------------------------------------


def test_support_books_the_check_on_a_free_slot(client_for, support, in_review):
    page = client_for(support).get(reverse("request-detail", args=[in_review.pk])).content.decode()
    slot = slots_for(upgrade=in_review, purpose=Purpose.CHECK, within=timedelta(days=14))[0]
    assert f'value="{slot.start.isoformat()}"' in page and "Erin Walsh" in page

    response = client_for(support).post(
        reverse("request-action", args=[in_review.pk, "schedule_check"]), {"start": slot.start.isoformat()}, follow=True
    )

    in_review.refresh_from_db()
    check = in_review.windows.get(purpose=Purpose.CHECK)
    assert in_review.state == RequestState.CHECK_SCHEDULED and in_review.check_at == slot.start == check.start
    assert check.engineer_id in slot.engineer_ids
    assert "The prerequisite check is scheduled" in response.content.decode()


@pytest.mark.parametrize("start", ["", "friday", "2031-01-01T03:07:00+00:00"])
def test_a_check_on_no_free_slot_is_refused_clearly(client_for, support, in_review, start):
    response = client_for(support).post(
        reverse("request-action", args=[in_review.pk, "schedule_check"]), {"start": start}, follow=True
    )

    in_review.refresh_from_db()
    assert in_review.state == RequestState.IN_REVIEW and not in_review.windows.exists()
    assert "free check slot" in response.content.decode() or "not free any more" in response.content.decode()
