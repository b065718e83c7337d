"""The report both sides keep (S17): planned against actual per step and phase, announced
against measured downtime, every log line, decision and check; as a page and as a PDF."""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.timezone import localtime

from portal.models import Dispatch
from tests.conftest import wait_for
from tests.upgrades.runs import open_run
from upgrades.choices import ProbeState, RunState, StepState
from upgrades.models import AvailabilityProbe, AvailabilitySample, CheckResult, ReportPdf, Run, SignOff, Step
from upgrades.report_pdf import inline_css
from upgrades.selectors_runs import LABEL_WIDTH, report_of
from upgrades.services.events import event_emit


@pytest.fixture
def finished_run(northwind_deployment, release, customer, engineer):
    """A major run that ran its steps a minute each, with 20 s of measured downtime at the
    database step, its checks, a decision, log lines and the customer's sign-off."""
    run = open_run(deployment=northwind_deployment, release=release, by=customer)
    window = run.window
    began = window.start + timedelta(minutes=1)
    moment = began
    for step in run.steps.order_by("position"):
        run.steps.filter(pk=step.pk).update(state=StepState.SUCCEEDED, started_at=moment,
                                            finished_at=moment + timedelta(seconds=50), attempts=1)
        if step.key == "database":
            database_at = moment
        moment += timedelta(minutes=1)
    probe = AvailabilityProbe.objects.create(deployment=northwind_deployment, url=northwind_deployment.service_url,
                                             state=ProbeState.STOPPED, stopped_at=moment)
    AvailabilitySample.objects.bulk_create(
        AvailabilitySample(probe=probe, at=began + timedelta(seconds=second), latency_ms=12.0, status=200,
                           up=not (database_at <= began + timedelta(seconds=second) < database_at + timedelta(seconds=20)))
        for second in range(0, int((moment - began).total_seconds()), 2)
    )
    run.__class__.objects.filter(pk=run.pk).update(state=RunState.COMPLETED, phase="full", started_at=began,
                                                    finished_at=moment, started_by=engineer, probe=probe)
    CheckResult.objects.create(deployment=northwind_deployment, stage="Final functionality tests", kind="login",
                               passed=True, duration_ms=48.0)
    CheckResult.objects.filter(deployment=northwind_deployment).update(recorded_at=moment - timedelta(minutes=2))
    for number in range(1, 301):
        event_emit(run=run, kind="log", text=f"line {number:03d}", data={"hostname": "cpadmin01.northwind.example"})
    event_emit(run=run, kind="decision", text="retried step 3", actor=engineer, data={"reason": "disk freed"})
    SignOff.objects.create(run=run, name="Olivia Bennett", comment="All good", signed_by=customer, checks=[])
    run.refresh_from_db()
    return run


def test_the_report_sets_measured_downtime_beside_the_announced(client_for, finished_run, customer):
    page = client_for(customer).get(reverse("run-report", args=[finished_run.pk])).content.decode()

    assert "Announced against measured" in page
    assert "15 min 00 s" in page  # the window's announced downtime
    assert "in 1 stretch" in page  # what the prober measured
    assert "Olivia Bennett" in page and "All good" in page


def test_the_report_has_every_log_line_decision_and_check(client_for, finished_run, engineer):
    page = client_for(engineer).get(reverse("run-report", args=[finished_run.pk])).content.decode()

    assert "line 001" in page and "line 300" in page
    assert "retried step 3" in page and "disk freed" in page
    assert "Final functionality tests" in page and "Log-in works" in page


def test_the_report_draws_planned_against_actual_per_step(client_for, finished_run, engineer):
    page = client_for(engineer).get(reverse("run-report", args=[finished_run.pk])).content.decode()

    assert 'class="timeline-chart"' in page
    assert page.count('class="actual succeeded"') == finished_run.steps.count()
    assert "Planned against actual, per phase" in page
    assert "Downtime: the service is unavailable" in page


def _pdf(client, run):
    return client.get(reverse("run-report-pdf", args=[run.pk]))


def test_the_report_is_printed_once_by_a_worker_and_then_served_as_stored(worker, client_for, finished_run, customer):
    client = client_for(customer)
    first = _pdf(client, finished_run)
    assert first.status_code == 202 and first["Retry-After"] == "2"
    assert "Preparing the PDF" in first.content.decode()
    # Everyone who asks meanwhile waits for the same print.
    assert all(_pdf(client, finished_run).status_code in (200, 202) for _ in range(11))

    response = wait_for(lambda: (answer := _pdf(client, finished_run)).status_code == 200 and answer, timeout=60)

    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF") and len(response.content) > 10_000
    assert ReportPdf.objects.filter(run=finished_run).count() == 1
    assert Dispatch.objects.filter(task="upgrades.report_pdf").count() == 1
    assert _pdf(client, finished_run).content == response.content  # the stored file, not a new print


def test_without_chromium_the_pdf_is_refused_with_a_clear_answer(worker, client_for, finished_run, customer, monkeypatch):
    from upgrades import report_pdf

    monkeypatch.setattr(report_pdf, "CHROMIUM", "/nonexistent/chromium")  # a server without the browser
    client = client_for(customer)
    assert _pdf(client, finished_run).status_code == 202

    response = wait_for(lambda: (answer := _pdf(client, finished_run)).status_code != 202 and answer, timeout=60)

    assert response.status_code == 503
    assert "print it from your browser" in response.content.decode()
    assert _pdf(client, finished_run).status_code == 202  # asking again tries again


def test_printing_pdfs_is_limited_per_person(client_for, finished_run, customer, settings):
    settings.REPORT_PDF_RATE = (1, 3600)
    client = client_for(customer)
    assert _pdf(client, finished_run).status_code == 202
    ReportPdf.objects.filter(run=finished_run).update(error="Chromium did not print the report")
    assert _pdf(client, finished_run).status_code == 503  # said, and forgotten

    response = _pdf(client, finished_run)

    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 3600
    assert "Too many PDFs asked for" in response.content.decode()
    assert not ReportPdf.objects.filter(run=finished_run).exists()


def test_a_run_under_way_has_no_pdf_yet(client_for, finished_run, customer):
    Run.objects.filter(pk=finished_run.pk).update(state=RunState.RUNNING)

    response = _pdf(client_for(customer), finished_run)

    assert response.status_code == 409
    assert "once the upgrade has ended" in response.content.decode()
    assert not ReportPdf.objects.exists()


def test_an_outsider_gets_no_report(client_for, finished_run, outsider):
    assert client_for(outsider).get(reverse("run-report", args=[finished_run.pk])).status_code == 404
    assert client_for(outsider).get(reverse("run-report-pdf", args=[finished_run.pk])).status_code == 404
    assert client_for(outsider).post(reverse("run-report", args=[finished_run.pk])).status_code == 405


def test_a_run_under_way_projects_its_end_from_how_late_it_is(client_for, northwind_deployment, release, customer, engineer):
    """Every step so far on time, then the database step began 20 minutes late: the steps to come
    and the run's end move 20 minutes on, past the window."""
    run = open_run(deployment=northwind_deployment, release=release, by=customer)
    steps = list(run.steps.filter(procedure="upgrade").order_by("position"))
    running = next(index for index, step in enumerate(steps) if step.key == "database")
    late = timedelta(minutes=20)
    for step in steps[:running]:
        Step.objects.filter(pk=step.pk).update(state=StepState.SUCCEEDED, started_at=step.planned_start,
                                               finished_at=step.planned_end, attempts=1)
    database, following = steps[running], steps[running + 1]
    Step.objects.filter(pk=database.pk).update(state=StepState.RUNNING, started_at=database.planned_start + late,
                                               attempts=1)
    Run.objects.filter(pk=run.pk).update(state=RunState.RUNNING, started_at=steps[0].planned_start)
    zone = ZoneInfo(engineer.time_zone)

    with time_machine.travel(database.planned_start + late + timedelta(minutes=1), tick=False):
        page = client_for(engineer).get(reverse("run-report", args=[run.pk])).content.decode()

    projected_end = localtime(run.planned_end + late, zone)
    assert re.search(rf"Projected end</dt><dd>{projected_end:%H:%M} <span[^>]*>20 min 00 s past the window", page)
    row = re.search(rf"<td>{re.escape(following.action)}.*?</tr>", page, re.S).group(0)
    begins, ends = localtime(following.planned_start + late, zone), localtime(following.planned_end + late, zone)
    assert f"{begins:%H:%M}–{ends:%H:%M}" in row  # the projected column, beside the planned one


def test_a_finished_run_projects_nothing(client_for, finished_run, engineer):
    page = client_for(engineer).get(reverse("run-report", args=[finished_run.pk])).content.decode()

    assert "Projected" not in page


# Printing on A4: the width of the page less the PDF's margins (210 mm - 2 x 12 mm), in CSS pixels
# of 96 to the inch. (The browser's test comes last: its module-wide browser starts with it.)
PRINTED_WIDTH = round(186 / 25.4 * 96)
SMALLEST_LEGIBLE_PT = 8


def test_the_printed_timeline_labels_are_legible_and_clear_of_the_bars(browser, finished_run):
    html = render_to_string("upgrades/run_report.html", {
        **report_of(finished_run), "printing": True, "inline_css": inline_css(), "zone": "Europe/London",
    })
    page = browser.new_page(viewport={"width": PRINTED_WIDTH, "height": 1100})
    page.emulate_media(media="print")
    page.set_content(html)

    labels = page.evaluate("""() => {
        const chart = document.querySelector('.timeline-chart');
        const scale = chart.getBoundingClientRect().width / chart.viewBox.baseVal.width;
        return [...chart.querySelectorAll('text[x="4"]')].map(label => ({
            text: label.textContent,
            points: parseFloat(getComputedStyle(label).fontSize) * scale * 0.75,
            right: label.getBBox().x + label.getBBox().width,
        }));
    }""")
    page.close()

    assert len(labels) == finished_run.steps.count()
    assert min(label["points"] for label in labels) >= SMALLEST_LEGIBLE_PT
    assert max(label["right"] for label in labels) < LABEL_WIDTH, "a label runs into the bars"
