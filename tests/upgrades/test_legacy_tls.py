"""S9 and the TLS versions a release drops: Contoso's A10 AX2500 still allows TLS 1.0.

A person must look at it: the customer says what they will do about it and support reviews it;
the submission mail names the load balancer. A release declares the TLS versions it no longer
offers, and while the load balancer still allows one of them, approval waits for the customer's
confirmation that its ciphers were changed."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from portal.models import Deployment, Notice
from upgrades.choices import CheckOutcome, ItemState, RequestState
from upgrades.models import ChecklistItem, Release, UpgradeRequest
from upgrades.services import checklist, releases, requests
from upgrades.workflow import WorkflowError

API = "/api/v1"
S9_ITEM = "a10_legacy_tls"
CIPHERS_ITEM = "lb_tls_dropped"


@pytest.fixture
def contoso_deployment(contoso) -> Deployment:
    return Deployment.objects.get(organisation=contoso)


@pytest.fixture
def contoso_request(outsider, contoso_deployment, release) -> UpgradeRequest:
    """Contoso's lead (the outsider of Northwind's stories) requests 10.0.0."""
    return requests.request_create(deployment=contoso_deployment, release=release, by=outsider)


def _checked(upgrade: UpgradeRequest, *, customer, support, engineer, leave_open: str = "") -> UpgradeRequest:
    """Every required item provided and accepted but `leave_open` (provided only), the check passed."""
    requests.request_submit(upgrade=upgrade, by=customer)
    requests.request_assign(upgrade=upgrade, by=support)
    for item in upgrade.items.filter(obsolete=False, required=True):
        if item.state in (ItemState.MISSING, ItemState.SENT_BACK):
            checklist.item_provide(item=item, by=customer, text="Done: see our change record CR-1042.")
        if item.key != leave_open:
            checklist.item_accept(item=item, by=support)
    requests.request_schedule_check(upgrade=upgrade, by=support, at=timezone.now() + timedelta(days=2), engineer=engineer)
    with time_machine.travel(upgrade.check_at + timedelta(minutes=10), tick=False):
        requests.request_record_check(upgrade=upgrade, by=engineer, outcome=CheckOutcome.PASSED)
    return upgrade


# S9: a person looks at the A10 ----------------------------------------------------------------


def test_the_a10_item_waits_for_the_customer_with_the_records_fact_as_guidance(contoso_request):
    item = contoso_request.items.get(key=S9_ITEM)

    assert item.required and item.state == ItemState.MISSING and item.evidence == ""
    assert "A10 AX2500 allows TLS 1.0" in item.guidance


def test_the_customer_says_what_they_will_do_and_support_reviews_it(contoso_request, outsider, support):
    item = contoso_request.items.get(key=S9_ITEM)
    requests.request_submit(upgrade=contoso_request, by=outsider)
    requests.request_assign(upgrade=contoso_request, by=support)

    checklist.item_provide(item=item, by=outsider, text="Our network team moves the VIP to a TLS 1.2 profile on 1 Dec.")
    checklist.item_accept(item=item, by=support)

    item.refresh_from_db()
    assert (item.state, item.provided_by, item.reviewed_by) == (ItemState.ACCEPTED, outsider, support)
    assert "TLS 1.2 profile" in item.evidence


def test_an_a10_item_once_filled_from_records_needs_a_person_again(contoso_request):
    """What the portal wrote into it by itself before is nobody's statement."""
    ChecklistItem.objects.filter(request=contoso_request, key=S9_ITEM).update(
        state=ItemState.PROVIDED, evidence="A10 AX2500 allows TLS 1.0.", provided_by=None
    )

    checklist.checklist_refresh(upgrade=contoso_request)

    item = contoso_request.items.get(key=S9_ITEM)
    assert (item.state, item.evidence) == (ItemState.MISSING, "")


def test_the_submission_mail_to_support_names_the_flagged_load_balancer(contoso_request, outsider):
    requests.request_submit(upgrade=contoso_request, by=outsider)

    mail = Notice.objects.filter(recipient="support@vendor.example", subject__contains="submitted").get()
    assert "A10 AX2500" in mail.body and "TLS 1.0" in mail.body and "S9" in mail.body


def test_a_deployment_without_the_flag_says_nothing_of_it(customer, northwind_deployment, release):
    upgrade = requests.request_create(deployment=northwind_deployment, release=release, by=customer)
    requests.request_submit(upgrade=upgrade, by=customer)

    mail = Notice.objects.filter(recipient="support@vendor.example", subject__contains="submitted").get()
    assert "S9" not in mail.body
    assert not upgrade.items.filter(key__in=[S9_ITEM, CIPHERS_ITEM]).exists()


# A release's dropped TLS versions ---------------------------------------------------------------


def test_the_demo_major_release_drops_tls_1_0_and_1_1_as_its_notes_say(release):
    assert release.drops_tls == ["1.0", "1.1"]
    assert Release.objects.get(version="9.5.0").drops_tls == []


def test_a_load_balancer_still_allowing_a_dropped_version_gets_a_required_item(contoso_request):
    item = contoso_request.items.get(key=CIPHERS_ITEM)

    assert item.required and item.state == ItemState.MISSING
    assert "ciphers" in item.title and "TLS 1.0 and 1.1" in item.title
    assert "A10 AX2500" in item.guidance


def test_a_release_that_drops_nothing_asks_for_nothing(outsider, contoso_deployment):
    upgrade = requests.request_create(
        deployment=contoso_deployment, release=Release.objects.get(version="9.5.0"), by=outsider
    )

    assert not upgrade.items.filter(key=CIPHERS_ITEM).exists()
    assert upgrade.items.filter(key=S9_ITEM).exists()  # S9 holds whatever the release


def test_what_a_release_on_the_way_dropped_counts_too(support, outsider, contoso_deployment):
    patch = releases.release_create(
        by=support, version="10.0.1", release_date="2026-11-20", openjdk_version="21.0.5", tomcat_version="10.1.33",
        notes="Fixes.",
    )
    releases.release_publish(release=patch, by=support)

    upgrade = requests.request_create(deployment=contoso_deployment, release=patch, by=outsider)

    assert "TLS 1.0 and 1.1" in upgrade.items.get(key=CIPHERS_ITEM).title


def test_approval_is_refused_naming_the_ciphers_until_that_item_is_accepted(contoso_request, outsider, support, engineer):
    _checked(contoso_request, customer=outsider, support=support, engineer=engineer, leave_open=CIPHERS_ITEM)

    with pytest.raises(WorkflowError, match="load balancer's ciphers") as refusal:
        requests.request_approve(upgrade=contoso_request, by=support)
    assert "A10 AX2500" in str(refusal.value) and "TLS 1.0" in str(refusal.value)
    contoso_request.refresh_from_db()
    assert contoso_request.state == RequestState.CHECK_SCHEDULED

    checklist.item_accept(item=contoso_request.items.get(key=CIPHERS_ITEM), by=support)
    requests.request_approve(upgrade=contoso_request, by=support)
    assert contoso_request.state == RequestState.APPROVED


def test_a_load_balancer_moved_to_tls_1_2_no_longer_asks(contoso_request, contoso_deployment):
    Deployment.objects.filter(pk=contoso_deployment.pk).update(min_tls_version="1.2")

    checklist.checklist_refresh(upgrade=UpgradeRequest.objects.get(pk=contoso_request.pk))

    assert contoso_request.items.get(key=CIPHERS_ITEM).obsolete
    assert contoso_request.items.get(key=S9_ITEM).obsolete


# Where releases are edited ----------------------------------------------------------------------


def test_the_api_reads_and_writes_the_dropped_versions(client_for, support):
    api = client_for(support)

    read = api.get(f"{API}/releases/10.0.0/")
    edited = api.patch(f"{API}/releases/10.1.0/", {"drops_tls": ["1.1", "1.0"]}, content_type="application/json")
    bad = api.patch(f"{API}/releases/10.1.0/", {"drops_tls": ["0.9"]}, content_type="application/json")

    assert read.json()["drops_tls"] == ["1.0", "1.1"]
    assert (edited.status_code, edited.json()["drops_tls"]) == (200, ["1.0", "1.1"])
    assert bad.status_code == 400 and "drops_tls" in bad.json()
    assert Release.objects.get(version="10.1.0").drops_tls == ["1.0", "1.1"]


def test_the_service_refuses_an_unknown_tls_version(support, world):
    with pytest.raises(ValidationError):
        releases.release_update(release=Release.objects.get(version="10.1.0"), by=support, drops_tls=["2.0"])
    assert Release.objects.get(version="10.1.0").drops_tls == []


def test_the_admin_edits_the_dropped_versions(client_for, admin_user):
    draft = Release.objects.get(version="10.1.0")
    url = f"/admin/upgrades/release/{draft.pk}/change/"
    client = client_for(admin_user)

    form = client.get(url).content.decode()
    response = client.post(url, {
        "version": draft.version, "release_date": draft.release_date.isoformat(), "openjdk_version": draft.openjdk_version,
        "tomcat_version": draft.tomcat_version, "notes": draft.notes, "drops_tls": ["1.0"],
    })

    assert 'name="drops_tls"' in form and "TLS 1.1" in form
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Release.objects.get(version="10.1.0").drops_tls == ["1.0"]
