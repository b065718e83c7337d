"""The pages of the request workflow: what each person can do from the browser, and what bad
input and crafted requests get."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from upgrades.choices import ItemState, RequestState
from upgrades.evidence import MAX_BYTES
from upgrades.models import ChecklistItem, ItemAttachment, Release, UpgradeRequest
from upgrades.services import requests

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def upgrade(customer, northwind_deployment, release):
    return requests.request_create(deployment=northwind_deployment, release=release, by=customer)


@pytest.fixture
def remote(upgrade) -> ChecklistItem:
    return upgrade.items.get(key="remote_access")


def test_a_customer_requests_an_upgrade_from_the_deployment_page(client_for, customer, northwind_deployment, release):
    client = client_for(customer)
    page = client.get(reverse("deployment-detail", args=[northwind_deployment.pk])).content.decode()
    assert reverse("request-create", args=[northwind_deployment.pk]) in page

    form = client.get(reverse("request-create", args=[northwind_deployment.pk])).content.decode()
    assert "10.0.0" in form and "9.5.0" in form and "10.1.0" not in form  # drafts are not offered
    assert "Service downtime starting about 5 minutes in, for about 15 minutes" in form

    response = client.post(reverse("request-create", args=[northwind_deployment.pk]), {"release": release.pk})

    created = UpgradeRequest.objects.get()
    assert response["Location"] == reverse("request-detail", args=[created.pk])
    page = client.get(response["Location"]).content.decode()
    assert "ready" in page and "Full backup of the StreamDB database" in page


def test_a_crafted_request_for_an_older_release_is_refused_with_a_message(client_for, customer, northwind_deployment):
    old = Release.objects.get(version="9.4.2")

    response = client_for(customer).post(reverse("request-create", args=[northwind_deployment.pk]), {"release": old.pk})

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not UpgradeRequest.objects.exists()


def test_the_customer_fills_an_item_inline_and_gets_the_fragment_back(client_for, customer, remote):
    response = client_for(customer).post(reverse("item-provide", args=[remote.pk]), {"text": "Site-to-site VPN"}, **HTMX)

    assert response.status_code == 200
    body = response.content.decode()
    assert f'id="item-{remote.pk}"' in body and "Site-to-site VPN" in body
    assert 'id="progress"' in body and 'hx-swap-oob="true"' in body  # the counter follows
    assert "<html" not in body
    remote.refresh_from_db()
    assert remote.state == ItemState.PROVIDED


def test_evidence_may_be_a_file(client_for, customer, remote):
    upload = SimpleUploadedFile("snapshot-plan.pdf", b"%PDF-1.7 the plan", content_type="application/pdf")

    client_for(customer).post(reverse("item-provide", args=[remote.pk]), {"text": "", "files": [upload]}, **HTMX)

    attachment = ItemAttachment.objects.get(item=remote)
    assert (attachment.name, attachment.content_type) == ("snapshot-plan.pdf", "application/pdf")
    download = client_for(customer).get(reverse("attachment-download", args=[attachment.pk]))
    assert download.content == b"%PDF-1.7 the plan"
    assert download["Content-Disposition"].startswith("attachment;")


@pytest.mark.parametrize(
    "upload, message",
    [
        (SimpleUploadedFile("big.txt", b"x" * (MAX_BYTES + 1)), "files may be up to 5 MB"),
        (SimpleUploadedFile("tool.exe", b"MZ\x90\x00"), "not a file type we accept"),
        (SimpleUploadedFile("fake.pdf", b"<script>alert(1)</script>"), "does not contain what its name says"),
        (SimpleUploadedFile("notes.txt", b"\xff\xfe\x00binary"), "not a plain text file"),
    ],
)
def test_a_refused_file_is_explained_and_nothing_is_stored(client_for, customer, remote, upload, message):
    response = client_for(customer).post(
        reverse("item-provide", args=[remote.pk]), {"text": "see file", "files": [upload]}, **HTMX
    )

    assert response.status_code == 400
    assert message in response.content.decode()
    remote.refresh_from_db()
    assert remote.state == ItemState.MISSING and not ItemAttachment.objects.exists()
    assert "see file" in response.content.decode()  # what was typed stays in the form


def test_empty_evidence_is_refused(client_for, customer, remote):
    response = client_for(customer).post(reverse("item-provide", args=[remote.pk]), {"text": "  "}, **HTMX)

    assert response.status_code == 400
    assert "Describe how this prerequisite is met" in response.content.decode()


def test_html_in_evidence_is_shown_as_text(client_for, customer, remote):
    client = client_for(customer)
    client.post(reverse("item-provide", args=[remote.pk]), {"text": "<script>alert('x')</script>"}, **HTMX)

    page = client.get(reverse("request-detail", args=[remote.request_id])).content.decode()

    assert "<script>alert" not in page and "&lt;script&gt;alert" in page


def test_an_outsider_cannot_touch_the_checklist_or_its_files(client_for, outsider, customer, remote):
    client_for(customer).post(
        reverse("item-provide", args=[remote.pk]), {"text": "VPN", "files": [SimpleUploadedFile("a.txt", b"secret plan")]}
    )
    attachment = ItemAttachment.objects.get()
    client = client_for(outsider)

    assert client.post(reverse("item-provide", args=[remote.pk]), {"text": "hijack"}).status_code == 404
    assert client.get(reverse("attachment-download", args=[attachment.pk])).status_code == 404
    assert client.post(reverse("attachment-delete", args=[attachment.pk])).status_code == 404
    assert client.post(reverse("request-action", args=[remote.request_id, "withdraw"])).status_code == 404
    remote.refresh_from_db()
    assert remote.evidence == "VPN"


def test_a_customer_cannot_approve_their_own_request_by_crafting_a_post(client_for, customer, upgrade):
    client = client_for(customer)
    client.post(reverse("request-action", args=[upgrade.pk, "submit"]))

    for action in ("approve", "assign", "refuse", "reopen"):
        response = client.post(reverse("request-action", args=[upgrade.pk, action]), {"reason": "because"})
        assert response.status_code in (400, 403), action
    upgrade.refresh_from_db()
    assert upgrade.state == RequestState.SUBMITTED


def test_a_lost_race_is_a_line_at_info_in_the_log_not_a_warning(client_for, customer, support, upgrade, remote,
                                                                 caplog):
    client_for(customer).post(reverse("item-provide", args=[remote.pk]), {"text": "VPN"})
    client_for(customer).post(reverse("request-action", args=[upgrade.pk, "submit"]))

    with caplog.at_level("INFO", logger="django.request"):
        blocked = client_for(support).post(reverse("item-review", args=[remote.pk, "accept"]), **HTMX)

    assert blocked.status_code == 409
    (conflict,) = [record for record in caplog.records if getattr(record, "status_code", None) == 409]
    assert conflict.levelname == "INFO"
    caplog.clear()
    with caplog.at_level("WARNING", logger="django.request"):
        client_for(support).post(reverse("item-review", args=[remote.pk, "accept"]), **HTMX)
    assert not [record for record in caplog.records if getattr(record, "status_code", None) == 409]


def test_support_reviews_inline_after_assigning(client_for, customer, support, upgrade, remote):
    client_for(customer).post(reverse("item-provide", args=[remote.pk]), {"text": "VPN"})
    client_for(customer).post(reverse("request-action", args=[upgrade.pk, "submit"]))
    desk = client_for(support)

    blocked = desk.post(reverse("item-review", args=[remote.pk, "accept"]), **HTMX)
    assert blocked.status_code == 409 and "Assign the request to yourself first" in blocked.content.decode()

    desk.post(reverse("request-action", args=[upgrade.pk, "assign"]))
    missing_reason = desk.post(reverse("item-review", args=[remote.pk, "send_back"]), {"reason": ""}, **HTMX)
    assert missing_reason.status_code == 400 and "Say what is missing" in missing_reason.content.decode()

    sent_back = desk.post(reverse("item-review", args=[remote.pk, "send_back"]), {"reason": "Which VPN?"}, **HTMX)
    assert sent_back.status_code == 200 and "Which VPN?" in sent_back.content.decode()
    remote.refresh_from_db()
    assert remote.state == ItemState.SENT_BACK


def test_an_action_that_is_no_longer_allowed_says_why(client_for, customer, upgrade):
    client = client_for(customer)
    client.post(reverse("request-action", args=[upgrade.pk, "submit"]))

    response = client.post(reverse("request-action", args=[upgrade.pk, "submit"]), follow=True)

    assert "You cannot submit this request: it is submitted now." in response.content.decode()


def test_a_refusal_without_a_reason_keeps_the_form_open_with_a_message(client_for, customer, support, upgrade):
    client_for(customer).post(reverse("request-action", args=[upgrade.pk, "submit"]))
    desk = client_for(support)
    desk.post(reverse("request-action", args=[upgrade.pk, "assign"]))

    response = desk.post(reverse("request-action", args=[upgrade.pk, "refuse"]), {"reason": ""})

    assert response.status_code == 400 and "This field is required." in response.content.decode()
    upgrade.refresh_from_db()
    assert upgrade.state == RequestState.IN_REVIEW


def test_the_support_queue_filters_by_state_and_assignee(client_for, customer, support, upgrade):
    client_for(customer).post(reverse("request-action", args=[upgrade.pk, "submit"]))
    desk = client_for(support)

    unassigned = desk.get(reverse("request-list"), {"state": "submitted", "assignee": "nobody"}, **HTMX).content.decode()
    assert "Northwind University" in unassigned and "<html" not in unassigned
    assert "Northwind University" not in desk.get(reverse("request-list"), {"assignee": "me"}).content.decode()
    waiting = desk.get(reverse("waiting-for-me")).content.decode()
    assert "Northwind University" in waiting


def test_the_customer_reads_what_changes_between_their_version_and_the_target(client_for, customer, northwind_deployment):
    page = client_for(customer).get(reverse("deployment-changes", args=[northwind_deployment.pk, "10.0.0"])).content.decode()

    assert page.index("<strong>9.5.0</strong>") < page.index("<strong>10.0.0</strong>")
    assert "Faster first launch" in page and "Java 21" in page
    assert "Per-group health status" not in page  # the draft 10.1.0 is not shown


def test_release_notes_are_sanitised(client_for, support, customer):
    from upgrades.services import releases

    release = releases.release_create(
        by=support, version="10.0.1", release_date="2026-12-01", openjdk_version="21.0.5", tomcat_version="10.1.31",
        notes="Fix <script>alert(1)</script> [click](javascript:alert(2)) <img src=x onerror=alert(3)>",
    )
    releases.release_publish(release=release, by=support)

    page = client_for(customer).get(reverse("release-detail", args=["10.0.1"])).content.decode()

    assert "<script>alert(1)" not in page and 'href="javascript:' not in page and "<img" not in page
    assert release.kind == "patch"
