"""Approval you can trust (S2, S8): a check's outcome is recorded only once the check has
started, approval needs it passed, and every message says what really happens next: the
scheduling link is still to be issued, and the customer's page shows it once it is live."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from portal.models import Notice
from scheduling.models import SchedulingLink
from scheduling.services.links import link_issue, link_revoke
from tests.upgrades.desk import check_booked
from upgrades.choices import CheckOutcome, RequestState
from upgrades.models import UpgradeRequest
from upgrades.services import requests
from upgrades.workflow import WorkflowError

API = "/api/v1"


@pytest.fixture
def scheduled(draft, customer, support, engineer) -> UpgradeRequest:
    """Every required item accepted, the check booked two days ahead."""
    return check_booked(draft, customer=customer, support=support, engineer=engineer)


@pytest.fixture
def check_started(scheduled):
    """The moment the check has begun."""
    with time_machine.travel(scheduled.check_at + timedelta(minutes=10), tick=False) as traveller:
        yield traveller


@pytest.fixture
def approved(scheduled, check_started, engineer, support) -> UpgradeRequest:
    requests.request_record_check(upgrade=scheduled, by=engineer, outcome=CheckOutcome.PASSED)
    requests.request_approve(upgrade=scheduled, by=support)
    return scheduled


def _next_steps(page: str) -> str:
    start = page.index("<strong>Next steps</strong>")
    return page[start:page.index("<strong>Timeline</strong>", start)]


# The check's outcome ------------------------------------------------------------------------


@pytest.mark.parametrize("outcome, notes", [(CheckOutcome.PASSED, ""), (CheckOutcome.FAILED, "Test user locked out.")])
def test_no_outcome_is_recorded_before_the_check_has_started(scheduled, engineer, outcome, notes):
    with pytest.raises(WorkflowError, match="once it has started"):
        requests.request_record_check(upgrade=scheduled, by=engineer, outcome=outcome, notes=notes)

    scheduled.refresh_from_db()
    assert (scheduled.state, scheduled.check_outcome) == (RequestState.CHECK_SCHEDULED, "")
    assert not scheduled.timeline.filter(action__in=["check_passed", "check_failed"]).exists()


def test_the_outcome_is_recorded_once_the_check_has_started(scheduled, check_started, engineer):
    requests.request_record_check(upgrade=scheduled, by=engineer, outcome=CheckOutcome.PASSED)

    scheduled.refresh_from_db()
    assert scheduled.check_outcome == CheckOutcome.PASSED


def test_the_page_refuses_an_early_outcome_and_says_when_the_check_starts(client_for, scheduled, support):
    response = client_for(support).post(
        reverse("request-action", args=[scheduled.pk, "record_check"]), {"outcome": "passed", "notes": ""}, follow=True
    )

    assert "once it has started" in response.content.decode()
    scheduled.refresh_from_db()
    assert scheduled.check_outcome == ""


def test_the_api_refuses_an_early_outcome_with_409(client_for, scheduled, engineer):
    response = client_for(engineer).post(
        f"{API}/requests/{scheduled.pk}/record-check/", {"outcome": "passed"}, content_type="application/json"
    )

    assert response.status_code == 409 and "once it has started" in response.json()["detail"]
    scheduled.refresh_from_db()
    assert scheduled.check_outcome == ""


def test_approval_still_needs_a_passed_check(scheduled, check_started, support):
    with pytest.raises(WorkflowError, match="check must have passed"):
        requests.request_approve(upgrade=scheduled, by=support)


# What the approval says happens next ----------------------------------------------------------


def test_support_is_told_to_issue_the_link_and_is_offered_it(client_for, scheduled, check_started, engineer, support):
    requests.request_record_check(upgrade=scheduled, by=engineer, outcome=CheckOutcome.PASSED)

    response = client_for(support).post(reverse("request-action", args=[scheduled.pk, "approve"]), follow=True)

    page = response.content.decode()
    assert "can book" not in page
    assert "Issue the scheduling link now" in page
    assert reverse("request-action", args=[scheduled.pk, "issue_link"]) in _next_steps(page)


def test_the_customers_mail_says_support_sends_the_link(approved):
    mail = Notice.objects.get(recipient="olivia.bennett@northwind.example", subject__contains="approved")

    assert "you can book" not in mail.subject.lower()
    assert "support will send you the scheduling link" in mail.subject.lower()
    assert "Support will send you the scheduling link" in mail.body


def test_the_customer_page_says_the_link_is_on_its_way_before_it_is_issued(client_for, approved, customer):
    steps = _next_steps(client_for(customer).get(reverse("request-detail", args=[approved.pk])).content.decode())

    assert "scheduling link is on its way" in steps
    assert "Book the maintenance window" not in steps


def test_the_customer_page_shows_the_live_link_in_next_steps(client_for, approved, customer, support):
    link = link_issue(upgrade=approved, by=support)

    steps = _next_steps(client_for(customer).get(reverse("request-detail", args=[approved.pk])).content.decode())

    from scheduling.services.links import link_token

    assert "Book the maintenance window" in steps and reverse("book", args=[link_token(link)]) in steps
    assert f"valid until {timezone.localtime(link.expires_at):%-d %B %Y}" in steps


def test_an_expired_link_is_not_offered(client_for, approved, customer, support, check_started):
    link = link_issue(upgrade=approved, by=support)
    check_started.move_to(link.expires_at + timedelta(minutes=1))

    steps = _next_steps(client_for(customer).get(reverse("request-detail", args=[approved.pk])).content.decode())

    assert "Book the maintenance window" not in steps and "expired" in steps


def test_a_revoked_link_is_not_offered(client_for, approved, customer, support):
    link_revoke(link=link_issue(upgrade=approved, by=support), by=support)

    steps = _next_steps(client_for(customer).get(reverse("request-detail", args=[approved.pk])).content.decode())

    assert "Book the maintenance window" not in steps and "withdrawn" in steps
    assert SchedulingLink.objects.get().revoked_at is not None
