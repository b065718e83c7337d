"""The upgrades API, told by the people who use it: a customer requests an upgrade and fills its
checklist, support reviews and approves, and the rules of the pages hold (403 for a move that is
not yours, 404 for another organisation's rows, 409 for a move lost or not allowed now)."""

import threading
from datetime import datetime, timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from drf_spectacular.drainage import GENERATOR_STATS

from portal.celery import app as celery_app
from portal.models import Deployment, Notice, User
from upgrades.choices import ItemState, ReleaseState, RequestState
from upgrades.evidence import MAX_BYTES
from upgrades.models import ChecklistItem, ItemAttachment, Release, RequestEvent, UpgradeRequest
from upgrades.services import checklist, requests
from tests.conftest import pass_second_factor

API = "/api/v1"


class Api(Client):
    """A logged-in client that speaks JSON; `upload` sends multipart/form-data."""

    def post(self, path, data=None, **extra):
        return super().post(path, {} if data is None else data, content_type="application/json", **extra)

    def patch(self, path, data=None, **extra):
        return super().patch(path, {} if data is None else data, content_type="application/json", **extra)

    def upload(self, path, data):
        return super().post(path, data)


def api_for(user: User) -> Api:
    client = Api()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    pass_second_factor(client, user)
    return client


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def item(upgrade: UpgradeRequest, key: str) -> ChecklistItem:
    return upgrade.items.get(key=key)


@pytest.fixture
def submitted(draft, customer) -> UpgradeRequest:
    """Submitted, with the remote access and the database backup described."""
    checklist.item_provide(item=item(draft, "remote_access"), by=customer, text="Site-to-site VPN, profile attached.")
    checklist.item_provide(item=item(draft, "streamdb_backup"), by=customer, text="Nightly full backup at 02:00.")
    requests.request_submit(upgrade=draft, by=customer)
    return draft


def provide_and_accept_all_but(upgrade: UpgradeRequest, customer: User, support: User, *, left_open: str = "") -> None:
    for row in upgrade.items.filter(obsolete=False, required=True).exclude(key=left_open):
        if row.state in (ItemState.MISSING, ItemState.SENT_BACK):
            checklist.item_provide(item=row, by=customer, text="In place: see our runbook, page 4.")
        if row.state != ItemState.ACCEPTED:
            checklist.item_accept(item=row, by=support)


@pytest.fixture
def scheduled(submitted, customer, support) -> UpgradeRequest:
    """Assigned to support, every required item accepted but the test machine, check booked."""
    requests.request_assign(upgrade=submitted, by=support)
    provide_and_accept_all_but(submitted, customer, support, left_open="test_machine")
    checklist.item_provide(item=item(submitted, "test_machine"), by=customer, text="VM cp-test01, user svc-test.")
    return submitted


def free_check_slot(upgrade: UpgradeRequest, engineer: User):
    """A free check slot the engineer can take, a few days ahead."""
    from scheduling.selectors import slots_for

    return next(
        slot for slot in slots_for(upgrade=upgrade, purpose="check")
        if engineer.pk in slot.engineer_ids and slot.start > timezone.now() + timedelta(days=2)
    )


def book_and_pass_the_check(upgrade: UpgradeRequest, support: User, engineer: User) -> dict:
    slot = free_check_slot(upgrade, engineer)
    booked = api_for(support).post(f"{API}/requests/{upgrade.pk}/schedule-check/", {"start": slot.start.isoformat()})
    assert booked.status_code == 200, booked.content
    # The same instant, on the clock of the user's zone (London: +01:00 in summer).
    assert datetime.fromisoformat(booked.json()["check"]["at"]) == slot.start
    with time_machine.travel(slot.start + timedelta(minutes=10), tick=False):  # the check has started
        passed = api_for(engineer).post(f"{API}/requests/{upgrade.pk}/record-check/", {"outcome": "passed", "notes": "All good."})
    assert passed.status_code == 200, passed.content
    return passed.json()


def snapshot(upgrade: UpgradeRequest) -> tuple:
    """What a refused write must leave as it was."""
    upgrade.refresh_from_db()
    return (
        upgrade.state, upgrade.assignee_id, upgrade.decision_reason,
        list(upgrade.items.order_by("pk").values_list("state", "evidence", "review_note")),
        upgrade.timeline.count(), ItemAttachment.objects.count(), Notice.objects.count(),
    )


class TestACustomer:
    def test_it_requests_an_upgrade_fills_the_checklist_and_submits(self, customer, northwind_deployment, release):
        api = api_for(customer)

        created = api.post(f"{API}/requests/", {"deployment": northwind_deployment.pk, "release": "10.0.0"})

        assert created.status_code == 201, created.content
        answer = created.json()
        upgrade = UpgradeRequest.objects.get(pk=answer["id"])
        assert (upgrade.deployment, upgrade.release, upgrade.requested_by) == (northwind_deployment, release, customer)
        assert {key: answer[key] for key in ("organisation", "deployment", "release", "from_version", "kind", "state", "assignee")} == {
            "organisation": "northwind", "deployment": northwind_deployment.pk, "release": "10.0.0",
            "from_version": "9.4.2", "kind": "major", "state": "draft", "assignee": None,
        }
        assert answer["impact"] == {
            "summary": "Service at risk / limited capability for 40 minutes (4 servers x 10 minutes). "
            "Service downtime starting about 5 minutes in, for about 15 minutes.",
            "servers": 4, "at_risk_minutes": 40, "downtime_offset_minutes": 5, "downtime_minutes": 15, "whole_window": "",
        }
        assert answer["check"] == {"at": None, "engineer": None, "outcome": "", "notes": ""}
        items = {row["key"]: row for row in answer["items"]}
        assert {"streamdb_backup", "remote_access", "test_machine", "repository_validation"} <= set(items)
        required = [row for row in answer["items"] if row["required"]]
        ready = sum(row["state"] in ("provided", "accepted") for row in required)
        assert answer["progress"] == {"total": len(required), "ready": ready, "accepted": 0}
        assert items["servers_reachable"]["measured"] and not items["servers_reachable"]["required"]
        assert answer == api.get(f"{API}/requests/{upgrade.pk}/").json()

        text = api.post(f"{API}/checklist-items/{items['remote_access']['id']}/provide/", {"text": "Site-to-site VPN"})
        assert text.status_code == 200, text.content
        assert (text.json()["state"], text.json()["evidence"]) == ("provided", "Site-to-site VPN")
        assert text.json()["provided_by"] == {"id": customer.pk, "full_name": "Olivia Bennett"}

        plan = SimpleUploadedFile("backup-plan.pdf", b"%PDF-1.7 the backup plan", content_type="application/pdf")
        file = api.upload(f"{API}/checklist-items/{items['streamdb_backup']['id']}/provide/", {"files": [plan]})
        assert file.status_code == 200, file.content
        [attachment] = file.json()["attachments"]
        assert {key: attachment[key] for key in ("name", "content_type", "size")} == {
            "name": "backup-plan.pdf", "content_type": "application/pdf", "size": 24,
        }
        download = api.get(attachment["download"])
        assert download.content == b"%PDF-1.7 the backup plan"
        assert download["Content-Type"] == "application/pdf"
        assert download["Content-Disposition"] == 'attachment; filename="backup-plan.pdf"'
        assert api.get(f"{API}/attachments/{attachment['id']}/").json() == attachment

        mine = results(api.get(f"{API}/checklist-items/?request={upgrade.pk}"))
        assert {row["key"]: row["state"] for row in mine}.items() >= {"remote_access": "provided", "streamdb_backup": "provided"}.items()

        sent = api.post(f"{API}/requests/{upgrade.pk}/submit/")

        assert sent.status_code == 200, sent.content
        assert (sent.json()["state"], sent.json()["progress"]["ready"]) == ("submitted", ready + 2)
        assert sent.json()["submitted_at"] is not None
        upgrade.refresh_from_db()
        assert upgrade.state == RequestState.SUBMITTED
        assert Notice.objects.filter(recipient="support@vendor.example", subject__contains="submitted").exists()

    def test_it_cannot_approve_its_own_request(self, customer, support, engineer, scheduled):
        checklist.item_accept(item=item(scheduled, "test_machine"), by=support)
        book_and_pass_the_check(scheduled, support, engineer)
        before = snapshot(scheduled)

        response = api_for(customer).post(f"{API}/requests/{scheduled.pk}/approve/")

        assert response.status_code == 403
        assert snapshot(scheduled) == before

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("post", "/requests/{request}/assign/"),
            ("post", "/checklist-items/{item}/accept/"),
            ("post", "/checklist-items/{item}/send-back/"),
            ("post", "/requests/{request}/refuse/"),
            ("post", "/requests/{request}/reopen/"),
            ("post", "/requests/{request}/record-check/"),
        ],
    )
    def test_it_cannot_do_supports_work(self, customer, submitted, method, path):
        before = snapshot(submitted)
        path = API + path.format(request=submitted.pk, item=item(submitted, "remote_access").pk)
        body = {"reason": "Because I can.", "outcome": "passed"}

        assert getattr(api_for(customer), method)(path, body).status_code == 403
        assert snapshot(submitted) == before

    def test_it_withdraws_and_support_reopens(self, customer, support, submitted):
        withdrawn = api_for(customer).post(f"{API}/requests/{submitted.pk}/withdraw/", {"reason": "Postponed to next term."})
        assert (withdrawn.status_code, withdrawn.json()["state"]) == (200, "withdrawn")
        assert withdrawn.json()["decision_reason"] == "Postponed to next term."

        reopened = api_for(support).post(f"{API}/requests/{submitted.pk}/reopen/", {"reason": "Term dates moved."})

        assert (reopened.status_code, reopened.json()["state"]) == (200, "in_review")
        assert reopened.json()["assignee"]["full_name"] == "Sam Okafor"

    def test_it_cannot_tick_a_measured_item_by_hand(self, customer, draft):
        measured = item(draft, "servers_reachable")
        before = snapshot(draft)

        response = api_for(customer).post(f"{API}/checklist-items/{measured.pk}/provide/", {"text": "Trust me"})

        assert (response.status_code, response.json()) == (
            409, {"detail": "This item is measured by the preflight, not filled in: run the preflight."}
        )
        assert snapshot(draft) == before

    def test_it_asks_for_a_preflight(self, customer, draft):
        response = api_for(customer).post(f"{API}/requests/{draft.pk}/preflight/")

        assert response.status_code == 202
        assert response.json()["id"] == draft.pk
        assert draft.timeline.filter(action="preflight_requested", actor=customer).exists()


@pytest.fixture
def contoso_rows(outsider, contoso, release) -> dict:
    deployment = Deployment.objects.get(organisation=contoso)
    upgrade = requests.request_create(deployment=deployment, release=release, by=outsider)
    remote = item(upgrade, "remote_access")
    checklist.item_provide(item=remote, by=outsider, files=[SimpleUploadedFile("vpn.txt", b"Contoso VPN profile")], text="")
    return {"request": upgrade.pk, "item": remote.pk, "attachment": remote.attachments.get().pk, "deployment": deployment.pk}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/requests/{request}/"),
        ("post", "/requests/{request}/submit/"),
        ("post", "/requests/{request}/withdraw/"),
        ("post", "/requests/{request}/preflight/"),
        ("get", "/checklist-items/{item}/"),
        ("get", "/checklist-items/?request={request}"),
        ("post", "/checklist-items/{item}/provide/"),
        ("get", "/attachments/{attachment}/"),
        ("get", "/attachments/{attachment}/download/"),
    ],
)
def test_a_customer_finds_nothing_of_another_organisation(customer, contoso_rows, method, path):
    upgrade = UpgradeRequest.objects.get(pk=contoso_rows["request"])
    before = snapshot(upgrade)

    api, path = api_for(customer), API + path.format(**contoso_rows)
    response = api.get(path) if method == "get" else api.post(path, {"text": "Mine now"})

    assert response.status_code == 404
    assert b"Contoso" not in response.content
    assert snapshot(upgrade) == before


def test_another_organisations_rows_are_not_listed(customer, draft, contoso_rows):
    api = api_for(customer)
    assert [row["id"] for row in results(api.get(f"{API}/requests/"))] == [draft.pk]
    assert {row["request"] for row in results(api.get(f"{API}/checklist-items/"))} == {draft.pk}
    created = api.post(f"{API}/requests/", {"deployment": contoso_rows["deployment"], "release": "10.0.0"})
    assert created.status_code == 400
    assert created.json() == {"deployment": [f'Invalid pk "{contoso_rows["deployment"]}" - object does not exist.']}


class TestSupport:
    def test_it_assigns_reviews_and_the_customer_reads_why_an_item_came_back(self, support, customer, submitted):
        api = api_for(support)
        remote, backup = item(submitted, "remote_access"), item(submitted, "streamdb_backup")

        assigned = api.post(f"{API}/requests/{submitted.pk}/assign/")
        assert assigned.status_code == 200, assigned.content
        assert (assigned.json()["state"], assigned.json()["assignee"]) == ("in_review", {"id": support.pk, "full_name": "Sam Okafor"})

        accepted = api.post(f"{API}/checklist-items/{remote.pk}/accept/")
        assert accepted.status_code == 200, accepted.content
        assert (accepted.json()["state"], accepted.json()["reviewed_by"]["full_name"]) == ("accepted", "Sam Okafor")

        reason = "Say where the backup is kept and who restores it."
        sent_back = api.post(f"{API}/checklist-items/{backup.pk}/send-back/", {"reason": reason})
        assert sent_back.status_code == 200, sent_back.content

        seen = api_for(customer).get(f"{API}/checklist-items/{backup.pk}/").json()
        assert (seen["state"], seen["review_note"]) == ("sent_back", reason)
        page = api_for(customer).get(f"{API}/requests/{submitted.pk}/").json()
        assert page["progress"]["accepted"] == 1
        assert next(row for row in page["items"] if row["key"] == "streamdb_backup")["review_note"] == reason
        assert Notice.objects.filter(recipient="olivia.bennett@northwind.example", body__contains=reason).exists()

    def test_it_must_take_the_request_before_reviewing(self, support, submitted):
        before = snapshot(submitted)

        response = api_for(support).post(f"{API}/checklist-items/{item(submitted, 'remote_access').pk}/accept/")

        assert (response.status_code, response.json()) == (409, {"detail": "Assign the request to yourself first."})
        assert snapshot(submitted) == before

    def test_a_second_support_person_is_told_who_works_on_it(self, support, other_support, submitted):
        api_for(support).post(f"{API}/requests/{submitted.pk}/assign/")
        before = snapshot(submitted)
        api = api_for(other_support)

        accept = api.post(f"{API}/checklist-items/{item(submitted, 'remote_access').pk}/accept/")
        assign = api.post(f"{API}/requests/{submitted.pk}/assign/")

        assert (accept.status_code, accept.json()) == (409, {"detail": "Sam Okafor is working on this request."})
        assert (assign.status_code, assign.json()) == (409, {"detail": "Sam Okafor is already working on this request."})
        assert snapshot(submitted) == before

        taken = api.post(f"{API}/requests/{submitted.pk}/take-over/")
        assert (taken.status_code, taken.json()["assignee"]["full_name"]) == (200, "Kim Desk")

    def test_it_cannot_approve_while_an_item_is_not_accepted(self, support, engineer, scheduled):
        book_and_pass_the_check(scheduled, support, engineer)
        before = snapshot(scheduled)

        response = api_for(support).post(f"{API}/requests/{scheduled.pk}/approve/")

        assert response.status_code == 409
        assert response.json() == {
            "detail": "Every required item must be accepted first. Still open: Test machine and test user account."
        }
        assert snapshot(scheduled) == before
        assert scheduled.state == RequestState.CHECK_SCHEDULED

    def test_it_books_the_check_and_approves_once_everything_is_in_place(self, support, engineer, customer, scheduled):
        checked = book_and_pass_the_check(scheduled, support, engineer)
        assert checked["state"] == "check_scheduled"
        assert (checked["check"]["engineer"], checked["check"]["outcome"]) == (
            {"id": engineer.pk, "full_name": "Erin Walsh"}, "passed",
        )
        api_for(support).post(f"{API}/checklist-items/{item(scheduled, 'test_machine').pk}/accept/")

        approved = api_for(support).post(f"{API}/requests/{scheduled.pk}/approve/")

        assert approved.status_code == 200, approved.content
        assert approved.json()["state"] == "approved"
        assert Notice.objects.filter(recipient=customer.contact.email, subject__contains="approved").exists()
        again = api_for(support).post(f"{API}/requests/{scheduled.pk}/approve/")
        assert (again.status_code, again.json()) == (409, {"detail": "You cannot approve this request: it is approved now."})

    def test_the_queue_filters_by_state_assignee_and_search(self, support, customer, submitted, contoso_rows):
        api = api_for(support)
        contoso = contoso_rows["request"]

        def ids(query):
            return [row["id"] for row in results(api.get(f"{API}/requests/?{query}"))]

        assert ids("assignee=nobody") == [submitted.pk, contoso]
        assert ids("state=submitted") == [submitted.pk]
        assert ids("state=submitted&state=draft") == [submitted.pk, contoso]
        assert ids("search=contoso") == [contoso]
        assert ids("search=10.0") == [submitted.pk, contoso]
        api.post(f"{API}/requests/{submitted.pk}/assign/")
        assert ids("assignee=me") == [submitted.pk]
        assert ids("state=in_review&assignee=nobody") == []
        [row] = results(api.get(f"{API}/requests/?assignee=me"))
        required = submitted.items.filter(obsolete=False, required=True)
        assert row["progress"] == {
            "total": required.count(),
            "ready": required.filter(state__in=["provided", "accepted"]).count(),
            "accepted": 0,
        }
        bad = api.get(f"{API}/requests/?state=lost&assignee=everyone")
        assert bad.status_code == 400
        assert set(bad.json()) == {"state", "assignee"}


@pytest.mark.django_db(transaction=True)
def test_two_approvals_at_once_approve_once(world, customer, support, engineer, scheduled, monkeypatch):
    # Notices are delivered in the thread that commits them (to Django's test mailbox).
    monkeypatch.setattr(celery_app.conf, "task_always_eager", True)
    checklist.item_accept(item=item(scheduled, "test_machine"), by=support)
    book_and_pass_the_check(scheduled, support, engineer)
    tabs = [api_for(support), api_for(support)]  # the same person, twice
    start = threading.Barrier(len(tabs))
    statuses = []

    def approve(api):
        try:
            start.wait()
            statuses.append(api.post(f"{API}/requests/{scheduled.pk}/approve/").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=[tab]) for tab in tabs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(statuses) == [200, 409]
    scheduled.refresh_from_db()
    assert scheduled.state == RequestState.APPROVED
    assert scheduled.timeline.filter(action="approve").count() == 1
    assert Notice.objects.filter(recipient=customer.contact.email, subject__contains="approved").count() == 1


class TestBadInput:
    @pytest.mark.parametrize(
        ("release", "field", "message"),
        [
            ("11.0.0", "release", "There is no release 11.0.0."),
            ("10.1.0", "release", "There is no release 10.1.0."),  # a draft, which customers do not see
            ("latest", "release", "There is no release latest."),
            ("9.4.2", "release", "Production already runs 9.4.2: choose a newer release than that."),
        ],
    )
    def test_a_request_for_a_release_it_cannot_have_is_refused(self, customer, northwind_deployment, release, field, message):
        response = api_for(customer).post(f"{API}/requests/", {"deployment": northwind_deployment.pk, "release": release})

        assert response.status_code == 400
        assert response.json() == {field: [message]}
        assert not UpgradeRequest.objects.exists()

    def test_a_second_open_request_for_a_deployment_is_refused(self, customer, draft, northwind_deployment):
        response = api_for(customer).post(f"{API}/requests/", {"deployment": northwind_deployment.pk, "release": "9.5.0"})

        assert response.status_code == 400
        assert response.json() == {
            "deployment": ["This deployment already has an open upgrade request: continue that one, or withdraw it."]
        }
        assert UpgradeRequest.objects.get() == draft

    @pytest.mark.parametrize(
        ("upload", "message"),
        [
            (SimpleUploadedFile("big.txt", b"x" * (MAX_BYTES + 1)), "“big.txt” is 5.0 MB: files may be up to 5 MB."),
            (SimpleUploadedFile("tool.exe", b"MZ\x90\x00"), "“tool.exe” is not a file type we accept"),
            (SimpleUploadedFile("fake.pdf", b"<script>alert(1)</script>"), "“fake.pdf” does not contain what its name says (.pdf)."),
        ],
    )
    def test_a_refused_file_is_explained_and_nothing_is_stored(self, customer, draft, upload, message):
        remote = item(draft, "remote_access")
        before = snapshot(draft)

        response = api_for(customer).upload(
            f"{API}/checklist-items/{remote.pk}/provide/", {"text": "See the file", "files": [upload]}
        )

        assert response.status_code == 400
        assert list(response.json()) == ["files"]
        assert response.json()["files"][0].startswith(message)
        assert snapshot(draft) == before

    def test_empty_evidence_is_refused(self, customer, draft):
        remote = item(draft, "remote_access")
        response = api_for(customer).post(f"{API}/checklist-items/{remote.pk}/provide/", {"text": "   "})

        assert response.status_code == 400
        assert response.json() == {"text": ["Describe how this prerequisite is met, or attach a file that shows it."]}
        remote.refresh_from_db()
        assert remote.state == ItemState.MISSING

    @pytest.mark.parametrize(
        ("path", "body", "expected"),
        [
            ("/checklist-items/{item}/send-back/", {"reason": "  "},
             {"reason": ["Say what is missing, so the customer can put it right."]}),
            ("/checklist-items/{item}/send-back/", {}, {"reason": ["This field is required."]}),
            ("/requests/{request}/refuse/", {"reason": ""}, {"reason": ["Say why the request is refused."]}),
            ("/requests/{request}/record-check/", {"outcome": "failed"},
             {"notes": ["Say what failed, so the customer can put it right."]}),
            ("/requests/{request}/record-check/", {"outcome": "maybe"}, {"outcome": ['"maybe" is not a valid choice.']}),
            ("/requests/{request}/schedule-check/", {"start": "2020-01-01T10:00:00Z"},
             {"start": ["The check must be in the future."]}),
            ("/requests/{request}/schedule-check/", {"start": "next week"},
             {"start": ["Datetime has wrong format. Use one of these formats instead: "
                        "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."]}),
        ],
    )
    def test_a_reviewers_bad_input_is_refused_field_by_field_and_changes_nothing(
        self, support, engineer, submitted, path, body, expected
    ):
        requests.request_assign(upgrade=submitted, by=support)
        ids = {"item": item(submitted, "remote_access").pk, "request": submitted.pk, "engineer": engineer.pk, "support": support.pk}
        body = {key: value.format(**ids) if isinstance(value, str) else value for key, value in body.items()}
        expected = {key: [message.format(**ids) for message in messages] for key, messages in expected.items()}
        before = snapshot(submitted)

        response = api_for(support).post(API + path.format(**ids), body)

        assert response.status_code == 400
        assert response.json() == expected
        assert snapshot(submitted) == before


class TestReleases:
    def test_a_customer_reads_the_published_releases_only(self, customer):
        api = api_for(customer)

        versions = [row["version"] for row in results(api.get(f"{API}/releases/"))]

        assert versions == ["10.0.0", "9.5.0", "9.4.2"]
        assert api.get(f"{API}/releases/10.1.0/").status_code == 404
        assert api.get(f"{API}/releases/10.0.0/").json()["kind"] == "major"

    def test_support_adds_a_release_whose_kind_is_derived_and_publishes_it(self, support, customer):
        api = api_for(support)

        created = api.post(
            f"{API}/releases/",
            {"version": "10.0.1", "kind": "major", "state": "published", "release_date": "2026-12-01",
             "openjdk_version": "21.0.5", "tomcat_version": "10.1.33", "notes": "## Fixes\n- Licence count."},
        )

        assert created.status_code == 201, created.content
        assert {key: created.json()[key] for key in ("version", "kind", "state", "published_at")} == {
            "version": "10.0.1", "kind": "patch", "state": "draft", "published_at": None,
        }
        assert api_for(customer).get(f"{API}/releases/10.0.1/").status_code == 404

        edited = api.patch(f"{API}/releases/10.0.1/", {"tomcat_version": "10.1.34", "kind": "major"})
        assert (edited.status_code, edited.json()["tomcat_version"], edited.json()["kind"]) == (200, "10.1.34", "patch")

        published = api.post(f"{API}/releases/10.0.1/publish/")
        assert (published.status_code, published.json()["state"]) == (200, "published")
        assert api_for(customer).get(f"{API}/releases/10.0.1/").status_code == 200

        again = api.post(f"{API}/releases/10.0.1/publish/")
        assert (again.status_code, again.json()) == (400, {"non_field_errors": ["This release is already published."]})

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"version": "ten"}, "version"),
            ({"version": "10.0.0"}, "version"),
            ({"version": "10.0.0.0"}, "version"),  # the same version, written longer
            ({"version": "3000000000.0"}, "version"),  # more than PostgreSQL's integers hold
            ({"version": "9.04.2"}, "version"),
            ({"version": "10.\u0662"}, "version"),  # an Arabic-Indic 2
            ({"release_date": "soon"}, "release_date"),
        ],
    )
    def test_a_bad_release_is_refused_field_by_field(self, support, fields, field):
        before = Release.objects.count()
        body = {"version": "10.2.0", "release_date": "2027-05-01", "openjdk_version": "21.0.6",
                "tomcat_version": "10.1.34", "notes": "Planned.", **fields}

        response = api_for(support).post(f"{API}/releases/", body)

        assert response.status_code == 400
        assert list(response.json()) == [field]
        assert Release.objects.count() == before

    @pytest.mark.parametrize("persona", ["customer", "engineer"])
    def test_only_support_and_administrators_write_releases(self, request, persona):
        api = api_for(request.getfixturevalue(persona))
        body = {"version": "10.2.0", "release_date": "2027-05-01", "openjdk_version": "21.0.6",
                "tomcat_version": "10.1.34", "notes": "Planned."}

        assert api.post(f"{API}/releases/", body).status_code == 403
        assert api.post(f"{API}/releases/10.0.0/publish/").status_code == 403
        assert api.patch(f"{API}/releases/9.5.0/", {"notes": "Mine"}).status_code == 403
        assert not Release.objects.filter(version="10.2.0").exists()
        assert Release.objects.get(version="9.5.0").notes != "Mine"
        if persona == "customer":
            assert api.post(f"{API}/releases/10.1.0/publish/").status_code == 404
        assert Release.objects.get(version="10.1.0").state == ReleaseState.DRAFT


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("delete", "/requests/{request}/"),
        ("patch", "/requests/{request}/"),
        ("get", "/requests/{request}/approve/"),
        ("put", "/checklist-items/{item}/"),
        ("post", "/checklist-items/"),
        ("put", "/attachments/{attachment}/"),
        ("delete", "/releases/10.0.0/"),
    ],
)
def test_a_method_an_endpoint_does_not_have_is_405(admin_user, contoso_rows, method, path):
    assert getattr(api_for(admin_user), method)(API + path.format(**contoso_rows)).status_code == 405


@pytest.mark.parametrize("path", ["/releases/", "/requests/", "/checklist-items/", "/releases/10.0.0/"])
def test_nobody_unauthenticated_gets_in(world, path):
    assert Client().get(API + path).status_code in (401, 403)


def test_the_schema_documents_every_operation_without_a_warning(tmp_path):
    GENERATOR_STATS.reset()
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    schema = (tmp_path / "schema.yaml").read_text()
    for path in ["/requests/{id}/approve/", "/checklist-items/{id}/provide/", "/attachments/{id}/download/",
                 "/releases/{version}/publish/"]:
        assert f"/api/v1{path}:" in schema


def _requests_with_history(count: int, *, customer: User, support: User, deployment: Deployment) -> None:
    """Requests of every shape a list shows: assigned, with evidence and a file, closed."""
    release = Release.objects.get(version="10.0.0")
    for number in range(UpgradeRequest.objects.count(), count):
        upgrade = requests.request_create(deployment=deployment, release=release, by=customer)
        checklist.item_provide(
            item=item(upgrade, "remote_access"), by=customer, text=f"VPN {number}",
            files=[SimpleUploadedFile(f"vpn-{number}.txt", b"profile")],
        )
        requests.request_submit(upgrade=upgrade, by=customer)
        requests.request_assign(upgrade=upgrade, by=support)
        checklist.item_accept(item=item(upgrade, "remote_access"), by=support)
        requests.request_withdraw(upgrade=upgrade, by=customer, reason="Another term.")


LISTS = ["/releases/", "/requests/", "/requests/?state=withdrawn&search=north", "/checklist-items/",
         "/checklist-items/?request={last}"]


@pytest.mark.parametrize("persona", ["admin_user", "customer"])
def test_a_list_costs_the_same_queries_for_3_or_20_requests(request, persona, customer, support, northwind_deployment):
    api = api_for(request.getfixturevalue(persona))

    def queries_per_list() -> dict[str, int]:
        last = UpgradeRequest.objects.latest("pk").pk
        counts = {}
        for path in LISTS:
            with CaptureQueriesContext(connection) as queries:
                assert api.get(API + path.format(last=last)).status_code == 200
            counts[path] = len(queries)
        return counts

    _requests_with_history(3, customer=customer, support=support, deployment=northwind_deployment)
    with_3 = queries_per_list()
    _requests_with_history(20, customer=customer, support=support, deployment=northwind_deployment)
    with_20 = queries_per_list()

    assert with_20 == with_3
    assert len(results(api.get(f"{API}/requests/"))) == 20
    assert RequestEvent.objects.filter(action="withdraw").count() == 20
