"""The live page (S12-S17): one URL for the engineer and the customer, each with their own
controls; its actions turn every refusal into a message and change nothing."""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from portal.models import User
from tests.dates import FRIDAY
from tests.upgrades.runs import open_run
from upgrades.choices import RollbackState, RunState, StepState
from upgrades.models import RollbackDecision
from upgrades.procedure import PHASE_WORDS, Phase
from upgrades.selectors_runs import duration_words
from upgrades.services.events import event_emit


@pytest.fixture
def run(northwind_deployment, release, customer):
    return open_run(deployment=northwind_deployment, release=release, by=customer, plan_event=False)


@pytest.fixture
def second_engineer(world):
    return User.objects.get(email="engineer.apac@vendor.example")


def live(client, run, **params):
    return client.get(reverse("run-live", args=[run.pk]), params)


def act(client, run, action, **data):
    return client.post(reverse("run-action", args=[run.pk, action]), data, follow=True)


def text_of(response) -> str:
    return response.content.decode()


def pause_on(run, key, *, error="install failed on cpadmin01: disk full"):
    step = run.steps.get(key=key)
    run.steps.filter(position__lt=step.position).update(state=StepState.SUCCEEDED)
    run.steps.filter(pk=step.pk).update(state=StepState.FAILED, error=error, started_at=timezone.now(),
                                        finished_at=timezone.now(), attempts=1)
    run.__class__.objects.filter(pk=run.pk).update(state=RunState.PAUSED, phase=step.phase,
                                                    started_at=timezone.now())
    step.refresh_from_db()
    return step


def test_both_sides_see_the_steps_of_the_seed_with_the_preparation_first(client_for, run, engineer, customer):
    for person in (engineer, customer):
        page = text_of(live(client_for(person), run))
        assert "Functionality tests before the upgrade" in page
        assert page.index("Functionality tests before the upgrade") < page.index("Stop services on server group 1")
        assert "Run the database upgrade command" in page
        assert "Customer verification and sign-off" in page
        assert "Service downtime begins" in page  # the seed's phase markers, where they fall
        assert PHASE_WORDS[Phase.PREPARATION] in page


def test_only_the_engineer_may_start_the_run(client_for, run, engineer, customer):
    assert "Start the upgrade" in text_of(live(client_for(engineer), run))
    customer_page = text_of(live(client_for(customer), run))
    assert "Start the upgrade" not in customer_page
    assert "The engineer starts the upgrade when the window opens and everything above is done." in customer_page
    assert "The snapshots are taken" in customer_page  # S11: the customer confirms them before the start


def test_an_outsider_gets_404_and_actions_take_post_only(client_for, run, outsider, engineer):
    assert live(client_for(outsider), run).status_code == 404
    assert act(client_for(outsider), run, "start").status_code == 404
    assert client_for(engineer).get(reverse("run-action", args=[run.pk, "start"])).status_code == 405
    assert client_for(engineer).post(reverse("run-action", args=[run.pk, "dance"])).status_code == 404


def test_the_phase_banner_speaks_plain_words(client_for, run, customer):
    run.__class__.objects.filter(pk=run.pk).update(state=RunState.RUNNING, phase=Phase.DOWNTIME,
                                                    started_at=timezone.now())
    page = text_of(live(client_for(customer), run))
    assert "Downtime: the service is unavailable" in page
    assert "phase-downtime" in page


def test_a_waiting_checks_step_asks_the_engineer_and_the_customers_administrator(client_for, run, engineer, customer):
    step = run.steps.get(key="checks-before")
    run.steps.filter(pk=step.pk).update(state=StepState.WAITING, started_at=timezone.now())
    run.__class__.objects.filter(pk=run.pk).update(state=RunState.RUNNING, started_at=timezone.now())

    assert "Confirm as engineer" in text_of(live(client_for(engineer), run))
    customer_page = text_of(live(client_for(customer), run))
    assert "Confirm as administrator" in customer_page
    assert "Waiting for the engineer and the customer's administrator" in customer_page

    run.steps.filter(pk=step.pk).update(confirmed_by_engineer=engineer)
    assert "Confirm as engineer" not in text_of(live(client_for(engineer), run))
    assert "Waiting for the customer's administrator" in text_of(live(client_for(customer), run))


def test_a_failed_step_shows_its_error_and_asks_an_engineer_to_take_it(client_for, run, engineer, customer):
    pause_on(run, "install-g1")

    engineer_page = text_of(live(client_for(engineer), run))
    assert "disk full" in engineer_page
    assert "Assign to me" in engineer_page
    assert "Retry the step" not in engineer_page  # not before taking it
    assert "Request a rollback" not in engineer_page and "Rebuild" not in engineer_page
    customer_page = text_of(live(client_for(customer), run))
    assert "The engineer is looking at it" in customer_page
    assert "Assign to me" not in customer_page


def test_the_engineer_who_takes_the_failure_gets_the_choices(client_for, run, engineer):
    pause_on(run, "install-g1")

    page = text_of(act(client_for(engineer), run, "take"))

    assert "The failure is yours" in page
    assert "Retry the step" in page and "Mark as fixed" in page and "Skip the step" in page
    assert "Request a rollback" in page
    run.refresh_from_db()
    assert run.failure_owner == engineer


def test_a_second_engineer_is_refused_with_the_owners_name_and_nothing_changes(client_for, run, engineer,
                                                                                second_engineer):
    step = pause_on(run, "install-g1")
    act(client_for(engineer), run, "take")

    page = text_of(act(client_for(second_engineer), run, "retry", step=step.pk))

    assert "Erin Walsh" in page
    step.refresh_from_db()
    assert step.state == StepState.FAILED
    assert "Take it over from Erin Walsh" in page


def test_a_skip_without_a_reason_is_refused(client_for, run, engineer):
    step = pause_on(run, "install-g1")
    act(client_for(engineer), run, "take")

    page = text_of(act(client_for(engineer), run, "skip", step=step.pk, reason="  "))

    assert "Say why" in page
    step.refresh_from_db()
    assert step.state == StepState.FAILED


def test_only_the_methods_that_apply_are_offered(client_for, run, engineer):
    pause_on(run, "install-g1")  # before the database step: the schema is unchanged
    page = text_of(act(client_for(engineer), run, "take"))

    assert "Restore the VM snapshots" in page  # Northwind's servers are virtual
    assert "Reinstall the previous version" in page
    assert "Restore the database from backup" not in page


def test_the_lead_contact_is_asked_to_authorise_a_requested_rollback(client_for, run, engineer, customer, colleague):
    pause_on(run, "install-g1")
    RollbackDecision.objects.create(run=run, method="reinstall_previous", reason="The disk is gone",
                                    requested_by=engineer)

    lead_page = text_of(live(client_for(customer), run))
    assert "Authorise the rollback" in lead_page and "The disk is gone" in lead_page
    colleague_page = text_of(live(client_for(colleague), run))
    assert "Authorise the rollback" not in colleague_page
    assert "Waiting for the customer's lead contact" in colleague_page


def test_a_refusal_without_a_reason_leaves_the_rollback_waiting(client_for, run, engineer, customer):
    pause_on(run, "install-g1")
    decision = RollbackDecision.objects.create(run=run, method="reinstall_previous", reason="The disk is gone",
                                               requested_by=engineer)

    page = text_of(act(client_for(customer), run, "refuse", reason=""))

    assert "Say why" in page
    decision.refresh_from_db()
    assert decision.state == RollbackState.REQUESTED


def test_the_customer_signs_off_with_the_name_prefilled(client_for, run, engineer, customer):
    run.steps.exclude(key="sign-off").update(state=StepState.SUCCEEDED)
    run.steps.filter(key="sign-off").update(state=StepState.WAITING, started_at=timezone.now())
    run.__class__.objects.filter(pk=run.pk).update(state=RunState.RUNNING, phase=Phase.LIMITED,
                                                    started_at=timezone.now())

    page = text_of(live(client_for(customer), run))
    assert "Sign off the upgrade" in page
    assert 'value="Olivia Bennett"' in page
    assert "Sign off the upgrade" not in text_of(live(client_for(engineer), run))


def test_the_log_tail_shows_the_last_200_lines(client_for, run, engineer):
    for number in range(1, 211):
        event_emit(run=run, kind="log", text=f"line {number:03d}", data={"hostname": "cpadmin01.northwind.example"})

    page = text_of(live(client_for(engineer), run))

    assert "line 210" in page and "line 011" in page
    assert "line 010" not in page
    assert 'data-last-seq="210"' in page


def test_who_did_what_lists_the_decisions_with_their_reasons(client_for, run, engineer, customer):
    event_emit(run=run, kind="decision", text="skipped step 3", actor=engineer, data={"reason": "done by hand"})

    page = text_of(live(client_for(customer), run))

    assert "Erin Walsh" in page and "skipped step 3" in page and "done by hand" in page


def test_htmx_asks_for_the_board_alone(client_for, run, engineer):
    response = client_for(engineer).get(reverse("run-live", args=[run.pk]), {"part": "board"}, HTTP_HX_REQUEST="true")

    page = text_of(response)
    assert page.lstrip().startswith('<div id="run-board"')
    assert "<html" not in page


def test_a_step_event_brings_the_board_everybody_sees_and_each_page_asks_for_its_own_controls(
        client_for, run, engineer, customer):
    step = run.steps.get(key="checks-before")
    run.steps.filter(pk=step.pk).update(state=StepState.WAITING, started_at=timezone.now())
    run.__class__.objects.filter(pk=run.pk).update(state=RunState.RUNNING, started_at=timezone.now())
    event_emit(run=run, kind="step", step=step, text=f"{step.action} waits", data={"state": StepState.WAITING})

    [event] = client_for(customer).get(reverse("run-events-poll", args=[run.pk]), {"after": 0}).json()["events"]

    html = event["html"]
    assert 'hx-swap-oob="innerHTML:#run-steps"' in html and f'id="step-{step.pk}" class="step step-waiting"' in html
    assert "Waiting for the engineer and the customer's administrator" in html
    assert 'hx-swap-oob="innerHTML:#run-now"' in html and PHASE_WORDS[Phase.PREPARATION] in html
    # What a person may press is not in it: each page asks for its own.
    assert "Confirm as" not in html and "csrfmiddlewaretoken" not in html
    assert f'hx-get="{reverse("run-live", args=[run.pk])}?part=controls"' in html
    controls = {person: text_of(client_for(person).get(reverse("run-live", args=[run.pk]), {"part": "controls"},
                                                       HTTP_HX_REQUEST="true"))
                for person in (engineer, customer)}
    assert controls[engineer].lstrip().startswith('<article class="run-controls" id="run-controls">')
    assert "Confirm as engineer" in controls[engineer] and "Confirm as administrator" in controls[customer]


def test_a_new_phase_is_said_for_screen_readers(client_for, run, customer):
    run.__class__.objects.filter(pk=run.pk).update(state=RunState.RUNNING, phase=Phase.DOWNTIME,
                                                    started_at=timezone.now())
    words = PHASE_WORDS[Phase.DOWNTIME]
    event_emit(run=run, kind="phase", text=words, data={"phase": Phase.DOWNTIME, "words": words})

    [event] = client_for(customer).get(reverse("run-events-poll", args=[run.pk]), {"after": 0}).json()["events"]

    assert f'<div hx-swap-oob="beforeend:#run-news"><p>{words}</p></div>' in event["html"]
    assert 'id="run-news" class="visually-hidden" aria-live="polite"' in text_of(live(client_for(customer), run))


def test_a_log_event_brings_its_line_alone(client_for, run, engineer):
    event_emit(run=run, kind="log", text="cpadmin01: Tomcat stopped")

    [event] = client_for(engineer).get(reverse("run-events-poll", args=[run.pk]), {"after": 0}).json()["events"]

    at = timezone.localtime(datetime.fromisoformat(event["at"]), ZoneInfo(engineer.time_zone))
    assert event["html"].strip() == (
        f'<ol hx-swap-oob="beforeend:#run-log"><li data-seq="1"><time>{at:%H:%M:%S}</time> '
        "cpadmin01: Tomcat stopped</li></ol>"
    )


def test_the_window_clock_shows_the_planned_end_in_the_viewers_zone(client_for, run, engineer):
    page = text_of(live(client_for(engineer), run))
    local_end = timezone.localtime(run.planned_end, timezone=ZoneInfo(engineer.time_zone))
    assert f"{local_end:%H:%M}" in page
    assert "Remaining in the window" in page and "Elapsed" in page


def test_a_paused_run_projects_its_end_from_now_past_the_window(client_for, run, engineer):
    """Paused at the last group's start with half the window gone: what is left, as planned,
    ends past the window; the clock says by how much."""
    failed = pause_on(run, "stop-g2")
    rest = run.steps.filter(procedure="upgrade", position__gte=failed.position)
    left = sum(((step.planned_end - step.planned_start) for step in rest), timedelta(0))
    now = run.planned_end - timedelta(minutes=30)

    with time_machine.travel(now, tick=False):
        page = text_of(live(client_for(engineer), run))

    end = timezone.localtime(now + left, timezone=ZoneInfo(engineer.time_zone))
    late = now + left - run.planned_end
    assert re.search(rf'data-clock="projected">{end:%H:%M} <span class="badge warn">'
                     rf'{duration_words(late)} past the window', page)


@pytest.mark.day(FRIDAY)  # at 00:30, a window opened five minutes before is on the same day
def test_make_run_has_todays_window_on_the_lab_with_a_run_ready_to_start(client_for, world, engineer, tmp_path):
    from scheduling.demo import seed_live_upgrade

    run = seed_live_upgrade(lab_dir=tmp_path)

    assert seed_live_upgrade(lab_dir=tmp_path) == run  # loading it again changes nothing
    assert run.state == RunState.SCHEDULED
    assert run.window.start.date() == timezone.now().date()
    assert run.window.start <= timezone.now() < run.window.end
    assert run.steps.filter(number__isnull=False).count() == 15  # a major upgrade of two groups
    assert run.window.engineer == engineer  # the README's engineer finds it on "My windows"
    page = text_of(live(client_for(engineer), run))
    assert "Start the upgrade" in page and "Lab fleet (inject a fault)" in page


def test_a_rearmed_demo_run_puts_back_the_versions_its_servers_ran_not_the_last_upgrade(world, tmp_path):
    """The last demo ended with the deployment on 10.0.0; re-arming resets it to 9.4.2, and the
    new run must remember 9.4.2 as what a rollback puts back."""
    from datetime import timedelta

    from portal.models import Deployment
    from scheduling.demo import rearm_live_upgrade, seed_live_upgrade

    yesterday = timezone.now() - timedelta(days=1)
    first = seed_live_upgrade(lab_dir=tmp_path, now=yesterday)
    Deployment.objects.filter(pk=first.deployment_id).update(
        cloudpaging_version="10.0.0", openjdk_version="21.0.5", tomcat_version="10.1.31")
    assert seed_live_upgrade(lab_dir=tmp_path) == first  # loading the demo again re-arms nothing

    run = rearm_live_upgrade()

    assert run.pk != first.pk and run.from_version == "9.4.2"
    assert run.previous_versions == {"cloudpaging": "9.4.2", "openjdk": "17.0.10", "tomcat": "9.0.85"}
