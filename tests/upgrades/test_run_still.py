"""A run never waits on a lost message: its next step's task is recorded with the move that decides
it (portal.dispatch), a stranded step is sent again by the dispatcher's sweep, a still run says
why on its page and in the API, and the engineer can always move it on (audited)."""

import subprocess
import sys
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from portal.dispatch import relay
from portal.models import Dispatch
from tests.upgrades.runs import open_run
from upgrades.choices import RunState, StepState
from upgrades.runflow import RunError
from upgrades.services import engine
from upgrades.services.engine import runs_resend, steps_sweep, stranded
from upgrades.services.runs import run_continue


@pytest.fixture
def run(northwind_deployment, release, customer):
    """Northwind's run, started, its preparation done: the next step is pending."""
    run = open_run(deployment=northwind_deployment, release=release, by=customer)
    first = run.steps.order_by("position").first()
    run.steps.filter(pk=first.pk).update(state=StepState.SUCCEEDED, finished_at=timezone.now())
    run.__class__.objects.filter(pk=run.pk).update(state=RunState.RUNNING, started_at=timezone.now())
    run.refresh_from_db()
    return run


def following(run):
    return run.steps.exclude(state=StepState.SUCCEEDED).order_by("position").first()


def step_messages(step):
    return Dispatch.objects.filter(task="upgrades.step_task", about=f"step:{step.pk}")


def test_the_next_step_is_recorded_with_the_move_and_a_rolled_back_move_sends_nothing(run):
    step = following(run)
    with pytest.raises(RuntimeError), transaction.atomic():
        engine.run_advance(run=run)
        assert step_messages(step).count() == 1
        raise RuntimeError("the move failed after deciding")
    assert not step_messages(step).exists()

    engine.run_advance(run=run)
    [message] = step_messages(step)
    assert message.args == [step.pk] and message.received_at is None


def test_a_steps_success_hands_the_next_step_to_its_worker_and_a_death_then_is_the_sweeps(run, settings):
    done = following(run)
    run.steps.filter(pk=done.pk).update(state=StepState.RUNNING, worker="w/1", attempts=1,
                                        started_at=timezone.now(), heartbeat_at=timezone.now())
    done.refresh_from_db()
    step = run.steps.filter(position__gt=done.position).order_by("position").first()

    answer, claimed = engine._succeed(done, "w/1", engine._Outcome(True, {}))

    assert answer == "succeeded" and claimed == step
    step.refresh_from_db()
    assert step.state == StepState.RUNNING and step.worker == "w/1" and step.attempts == 1
    assert not step_messages(step).exists()  # claimed with the success: nothing sent, nothing to relay
    assert stranded(run) is None and relay() == 0 and runs_resend() == 0
    # The worker dies before it does the step: its heartbeat stops and the sweep interrupts it.
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.RUN_STALE_AFTER_SECONDS + 1), tick=False):
        assert steps_sweep() == 1
    step.refresh_from_db()
    run.refresh_from_db()
    assert step.state == StepState.INTERRUPTED and run.state == RunState.PAUSED


def test_a_step_nobody_took_up_is_sent_again_by_the_sweep_and_only_once(run):
    step = following(run)
    assert stranded(run) == step  # no message at all: say, one from before an upgrade of the portal
    assert runs_resend() == 1
    assert runs_resend() == 0  # its message is on its way now
    # A worker received it and died before its claim: after a moment it is sent again.
    step_messages(step).update(received_at=timezone.now())
    assert runs_resend() == 0
    step_messages(step).update(received_at=timezone.now() - timedelta(seconds=11))
    assert runs_resend() == 1
    assert step_messages(step).filter(received_at__isnull=True).count() == 1
    # A step that runs, or a run that is paused, is nobody's to send.
    Dispatch.objects.all().delete()
    run.steps.filter(pk=step.pk).update(state=StepState.RUNNING)
    assert runs_resend() == 0


def test_a_dead_workers_step_is_interrupted_within_the_configured_bound(run, settings):
    settings.RUN_STALE_AFTER_SECONDS, settings.RUN_SWEEP_SECONDS = 30, 5
    step = following(run)
    beat = timezone.now()
    run.steps.filter(pk=step.pk).update(state=StepState.RUNNING, heartbeat_at=beat, worker="w/1", attempts=1)
    # The sweep runs every 5 s: at 24.9 s it leaves the step alone, so the next sweep, at most
    # 30 s after the last heartbeat, finds it.
    with time_machine.travel(beat + timedelta(seconds=24.9), tick=False):
        assert steps_sweep() == 0
    with time_machine.travel(beat + timedelta(seconds=25.1), tick=False):
        assert steps_sweep() == 1
    step.refresh_from_db()
    run.refresh_from_db()
    assert step.state == StepState.INTERRUPTED and run.state == RunState.PAUSED


def test_settings_that_cannot_meet_the_bound_are_refused():
    check = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], capture_output=True, text=True,
        env={**__import__("os").environ, "RUN_STALE_AFTER_SECONDS": "10", "RUN_SWEEP_SECONDS": "5",
             "RUN_HEARTBEAT_SECONDS": "5"},
    )
    assert check.returncode != 0 and "RUN_STALE_AFTER_SECONDS must leave room for two heartbeats" in check.stderr


def test_the_page_says_the_run_waits_for_the_queue_then_offers_the_engineer_continue(
        run, client_for, engineer, customer, settings):
    step = following(run)
    message = Dispatch.objects.create(task="upgrades.step_task", args=[step.pk], about=f"step:{step.pk}",
                                      attempts=2, last_error="OperationalError: Error 111 connecting to redis")
    page = reverse("run-live", args=[run.pk])
    for person in (engineer, customer):
        text = client_for(person).get(page).content.decode()
        assert "Waiting for the task queue" in text and "Nothing for you to do now" not in text
        assert "Continue: send" not in text
    api = client_for(engineer).get(reverse("api:run-detail", args=[run.pk])).json()
    assert api["waiting"]["waiting_for"] == "queue" and api["waiting"]["step"] == step.pk

    # Sent, and nobody has taken it up for longer than a step takes to begin.
    Dispatch.objects.filter(pk=message.pk).update(sent_at=timezone.now(), last_error="")
    later = timezone.now() + timedelta(seconds=settings.RUN_STILL_AFTER_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        assert "Continue: send" not in client_for(customer).get(page).content.decode()
        text = client_for(engineer).get(page).content.decode()
        assert "Nothing has moved since" in text and f"Continue: send “{step.action}” again" in text
        answer = client_for(engineer).post(reverse("run-action", args=[run.pk, "continue"]), follow=True)
    assert f"{step.action}: sent to a worker again." in answer.content.decode()
    assert step_messages(step).filter(received_at__isnull=True).count() == 2
    event = run.live_events.filter(kind="decision").latest("seq")
    assert event.actor == engineer and event.data["decision"] == "continue"
    assert event.text == f"{engineer.full_name} continued the run: Step {step.number}: {step.action} sent to a worker again"


def test_continue_is_the_engineers_and_only_for_a_run_that_waits_on_a_message(run, engineer, customer, client_for):
    step = following(run)
    with pytest.raises(PermissionDenied):
        run_continue(run=run, by=customer)
    run.steps.filter(pk=step.pk).update(state=StepState.RUNNING)
    with pytest.raises(RunError, match="The run is moving"):
        run_continue(run=run, by=engineer)
    run.__class__.objects.filter(pk=run.pk).update(state=RunState.PAUSED)
    answer = client_for(engineer).post(reverse("api:run-continue", args=[run.pk]))
    assert answer.status_code == 409 and "paused" in answer.json()["detail"]
    assert not step_messages(step).exists()


@pytest.mark.browser
def test_in_the_browser_the_customer_sees_the_wait_and_the_engineer_moves_the_run_on(
        transactional_db, browser, live_server, world, northwind_deployment, release, customer, engineer):
    from playwright.sync_api import expect

    from tests.conftest import live_context, log_in, save_screenshot

    run = open_run(deployment=northwind_deployment, release=release, by=customer)
    first, step = run.steps.order_by("position")[:2]
    minutes_ago = timezone.now() - timedelta(minutes=2)
    run.steps.filter(pk=first.pk).update(state=StepState.SUCCEEDED, finished_at=minutes_ago)
    run.__class__.objects.filter(pk=run.pk).update(state=RunState.RUNNING, started_at=minutes_ago)
    message = Dispatch.objects.create(task="upgrades.step_task", args=[step.pk], about=f"step:{step.pk}",
                                      created_at=minutes_ago, attempts=3, last_error="OperationalError: refused")
    pages = {}
    for person in (customer, engineer):
        context = live_context(browser, live_server, viewport={"width": 1366, "height": 900})
        pages[person] = context.new_page()
        log_in(pages[person], person.email)
        pages[person].goto(f"/runs/{run.pk}/")
    olivia, erin = pages[customer], pages[engineer]
    expect(olivia.get_by_role("status").filter(has_text="Waiting for the task queue")).to_be_visible()
    save_screenshot(olivia, "run-waits-for-the-queue")

    Dispatch.objects.filter(pk=message.pk).update(sent_at=minutes_ago, last_error="")
    erin.reload()
    expect(erin.get_by_text("Nothing has moved since")).to_be_visible()
    save_screenshot(erin, "run-still-continue")
    erin.get_by_role("button", name=f"Continue: send “{step.action}” again").click()
    expect(erin.get_by_text(f"{step.action}: sent to a worker again.")).to_be_visible()
    expect(erin.get_by_text(f"{engineer.full_name} continued the run").first).to_be_visible()
    assert step_messages(step).count() == 2  # the first message, and the one the engineer sent
