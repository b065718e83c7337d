"""The scheduling link through the API, as on the request page (S8): support issues it, the
request's answer shows it to the customer and the support desk, and a customer asking for
slots is told honestly why there are none: no link issued yet, withdrawn, or expired. Every move
the request pages offer is in the API too."""

from datetime import datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from portal.models import Deployment, Notice, Organisation, User
from scheduling.models import SchedulingLink
from scheduling.services.links import link_issue, link_revoke, link_token
from tests.conftest import pass_second_factor
from tests.scheduling import stories
from upgrades.choices import RequestState
from upgrades.models import ItemAttachment, UpgradeRequest
from upgrades.services import checklist, requests
from upgrades.views.requests import ACTIONS

API = "/api/v1"


def api_for(user: User) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    pass_second_factor(client, user)
    return client


def issue(user: User, upgrade: UpgradeRequest):
    return api_for(user).post(f"{API}/requests/{upgrade.pk}/issue-link/", {}, content_type="application/json")


# Issuing --------------------------------------------------------------------------------------


def test_support_issues_the_link_and_the_answer_shows_it(approved, support):
    response = issue(support, approved)

    assert response.status_code == 200, response.content
    link = SchedulingLink.objects.get(request=approved)
    answer = response.json()["scheduling_link"]
    assert answer["state"] == "live"
    assert answer["url"].endswith(f"/book/{link_token(link)}/")
    # The same moment, whatever offset the API's zone has on that day (summer time or not).
    assert datetime.fromisoformat(answer["expires_at"]) == link.expires_at
    assert Notice.objects.filter(recipient="olivia.bennett@northwind.example", subject__contains="Book your maintenance window").exists()
    assert approved.timeline.filter(action="link_issued", actor=support).exists()


def test_the_customer_reads_the_link_and_an_engineer_only_that_it_exists(approved, support, customer, engineer):
    issue(support, approved)

    mine = api_for(customer).get(f"{API}/requests/{approved.pk}/").json()["scheduling_link"]
    theirs = api_for(engineer).get(f"{API}/requests/{approved.pk}/").json()["scheduling_link"]

    assert mine["state"] == "live" and "/book/" in mine["url"]
    assert theirs["state"] == "live" and theirs["url"] is None and theirs["expires_at"] == mine["expires_at"]


def test_before_any_link_the_answer_says_support_issues_it(approved, customer):
    answer = api_for(customer).get(f"{API}/requests/{approved.pk}/").json()["scheduling_link"]

    assert answer == {
        "state": "none", "url": None, "issued_at": None, "expires_at": None,
        "message": "No scheduling link has been issued for this upgrade yet: support issues it and e-mails it to you.",
    }


def test_a_request_not_approved_has_no_link_to_speak_of(customer, northwind_deployment, release):
    draft = requests.request_create(deployment=northwind_deployment, release=release, by=customer)

    assert api_for(customer).get(f"{API}/requests/{draft.pk}/").json()["scheduling_link"] is None


def test_a_customer_cannot_issue_their_own_link(approved, customer):
    assert issue(customer, approved).status_code == 403
    assert not SchedulingLink.objects.exists()


def test_an_outsider_finds_no_such_request(approved, outsider):
    assert issue(outsider, approved).status_code == 404
    assert not SchedulingLink.objects.exists()


def test_issue_link_answers_only_post(approved, support):
    assert api_for(support).get(f"{API}/requests/{approved.pk}/issue-link/").status_code == 405


def test_no_link_before_approval_is_409_with_the_reason(customer, support, northwind_deployment, release):
    draft = requests.request_create(deployment=northwind_deployment, release=release, by=customer)

    response = issue(support, draft)

    assert response.status_code == 409 and "only once the prerequisites are approved" in response.json()["detail"]
    assert not SchedulingLink.objects.exists()


def test_a_cloud_upgrade_gets_no_link(support, release, world):
    fabrikam = Deployment.objects.get(organisation=Organisation.objects.get(slug="fabrikam"))
    upgrade = stories.approve(fabrikam, by=support, release=release)

    response = issue(support, upgrade)

    assert response.status_code == 409 and "planned by the vendor" in response.json()["detail"]


def test_no_new_link_while_a_window_is_booked(approved, support, customer):
    from scheduling.selectors import slots_for
    from scheduling.services.booking import window_book

    link_issue(upgrade=approved, by=support)
    slot = next(slot for slot in slots_for(upgrade=approved) if slot.standard)
    window_book(upgrade=approved, start=slot.start, engineer_ids=list(slot.engineer_ids), cover="standard", by=customer)

    response = issue(support, approved)

    assert response.status_code == 409 and "booked maintenance window" in response.json()["detail"]
    assert SchedulingLink.objects.filter(request=approved, revoked_at__isnull=True).count() == 1


# Slots: why there are none ------------------------------------------------------------------------


def _slots(user: User, upgrade: UpgradeRequest):
    return api_for(user).get(f"{API}/requests/{upgrade.pk}/slots/")


def test_before_any_link_the_customer_is_told_support_issues_it(approved, customer):
    response = _slots(customer, approved)

    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "No scheduling link has been issued for this upgrade yet" in detail
    assert "withdrawn" not in detail and "expired" not in detail


def test_a_withdrawn_link_is_called_withdrawn(approved, customer, support):
    link_revoke(link=link_issue(upgrade=approved, by=support), by=support)

    detail = _slots(customer, approved).json()["detail"]

    assert "was withdrawn by support" in detail and "expired" not in detail


def test_an_expired_link_is_called_expired(approved, customer, support, time_machine):
    link = link_issue(upgrade=approved, by=support)
    time_machine.move_to(link.expires_at + timedelta(hours=1))

    detail = _slots(customer, approved).json()["detail"]

    assert f"expired on {link.expires_at:%d %B %Y}" in detail and "withdrawn" not in detail


# Every move of the request pages is in the API ------------------------------------------------------


API_MOVES = {
    "submit": "submit", "assign": "assign", "take_over": "take-over", "approve": "approve", "refuse": "refuse",
    "withdraw": "withdraw", "reopen": "reopen", "schedule_check": "schedule-check", "record_check": "record-check",
    "preflight": "preflight", "issue_link": "issue-link",
}


def test_every_move_of_the_request_page_has_its_api_route():
    from django.urls import reverse

    assert set(ACTIONS) == set(API_MOVES)
    for move in API_MOVES.values():
        assert reverse(f"api:upgraderequest-{move}", args=[1])


@pytest.fixture
def evidence_file(customer, northwind_deployment, release) -> ItemAttachment:
    upgrade = requests.request_create(deployment=northwind_deployment, release=release, by=customer)
    item = upgrade.items.get(key="remote_access")
    checklist.item_provide(item=item, by=customer, text="VPN", files=[SimpleUploadedFile("vpn.txt", b"profile")])
    return item.attachments.get()


def test_the_customer_deletes_an_evidence_file_as_on_the_page(evidence_file, customer):
    response = api_for(customer).delete(f"{API}/attachments/{evidence_file.pk}/")

    assert response.status_code == 204
    assert not ItemAttachment.objects.exists()


def test_an_outsider_cannot_delete_an_evidence_file(evidence_file, outsider):
    assert api_for(outsider).delete(f"{API}/attachments/{evidence_file.pk}/").status_code == 404
    assert ItemAttachment.objects.exists()


def test_a_file_of_a_closed_checklist_stays(evidence_file, customer):
    UpgradeRequest.objects.filter(pk=evidence_file.item.request_id).update(state=RequestState.APPROVED)

    response = api_for(customer).delete(f"{API}/attachments/{evidence_file.pk}/")

    assert response.status_code == 409 and "checklist is closed" in response.json()["detail"]
    assert ItemAttachment.objects.exists()
