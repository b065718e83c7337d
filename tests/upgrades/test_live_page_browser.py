"""The live page as people use it every day, in a real browser: a real Celery worker runs the
steps on a lab fleet over HTTP, the live server answers (WSGI: the page follows the events by
polling, as live.js falls back to).

- A reload while a step prints its lines shows each line once, and none is missing.
- Step and phase changes are said politely to screen readers; the log is not read out line by line.
"""

import threading
import time
from contextlib import contextmanager

import pytest
from django.db import connection, transaction
from playwright.sync_api import Page, expect

from tests.conftest import wait_for, watcher
from tests.upgrades.runs import confirmed_window, lab_deployment, start
from upgrades.choices import StepState
from upgrades.models import LiveEvent, Run, Step
from upgrades.procedure import StepKind
from upgrades.runflow import DONE_STEP_STATES
from upgrades.selectors_runs import LOG_TAIL
from upgrades.services.plans import run_create
from upgrades.services.runs import step_confirm

pytestmark = pytest.mark.browser


def last_log_seq(run: Run) -> int:
    return LiveEvent.objects.filter(run=run, kind="log").order_by("-seq").values_list("seq", flat=True).first() or 0


def shown_seqs(page: Page) -> list[int]:
    return page.locator("#run-log li[data-seq]").evaluate_all("lines => lines.map(line => Number(line.dataset.seq))")


def operation_printing(run: Run, *, engineer, administrator, timeout: float = 60.0) -> Step:
    """Confirm the functionality tests as they wait (both sides) until a step runs an operation on
    the servers and has printed its first line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = run.steps.filter(state=StepState.WAITING, kind=StepKind.CHECKS).first()
        if waiting is not None:
            step_confirm(step=waiting, by=engineer)
            step_confirm(step=waiting, by=administrator)
        running = run.steps.filter(state=StepState.RUNNING, kind=StepKind.OPERATION).first()
        if running is not None and running.live_events.filter(kind="log").exists():
            return running
        time.sleep(0.05)
    raise AssertionError(f"no operation printed within {timeout} s")


@contextmanager
def page_held_while_lines_arrive(run: Run, *, lines: int = 2):
    """A slow rendering of the live page, made with the database: another session locks the
    table of check results, which the page reads after the run and before its log; once a page
    waits on it and `lines` more log lines are committed, the lock goes. The engine's operation
    steps do not touch that table, so the step goes on printing meanwhile."""
    locked, failures = threading.Event(), []

    def hold() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("LOCK TABLE upgrades_checkresult IN ACCESS EXCLUSIVE MODE")
                locked.set()

                def page_waits() -> bool:
                    # The activity view is read once per transaction unless its snapshot is dropped.
                    cursor.execute("SELECT pg_stat_clear_snapshot()")
                    cursor.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND query ILIKE %s", ["%upgrades_checkresult%"],
                    )
                    return cursor.fetchone()[0] > 0

                wait_for(page_waits, timeout=20)
                first = last_log_seq(run)
                wait_for(lambda: last_log_seq(run) >= first + lines, timeout=30)
        except Exception as error:  # noqa: BLE001 - said in the test's thread
            failures.append(error)
        finally:
            locked.set()
            connection.close()

    holder = threading.Thread(target=hold, name="slow live page")
    holder.start()
    locked.wait(10)
    try:
        yield
    finally:
        holder.join(60)
    if failures:
        raise failures[0]


def test_a_reload_while_a_step_prints_shows_every_log_line_once(browser, live_server, workers, start_lab, northwind,
                                                                 minor, engineer, customer):
    deployment, lab = lab_deployment(start_lab, northwind, groups=2, name="Reload lab", op_seconds=6)
    run = run_create(window=confirmed_window(deployment, minor, engineer=engineer, customer=customer))
    start(run, engineer=engineer, customer=customer)
    erin = watcher(browser, live_server, "engineer@vendor.example")
    erin.goto(f"/runs/{run.pk}/")

    step = operation_printing(run, engineer=engineer, administrator=customer)
    with page_held_while_lines_arrive(run):
        erin.reload(timeout=60_000)

    # The step ends; by then the page has everything up to its last line, each line once.
    wait_for(lambda: Step.objects.get(pk=step.pk).state in DONE_STEP_STATES, timeout=60)
    last = last_log_seq(run)
    wait_for(lambda: (shown_seqs(erin) or [0])[-1] >= last, timeout=30)
    written = list(LiveEvent.objects.filter(run=run, kind="log", seq__lte=last).order_by("seq")
                   .values_list("seq", flat=True))
    assert len(written) < LOG_TAIL
    shown = [seq for seq in shown_seqs(erin) if seq <= last]
    assert [seq for seq in set(shown) if shown.count(seq) > 1] == []
    assert shown == written
    expect(erin.locator("#run-log li")).not_to_have_count(0)


# Where a screen reader hears an element's changes: inside a live region that is not off.
IN_A_LIVE_REGION = """element => element.closest('[aria-live]:not([aria-live="off"]), [role=status], [role=log], [role=alert]') !== null"""


def test_step_changes_are_said_politely_and_the_log_is_not_read_out(browser, live_server, workers, start_lab, northwind,
                                                                     minor, engineer, customer):
    deployment, lab = lab_deployment(start_lab, northwind, groups=2, name="Spoken lab", op_seconds=3)
    run = run_create(window=confirmed_window(deployment, minor, engineer=engineer, customer=customer))
    start(run, engineer=engineer, customer=customer)
    erin = watcher(browser, live_server, "engineer@vendor.example")
    erin.goto(f"/runs/{run.pk}/")
    waiting = wait_for(lambda: run.steps.filter(state=StepState.WAITING).first(), timeout=30)

    # The keyboard reaches the confirmation, and shows where it is.
    erin.get_by_label("Note", exact=True).focus()
    erin.keyboard.press("Tab")
    confirm = erin.get_by_role("button", name="Confirm as engineer")
    expect(confirm).to_be_focused()
    outline = confirm.evaluate("button => getComputedStyle(button)")
    assert outline["outlineStyle"] != "none" and float(outline["outlineWidth"].removesuffix("px")) >= 2
    erin.keyboard.press("Enter")
    expect(erin.get_by_role("status").first).to_contain_text("Your confirmation is recorded")

    # The customer's administrator confirms too: the next step starts, and the page says so politely.
    step_confirm(step=waiting, by=customer)
    following = run.steps.filter(position__gt=waiting.position).order_by("position").first()
    news = erin.locator("#run-news")
    expect(news).to_have_attribute("aria-live", "polite")
    expect(news).to_contain_text(f"Step {following.number}: {following.action} started", timeout=45_000)

    # The log goes on in silence: it is in no live region, and none of its lines is said.
    wait_for(lambda: LiveEvent.objects.filter(run=run, kind="log").exists(), timeout=30)
    expect(erin.locator("#run-log li[data-seq]").first).to_be_attached(timeout=45_000)
    assert erin.locator("#run-log").evaluate(IN_A_LIVE_REGION) is False
    said = news.inner_text()
    assert not [text for text in LiveEvent.objects.filter(run=run, kind="log").values_list("text", flat=True)
                if text in said]
    # The phase banner, swapped whole with each step, is not a live region of its own: the news says it once.
    assert erin.locator("#run-phase").evaluate(IN_A_LIVE_REGION) is False
