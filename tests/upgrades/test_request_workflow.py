"""From the request to the approval (S2, S8-S11), through the services every page and API call."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from portal import services as portal_services
from portal.choices import ContactRole
from portal.models import Contact, Deployment, Notice
from upgrades.choices import CheckOutcome, ItemState, RequestState, UpgradeKind
from upgrades.models import Release, UpgradeRequest
from upgrades.services import checklist, requests
from upgrades.workflow import WorkflowError


def _check_started(request):
    """The moment the prerequisite check has begun: its outcome can be recorded."""
    return time_machine.travel(request.check_at + timedelta(minutes=10))


def _fill_and_accept(request, customer, support):
    for item in request.items.filter(obsolete=False, measured=False):
        if item.state in (ItemState.MISSING, ItemState.SENT_BACK):
            checklist.item_provide(item=item, by=customer, text="Done: see our runbook, page 4.")
    for item in request.items.filter(obsolete=False, state=ItemState.PROVIDED):
        checklist.item_accept(item=item, by=support)


@pytest.fixture
def checked(draft, customer, support, engineer):
    """Submitted, reviewed, every item accepted, the check passed: ready to approve."""
    requests.request_submit(upgrade=draft, by=customer)
    requests.request_assign(upgrade=draft, by=support)
    _fill_and_accept(draft, customer, support)
    requests.request_schedule_check(upgrade=draft, by=support, at=timezone.now() + timedelta(days=2), engineer=engineer)
    with _check_started(draft):  # and the story goes on from there
        requests.request_record_check(upgrade=draft, by=engineer, outcome=CheckOutcome.PASSED)
        yield draft


def test_a_request_knows_its_kind_and_a_checklist_that_knows_the_deployment(draft, northwind_deployment):
    keys = set(draft.items.values_list("key", flat=True))

    assert (draft.kind, draft.from_version, draft.state) == (UpgradeKind.MAJOR, "9.4.2", RequestState.DRAFT)
    assert {"streamdb_backup", "vm_snapshots", "remote_access", "test_machine", "installation_files",
            "repository_validation", "contact:lead", "contact:directory_admin"} <= keys
    servers = northwind_deployment.servers.all()
    assert {f"directory_backup:{server.pk}" for server in servers} <= keys  # one line per server
    assert "a10_legacy_tls" not in keys
    lead = draft.items.get(key="contact:lead")
    assert lead.state == ItemState.PROVIDED and "Olivia Bennett" in lead.evidence


def test_a_minor_upgrade_needs_no_database_backup(customer, northwind_deployment):
    minor = Release.objects.get(version="9.5.0")

    request = requests.request_create(deployment=northwind_deployment, release=minor, by=customer)

    assert request.kind == UpgradeKind.MINOR
    assert not request.items.filter(key="streamdb_backup").exists()


def test_contoso_must_have_its_a10_acknowledged(outsider, contoso):
    deployment = Deployment.objects.get(organisation=contoso)

    request = requests.request_create(deployment=deployment, release=Release.objects.get(version="10.0.0"), by=outsider)

    item = request.items.get(key="a10_legacy_tls")
    assert item.required and "AX2500 allows TLS 1.0" in item.guidance
    assert item.state == ItemState.MISSING  # S9: a person says what is done about it, support reviews it


@pytest.mark.parametrize("version", ["9.4.2"])
def test_a_request_to_the_same_version_is_refused(customer, northwind_deployment, version):
    release = Release.objects.get(version=version)

    with pytest.raises(ValidationError, match="already runs 9.4.2: choose a newer release"):
        requests.request_create(deployment=northwind_deployment, release=release, by=customer)
    assert not UpgradeRequest.objects.exists()


def test_a_draft_release_cannot_be_requested(customer, northwind_deployment):
    with pytest.raises(ValidationError, match="not published"):
        requests.request_create(
            deployment=northwind_deployment, release=Release.objects.get(version="10.1.0"), by=customer
        )


def test_one_open_request_per_deployment(draft, customer, northwind_deployment):
    with pytest.raises(ValidationError, match="already has an open upgrade request"):
        requests.request_create(deployment=northwind_deployment, release=Release.objects.get(version="9.5.0"), by=customer)
    assert UpgradeRequest.objects.count() == 1


def test_an_outsider_cannot_request_for_another_organisation(outsider, northwind_deployment, release):
    with pytest.raises(PermissionDenied):
        requests.request_create(deployment=northwind_deployment, release=release, by=outsider)


def test_regenerating_keeps_what_was_provided_and_follows_new_facts(draft, customer, engineer, northwind_deployment, northwind):
    remote = draft.items.get(key="remote_access")
    checklist.item_provide(item=remote, by=customer, text="VPN, as for support")
    new_server = portal_services.server_create(
        deployment=northwind_deployment, by=engineer, role="stream", hostname="cpstream03.northwind.example",
        address="127.0.0.1", port=9109, driver="lab",
    )
    directory_admin = Contact.objects.get(organisation=northwind, roles__contains=[ContactRole.DIRECTORY_ADMIN])
    portal_services.contact_update(contact=directory_admin, by=customer, roles=[])

    assert checklist.checklist_refresh(upgrade=draft) is True

    remote.refresh_from_db()
    assert (remote.state, remote.evidence) == (ItemState.PROVIDED, "VPN, as for support")
    assert draft.items.filter(key=f"directory_backup:{new_server.pk}", state=ItemState.MISSING).exists()
    assert draft.items.get(key="contact:directory_admin").state == ItemState.MISSING
    assert checklist.checklist_refresh(upgrade=draft) is False  # nothing more to do


def test_support_must_assign_the_request_to_themselves_before_reviewing(draft, customer, support, other_support):
    requests.request_submit(upgrade=draft, by=customer)
    item = draft.items.get(key="contact:lead")

    with pytest.raises(WorkflowError, match="Assign the request to yourself first"):
        checklist.item_accept(item=item, by=support)

    requests.request_assign(upgrade=draft, by=support)
    with pytest.raises(WorkflowError, match="Sam Okafor is already working on this request"):
        requests.request_assign(upgrade=draft, by=other_support)
    with pytest.raises(WorkflowError, match="Sam Okafor is working on this request"):
        checklist.item_accept(item=item, by=other_support)
    assert checklist.item_accept(item=item, by=support).state == ItemState.ACCEPTED


def test_an_item_sent_back_needs_a_reason_and_reaches_the_customer(draft, customer, support):
    requests.request_submit(upgrade=draft, by=customer)
    requests.request_assign(upgrade=draft, by=support)
    remote = draft.items.get(key="remote_access")
    checklist.item_provide(item=remote, by=customer, text="TeamViewer")

    with pytest.raises(ValidationError):
        checklist.item_send_back(item=remote, by=support, reason="  ")
    checklist.item_send_back(item=remote, by=support, reason="We need the VPN used for support, not TeamViewer.")

    remote.refresh_from_db()
    assert remote.state == ItemState.SENT_BACK
    notice = Notice.objects.get(recipient="olivia.bennett@northwind.example", subject__contains="sent back")
    assert "not TeamViewer" in notice.body


def test_approval_waits_for_every_required_item(draft, customer, support, engineer):
    requests.request_submit(upgrade=draft, by=customer)
    requests.request_assign(upgrade=draft, by=support)
    requests.request_schedule_check(upgrade=draft, by=support, at=timezone.now() + timedelta(days=1), engineer=engineer)
    with _check_started(draft):
        requests.request_record_check(upgrade=draft, by=engineer, outcome=CheckOutcome.PASSED)

    with pytest.raises(WorkflowError, match="Every required item must be accepted first"):
        requests.request_approve(upgrade=draft, by=support)
    draft.refresh_from_db()
    assert draft.state == RequestState.CHECK_SCHEDULED


def test_approval_waits_for_a_passed_check(draft, customer, support, engineer):
    requests.request_submit(upgrade=draft, by=customer)
    requests.request_assign(upgrade=draft, by=support)
    _fill_and_accept(draft, customer, support)
    requests.request_schedule_check(upgrade=draft, by=support, at=timezone.now() + timedelta(days=1), engineer=engineer)

    with pytest.raises(WorkflowError, match="check must have passed"):
        requests.request_approve(upgrade=draft, by=support)


def test_a_failed_check_returns_the_request_to_review_and_tells_the_customer(checked, engineer, support):
    requests.request_schedule_check(upgrade=checked, by=support, at=timezone.now() + timedelta(days=3), engineer=engineer)

    with _check_started(checked):
        requests.request_record_check(upgrade=checked, by=engineer, outcome=CheckOutcome.FAILED, notes="Test user cannot log in.")

    checked.refresh_from_db()
    assert checked.state == RequestState.IN_REVIEW
    assert Notice.objects.filter(subject__contains="check failed", body__contains="Test user cannot log in").exists()


def test_support_approves_and_the_customer_hears(checked, support):
    requests.request_approve(upgrade=checked, by=support)

    checked.refresh_from_db()
    assert checked.state == RequestState.APPROVED
    assert Notice.objects.filter(recipient="olivia.bennett@northwind.example", subject__contains="approved").exists()


def test_two_approvals_at_once_approve_once(checked, support):
    stale = UpgradeRequest.objects.get(pk=checked.pk)  # the second person's page, loaded before
    requests.request_approve(upgrade=checked, by=support)

    with pytest.raises(WorkflowError, match="it is approved now"):
        requests.request_approve(upgrade=stale, by=support)
    assert checked.timeline.filter(action="approve").count() == 1


def test_a_new_fact_after_review_blocks_approval_until_reviewed(checked, support, engineer, northwind_deployment):
    portal_services.server_create(
        deployment=northwind_deployment, by=engineer, role="stream", hostname="cpstream07.northwind.example",
        address="127.0.0.1", driver="lab",
    )

    with pytest.raises(WorkflowError, match="cpstream07"):
        requests.request_approve(upgrade=checked, by=support)


def test_refusal_needs_a_reason_and_reopening_brings_it_back_to_review(checked, support):
    with pytest.raises(ValidationError):
        requests.request_refuse(upgrade=checked, by=support, reason="")
    requests.request_refuse(upgrade=checked, by=support, reason="No lead contact for the whole window (S10).")
    assert checked.state == RequestState.REFUSED

    requests.request_reopen(upgrade=checked, by=support, reason="Lead contact confirmed by phone.")

    assert checked.state == RequestState.IN_REVIEW
    assert list(checked.timeline.values_list("action", flat=True))[-2:] == ["refuse", "reopen"]


def test_the_customer_withdraws_and_may_then_request_again(draft, customer, northwind_deployment):
    requests.request_withdraw(upgrade=draft, by=customer, reason="Postponed to next term.")

    again = requests.request_create(deployment=northwind_deployment, release=Release.objects.get(version="9.5.0"), by=customer)

    assert draft.state == RequestState.WITHDRAWN and again.state == RequestState.DRAFT


def test_reopening_while_another_request_is_open_is_refused_clearly(draft, customer, support, northwind_deployment):
    requests.request_withdraw(upgrade=draft, by=customer)
    requests.request_create(deployment=northwind_deployment, release=Release.objects.get(version="9.5.0"), by=customer)

    with pytest.raises(WorkflowError, match="already has an open upgrade request"):
        requests.request_reopen(upgrade=draft, by=support, reason="By mistake")
    draft.refresh_from_db()
    assert draft.state == RequestState.WITHDRAWN


def test_every_move_is_logged_with_actor(checked, support):
    requests.request_approve(upgrade=checked, by=support)

    moves = list(checked.timeline.exclude(from_state="").values_list("action", "actor__email"))
    assert moves == [
        ("submit", "lead@northwind.example"),
        ("start_review", "support@vendor.example"),
        ("schedule_check", "support@vendor.example"),
        ("approve", "support@vendor.example"),
    ]


def test_a_measured_item_cannot_be_ticked_by_hand(draft, customer):
    measured = draft.items.get(key="servers_reachable")

    with pytest.raises(WorkflowError, match="measured by the preflight"):
        checklist.item_provide(item=measured, by=customer, text="They are fine, trust me")
    measured.refresh_from_db()
    assert measured.state == ItemState.MISSING


@pytest.mark.parametrize("version", ["9.04.2", "10.0.0.0", "٩.٥.١"])
def test_a_release_that_repeats_a_version_or_uses_foreign_digits_is_refused(support, world, version):
    from upgrades.services import releases

    with pytest.raises(ValidationError):
        releases.release_create(
            by=support, version=version, release_date="2026-12-01", openjdk_version="21.0.5",
            tomcat_version="10.1.31", notes="-",
        )
    assert Release.objects.count() == 4


def test_a_contact_whose_account_requested_an_upgrade_is_removed_and_the_request_keeps_who_asked(
    draft, customer, colleague, support
):
    with pytest.raises(PermissionDenied):  # not the lead: removes nobody
        portal_services.contact_delete(contact=customer.contact, by=colleague)
    assert Contact.objects.filter(pk=customer.contact.pk).exists()

    portal_services.contact_update(contact=colleague.contact, by=support, roles=[ContactRole.LEAD])
    portal_services.contact_delete(contact=customer.contact, by=support)

    customer.refresh_from_db()
    draft.refresh_from_db()
    assert not customer.is_active and draft.requested_by == customer
