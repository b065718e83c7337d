"""Cloud customers do not request upgrades (S3): the vendor plans them. The page and the API
refuse them, support still may open one, and a request a cloud customer opened before this
rule held is neither stranded nor a silent block on the cloud plan."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from portal.models import Deployment
from scheduling.models import MaintenanceWindow
from scheduling.services import cloud
from tests.factories import UpgradeRequestFactory
from upgrades.choices import RequestState
from upgrades.models import UpgradeRequest
from upgrades.services import requests
from upgrades.workflow import WorkflowError

API = "/api/v1"
# Three weeks after 10.0.0's release, as in the cloud plan's own tests.
NOW = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)


@pytest.fixture
def fabrikam_deployment(fabrikam) -> Deployment:
    return Deployment.objects.get(organisation=fabrikam)


@pytest.fixture
def stranded(fabrikam_deployment, fabrikam_lead, release) -> UpgradeRequest:
    """A request Fabrikam's lead opened by URL before cloud customers were refused."""
    return UpgradeRequestFactory(deployment=fabrikam_deployment, release=release, requested_by=fabrikam_lead)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


# Requesting ---------------------------------------------------------------------------------


def test_the_request_page_does_not_exist_for_a_cloud_customer(client_for, fabrikam_lead, fabrikam_deployment, release):
    client = client_for(fabrikam_lead)
    url = reverse("request-create", args=[fabrikam_deployment.pk])

    assert client.get(url).status_code == 404
    assert client.post(url, {"release": release.pk}).status_code == 404
    assert client.put(url).status_code == 405
    assert not UpgradeRequest.objects.exists()


def test_the_service_refuses_a_cloud_customer_and_says_why(fabrikam_lead, fabrikam_deployment, release):
    with pytest.raises(PermissionDenied, match="planned and carried out by the vendor"):
        requests.request_create(deployment=fabrikam_deployment, release=release, by=fabrikam_lead)
    assert not UpgradeRequest.objects.exists()


def test_the_api_refuses_a_cloud_customer_with_403_and_the_reason(client_for, fabrikam_lead, fabrikam_deployment):
    response = client_for(fabrikam_lead).post(
        f"{API}/requests/", {"deployment": fabrikam_deployment.pk, "release": "10.0.0"}, content_type="application/json"
    )

    assert response.status_code == 403
    assert "planned and carried out by the vendor" in response.json()["detail"]
    assert not UpgradeRequest.objects.exists()


def test_support_may_still_open_a_request_for_a_cloud_deployment(support, fabrikam_deployment, release):
    upgrade = requests.request_create(deployment=fabrikam_deployment, release=release, by=support)

    assert upgrade.state == RequestState.DRAFT


def test_an_on_premises_customer_still_requests(client_for, customer, northwind_deployment, release):
    response = client_for(customer).post(reverse("request-create", args=[northwind_deployment.pk]), {"release": release.pk})

    assert response.status_code == 302 and UpgradeRequest.objects.get().requested_by == customer


# What a cloud customer already holds ----------------------------------------------------------


def test_a_cloud_customer_cannot_submit_what_they_opened_before(stranded, fabrikam_lead):
    with pytest.raises(WorkflowError, match="planned by the vendor"):
        requests.request_submit(upgrade=stranded, by=fabrikam_lead)
    stranded.refresh_from_db()
    assert stranded.state == RequestState.DRAFT


def test_a_cloud_customer_is_offered_to_withdraw_what_they_opened_before(client_for, stranded, fabrikam_lead):
    client = client_for(fabrikam_lead)

    page = client.get(reverse("request-detail", args=[stranded.pk])).content.decode()
    response = client.post(reverse("request-action", args=[stranded.pk, "withdraw"]), {"reason": "Opened by mistake"})

    assert "Withdraw the request" in page and "Submit to support" not in page
    assert response.status_code == 302
    stranded.refresh_from_db()
    assert (stranded.state, stranded.decision_reason) == (RequestState.WITHDRAWN, "Opened by mistake")


def test_an_upgrade_the_vendor_planned_is_still_not_withdrawn_by_the_customer(frozen, client_for, support, release,
                                                                               fabrikam_lead):
    (window,) = cloud.cloud_plan_release(release=release, by=support).planned

    page = client_for(fabrikam_lead).get(reverse("request-detail", args=[window.request.pk])).content.decode()
    with pytest.raises(WorkflowError, match="ask support to change the plan"):
        requests.request_withdraw(upgrade=window.request, by=fabrikam_lead)
    assert "Withdraw the request" not in page


# The cloud plan names what blocks it ---------------------------------------------------------


def test_the_plan_names_the_request_that_blocks_it_with_a_link(frozen, client_for, support, release, stranded):
    response = client_for(support).post(reverse("cloud-plan", args=[release.version]), {"action": "plan"}, follow=True)

    page = response.content.decode()
    link = reverse("request-detail", args=[stranded.pk])
    assert f"upgrade request #{stranded.pk}" in page and f'href="{link}"' in page
    assert "is draft, not approved" in page
    assert not MaintenanceWindow.objects.exists()


def test_the_service_names_the_blocking_request(frozen, support, release, stranded):
    (unplanned,) = cloud.cloud_plan_release(release=release, by=support).unplanned

    assert unplanned.blocking == stranded
    assert f"#{stranded.pk}" in unplanned.reason


def test_the_plan_table_shows_the_requests_real_state(frozen, client_for, support, release, stranded):
    page = client_for(support).get(reverse("cloud-plan", args=[release.version])).content.decode()

    row = page[page.index('id="cloud-'):]
    row = row[:row.index("</tr>")]
    assert "Approved" not in row
    assert "Draft" in row and f'href="{reverse("request-detail", args=[stranded.pk])}"' in row


def test_a_request_to_another_release_that_blocks_the_plan_is_shown_too(frozen, client_for, support, release,
                                                                         fabrikam_deployment, fabrikam_lead):
    from upgrades.models import Release

    older = UpgradeRequestFactory(deployment=fabrikam_deployment, release=Release.objects.get(version="9.5.0"),
                                  requested_by=fabrikam_lead, state=RequestState.SUBMITTED)

    page = client_for(support).get(reverse("cloud-plan", args=[release.version])).content.decode()

    row = page[page.index('id="cloud-'):]
    row = row[:row.index("</tr>")]
    assert "9.5.0" in row and "Submitted" in row and f'href="{reverse("request-detail", args=[older.pk])}"' in row
