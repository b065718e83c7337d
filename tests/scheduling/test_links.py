"""Scheduling links (S8): only for an approved request, signed, expiring, revocable, and only
for the customer's own organisation."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from portal.models import Notice
from scheduling.models import SchedulingLink
from scheduling.services.links import LinkRefused, link_issue, link_open, link_revoke, link_token
from upgrades.choices import RequestState
from upgrades.models import UpgradeRequest
from upgrades.services import requests
from upgrades.workflow import WorkflowError


def test_support_issues_a_link_and_the_customer_is_mailed_it(approved, support):
    link = link_issue(upgrade=approved, by=support)

    notice = Notice.objects.get(recipient="olivia.bennett@northwind.example", subject__contains="Book your maintenance window")
    assert link_token(link) in notice.body


def test_no_link_before_approval(customer, support, northwind_deployment, release):
    draft = requests.request_create(deployment=northwind_deployment, release=release, by=customer)

    with pytest.raises(WorkflowError, match="only once the prerequisites are approved"):
        link_issue(upgrade=draft, by=support)
    assert not SchedulingLink.objects.exists()


def test_a_customer_cannot_issue_their_own_link(approved, customer):
    with pytest.raises(PermissionDenied):
        link_issue(upgrade=approved, by=customer)


def test_the_customer_opens_a_valid_link(approved, support, customer, colleague):
    link = link_issue(upgrade=approved, by=support)

    assert link_open(token=link_token(link), by=customer) == link
    assert link_open(token=link_token(link), by=colleague) == link
    assert approved.timeline.filter(action="link_opened").count() == 2


def test_a_link_opened_again_and_again_is_on_the_timeline_once_per_person(approved, support, customer, client_for):
    link = link_issue(upgrade=approved, by=support)
    page = client_for(customer)
    url = reverse("book", args=[link_token(link)])
    for query in ({}, {"week": 1}, {"tz": "Europe/Paris"}, {}):
        assert page.get(url, query).status_code == 200
    assert approved.timeline.filter(action="link_opened", actor=customer).count() == 1


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda link, token: token[:-2] + "xx", "not valid"),
        (lambda link, token: SchedulingLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(seconds=1)) and token, "expired"),
        (lambda link, token: SchedulingLink.objects.filter(pk=link.pk).update(revoked_at=timezone.now()) and token, "replaced or withdrawn"),
        (lambda link, token: UpgradeRequest.objects.filter(pk=link.request_id).update(state=RequestState.IN_REVIEW) and token, "not approved"),
    ],
)
def test_a_spoilt_link_says_why_and_opens_nothing(approved, support, customer, spoil, message):
    link = link_issue(upgrade=approved, by=support)
    token = spoil(link, link_token(link))

    with pytest.raises(LinkRefused, match=message):
        link_open(token=token, by=customer)


def test_another_organisations_link_is_just_not_valid(approved, support, outsider):
    link = link_issue(upgrade=approved, by=support)

    with pytest.raises(LinkRefused, match="not valid"):
        link_open(token=link_token(link), by=outsider)


def test_a_new_link_replaces_the_old_one(approved, support, customer):
    old = link_issue(upgrade=approved, by=support)
    new = link_issue(upgrade=approved, by=support)

    with pytest.raises(LinkRefused, match="replaced"):
        link_open(token=link_token(old), by=customer)
    assert link_open(token=link_token(new), by=customer) == new


def test_support_revokes_a_link(approved, support, customer):
    link = link_issue(upgrade=approved, by=support)
    link_revoke(link=link, by=support)

    with pytest.raises(LinkRefused):
        link_open(token=link_token(link), by=customer)
    assert approved.timeline.filter(action="link_revoked").exists()
