"""The report tells the whole story of a run that failed and went on: the failed attempt and the
minute it cost, the paused time as a row of its own, each attempt's log, every decision once;
and while a run is under way, when it is now expected to end."""

import html
import re
import time
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.upgrades.decide_stories import ADMIN_1, drive, fresh, make_run, paused, step, waiting_for_sign_off
from tests.upgrades.runs import start
from upgrades.choices import RunState
from upgrades.models import LiveEvent
from upgrades.procedure import PHASE_WORDS
from upgrades.services.decisions import failure_take, step_retry
from upgrades.services.runs import run_sign_off

REASON = "Permissions corrected on the server"


def rows(page: str, table_class: str) -> list[str]:
    """The text of each row of the table with this class, as a reader sees it."""
    table = re.search(rf'<table class="[^"]*\b{table_class}\b[^"]*">(.*?)</table>', page, re.S).group(1)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split())
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)]


def section(page: str, title: str) -> str:
    start = page.index(f">{title}</h2>")
    return page[start:page.index("</section>", start)]


def clock(moment, user) -> str:
    return timezone.localtime(moment, ZoneInfo(user.time_zone)).strftime("%H:%M:%S")


@pytest.fixture
def retried_run(workers, northwind_lab, northwind_deployment, customer, engineer):
    """A minor run on the lab whose "stop group 1", the first step of the at-risk phase, failed once, stood paused until the engineer
    took the failure and retried it, then completed and was signed off."""
    northwind_lab.control.inject(ADMIN_1, "fail_next", reason="The installer cannot write to C:\\Program Files")
    run = make_run(deployment=northwind_deployment, version="9.5.0", by=customer)
    start(run, engineer=engineer, customer=customer)
    run = drive(run, engineer=engineer, customer=customer, until=paused)
    time.sleep(1.5)  # the engineer reads the error: the run stands still meanwhile
    failure_take(run=run, by=engineer)
    step_retry(step=step(run, "stop-g1"), by=engineer, reason=REASON)
    run = drive(run, engineer=engineer, customer=customer, until=waiting_for_sign_off)
    run_sign_off(run=run, by=customer, name="Olivia Bennett", comment="All good")
    return fresh(run)


def test_a_retried_step_shows_both_attempts_with_the_failure_and_each_attempts_log(client_for, retried_run, engineer):
    page = client_for(engineer).get(reverse("run-report", args=[retried_run.pk])).content.decode()

    stop = step(retried_run, "stop-g1")
    steps = rows(page, "report-steps")
    at = next(index for index, row in enumerate(steps) if row.startswith(f"{stop.number} {stop.action}"))
    assert "Succeeded 2 attempts" in steps[at]
    assert steps[at + 1].startswith("Attempt 1: ") and "cannot write to C:\\Program Files" in steps[at + 1]
    assert steps[at + 1].endswith("Failed")
    assert steps[at + 2].startswith("Attempt 2") and steps[at + 2].endswith("Succeeded")
    # The timeline draws the failed attempt in red before the one that succeeded.
    assert page.count('class="actual failed"') == 1

    log = section(page, "Deployment log")
    first = log.index(f"Step {stop.number}: {stop.action} · attempt 1 · ")
    second = log.index(f"Step {stop.number}: {stop.action} · attempt 2 · ")
    assert "failed" in log[first:first + 200] and "succeeded" in log[second:second + 200]
    assert "ERROR: The installer cannot write" in log[first:second]
    assert "ERROR" not in log[second:log.index("<h3", second + 1) if "<h3" in log[second + 1:] else None]


def test_paused_time_is_a_row_of_its_own_and_the_phase_starts_with_the_first_attempt(
        client_for, retried_run, engineer):
    page = client_for(engineer).get(reverse("run-report", args=[retried_run.pk])).content.decode()

    pause = LiveEvent.objects.get(run=retried_run, kind="run", data__state=RunState.PAUSED)
    resumed = LiveEvent.objects.get(run=retried_run, kind="run", data__state=RunState.RUNNING, text="The run resumes")
    phases = rows(page, "phases")
    [paused_row] = [row for row in phases if row.startswith("Paused")]
    assert "failed" in paused_row
    assert f"{clock(pause.at, engineer)}–{clock(resumed.at, engineer)}" in paused_row

    stop = step(retried_run, "stop-g1")
    first_try = LiveEvent.objects.filter(run=retried_run, step=stop, kind="step", data__attempt=1).order_by("seq")[0]
    [phase] = [row for row in phases if row.startswith(PHASE_WORDS[stop.phase])]
    assert f"{clock(first_try.at, engineer)}–" in phase, "the phase begins with the first attempt, not the retry"
    assert re.search(r"of which \d s paused", phase)


def test_every_decision_reads_once_with_its_reason_once(client_for, retried_run, engineer):
    for name in ("run-report", "run-live"):
        page = client_for(engineer).get(reverse(name, args=[retried_run.pk])).content.decode()
        text = html.unescape(re.sub(r"<[^>]+>", " ", page))
        text = " ".join(text.split())

        assert "Erin Walsh took the failure" in text
        assert "Erin Walsh : Erin Walsh" not in text and "Erin Walsh: Erin Walsh" not in text
        assert text.count(REASON) == 1, name
    report = client_for(engineer).get(reverse("run-report", args=[retried_run.pk])).content.decode()
    assert "upgraded to 9.5.0" in report and "runs 9.5.0" not in report
