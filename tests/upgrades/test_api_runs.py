"""The live upgrade in the API: the same runs, readiness and moves as the live page, with the same
refusals (409 with the reason, 403 for a move that is not the caller's, 404 for what is not
theirs to see)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from scheduling.choices import Cover
from scheduling.services.booking import window_book
from tests.factories import RunFactory
from tests.scheduling.stories import approve
from tests.upgrades.runs import confirmed_window
from upgrades.choices import ReadinessKind, RunState
from upgrades.models import Release, Run

JSON = "application/json"


@pytest.fixture
def run(northwind_deployment, engineer, customer) -> Run:
    return RunFactory(window=confirmed_window(northwind_deployment, Release.objects.get(version="10.0.0"),
                                              engineer=engineer, customer=customer))


def post(client, path: str, body: dict | None = None):
    return client.post(path, body or {}, content_type=JSON)


def test_both_sides_read_the_run_with_its_steps_and_what_it_needs(client_for, run, customer, engineer, outsider):
    answer = client_for(customer).get(f"/api/v1/runs/{run.pk}/")

    assert answer.status_code == 200
    body = answer.json()
    assert body["state"] == RunState.SCHEDULED and len(body["steps"]) == 16
    assert [item["kind"] for item in body["readiness"]] == ["snapshots", "backup", "preflight"]
    assert not any(item["done"] for item in body["readiness"])
    assert [row["id"] for row in client_for(engineer).get("/api/v1/runs/?mine=true").json()["results"]] == [run.pk]
    assert client_for(outsider).get(f"/api/v1/runs/{run.pk}/").status_code == 404
    assert client_for(outsider).get("/api/v1/runs/").json()["results"] == []


def test_the_customer_confirms_the_snapshots_and_the_engineer_records_the_backup(client_for, run, customer,
                                                                                  engineer):
    assert post(client_for(engineer), f"/api/v1/runs/{run.pk}/snapshots/").status_code == 403

    answer = post(client_for(customer), f"/api/v1/runs/{run.pk}/snapshots/", {"note": "vCenter, 09:55"})
    assert answer.status_code == 200
    answer = post(client_for(engineer), f"/api/v1/runs/{run.pk}/backup/", {"note": "On the share"})

    done = {item["kind"]: item for item in answer.json()["readiness"]}
    assert done["snapshots"]["done"] and done["snapshots"]["note"] == "vCenter, 09:55"
    assert done["backup"]["done"] and done["backup"]["recorded_by"]["full_name"] == "Erin Walsh"
    assert set(run.readiness.values_list("kind", flat=True)) == {ReadinessKind.SNAPSHOTS, ReadinessKind.BACKUP}


def test_a_start_before_the_run_is_ready_is_refused_with_what_is_missing(client_for, run, engineer, customer):
    answer = post(client_for(engineer), f"/api/v1/runs/{run.pk}/start/")

    assert answer.status_code == 409 and "Not ready to start" in answer.json()["detail"]
    assert post(client_for(customer), f"/api/v1/runs/{run.pk}/start/").status_code == 403
    assert Run.objects.get(pk=run.pk).state == RunState.SCHEDULED


def test_moves_on_a_step_not_of_this_run_or_with_bad_input_change_nothing(client_for, run, engineer, customer):
    other_step = run.steps.order_by("-pk").first().pk + 1000

    assert post(client_for(engineer), f"/api/v1/runs/{run.pk}/confirm/", {"step": other_step}).status_code == 404
    assert post(client_for(engineer), f"/api/v1/runs/{run.pk}/confirm/", {"step": "first"}).status_code == 400
    answer = post(client_for(engineer), f"/api/v1/runs/{run.pk}/abort/", {"reason": "Not needed"})
    assert answer.status_code == 409 and "cancel its window" in answer.json()["detail"]
    answer = post(client_for(customer), f"/api/v1/runs/{run.pk}/authorise/", {"reason": "Yes"})
    assert answer.status_code == 409 and "No rollback is waiting" in answer.json()["detail"]
    assert client_for(engineer).get(f"/api/v1/runs/{run.pk}/start/").status_code == 405


def test_a_booked_window_names_its_run_and_staff_can_plan_one_that_has_none(client_for, customer, engineer, support,
                                                                           northwind_deployment):
    request = approve(northwind_deployment, by=customer, release=Release.objects.get(version="10.0.0"))
    start = (timezone.now() + timedelta(days=20)).replace(hour=10, minute=0, second=0, microsecond=0)
    window = window_book(upgrade=request, start=start, engineer_ids=[engineer.pk], cover=Cover.STANDARD, by=customer)

    answer = client_for(customer).get(f"/api/v1/windows/{window.pk}/")

    assert answer.json()["run"] == window.run.pk
    again = post(client_for(support), f"/api/v1/windows/{window.pk}/plan/")
    assert again.status_code == 200 and again.json()["run"] == window.run.pk  # planned already: the same run
    assert post(client_for(customer), f"/api/v1/windows/{window.pk}/plan/").status_code == 403
