"""A run's long log (issue 17): the live page shows its tail and pages back on demand, the whole
log is searched on the server, downloaded as a stream, and the report prints a long one in
excerpts. The same people see it as see the live page."""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient
from django.urls import reverse
from django.utils import timezone

from portal.models import Deployment
from tests.conftest import pass_second_factor
from tests.factories import RunFactory
from tests.upgrades.runs import open_run, print_lines
from upgrades import selectors_log
from upgrades.choices import RunState, StepState
from upgrades.selectors_log import LOG_TAIL
from upgrades.services.events import event_emit


@pytest.fixture
def run(northwind_deployment, release, customer):
    return open_run(deployment=northwind_deployment, release=release, by=customer, plan_event=False,
                    state=RunState.RUNNING, started_at=timezone.now())


def seqs(html: str) -> list[int]:
    return [int(number) for number in re.findall(r'data-seq="(\d+)"', html)]


def older(client, run, *, before: int, lines: int = LOG_TAIL):
    return client.get(reverse("run-log", args=[run.pk]), {"before": before, "lines": lines},
                      headers={"HX-Request": "true"})


# How a line reads -------------------------------------------------------------------------


def test_a_line_that_looks_like_markup_reads_as_text_live_on_the_page_and_among_older_lines(
        client_for, run, customer):
    event_emit(run=run, kind="log", text='<script>alert("x")</script> & <b>done</b>', data={})
    client = client_for(customer)

    [event] = client.get(reverse("run-events-poll", args=[run.pk]), {"after": 0}).json()["events"]
    page = client.get(reverse("run-live", args=[run.pk])).content.decode()
    answer = older(client, run, before=2).content.decode()

    clock = timezone.localtime(run.live_events.get().at, ZoneInfo(customer.time_zone)).strftime("%H:%M:%S")
    line = (f'<li data-seq="1"><time>{clock}</time> '
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;done&lt;/b&gt;</li>")
    assert event["html"] == f'<ol hx-swap-oob="beforeend:#run-log">{line}</ol>'
    assert line in page and line in answer
    assert "<script>alert" not in event["html"] + page + answer


# Paging back ------------------------------------------------------------------------------


def test_older_lines_come_a_page_at_a_time_with_no_gap_and_no_overlap(client_for, run, engineer):
    print_lines(run, 450)
    client = client_for(engineer)

    page = client.get(reverse("run-live", args=[run.pk])).content.decode()
    shown = seqs(page.split('id="run-log"')[1])
    assert shown == list(range(251, 451))
    assert 'id="run-log-older" class="log-older">' in page  # not hidden: there is more
    assert 'id="run-log-before" name="before" value="251"' in page

    second = older(client, run, before=251).content.decode()
    assert seqs(second) == list(range(51, 251))
    assert "The log begins here" not in second

    third = older(client, run, before=51).content.decode()
    assert seqs(third) == list(range(1, 51))
    assert "The log begins here" in third


def test_the_live_page_asks_only_for_the_lines_it_has_room_for(client_for, run, engineer):
    print_lines(run, 300)

    answer = older(client_for(engineer), run, before=300, lines=7).content.decode()

    assert seqs(answer) == list(range(293, 300))


def test_a_short_log_shows_where_it_begins_and_offers_no_older_lines(client_for, run, engineer):
    print_lines(run, 12)

    page = client_for(engineer).get(reverse("run-live", args=[run.pk])).content.decode()

    assert 'id="run-log-older" class="log-older" hidden' in page
    assert "The log begins here" in page and seqs(page.split('id="run-log"')[1]) == list(range(1, 13))


def test_the_logs_own_page_pages_both_ways(client_for, run, customer):
    print_lines(run, 500)
    client = client_for(customer)

    latest = client.get(reverse("run-log", args=[run.pk])).content.decode()
    assert seqs(latest) == list(range(301, 501))
    assert "?before=301" in latest and "Newer lines" not in latest

    earlier = client.get(reverse("run-log", args=[run.pk]), {"before": 301}).content.decode()
    assert seqs(earlier) == list(range(101, 301))
    assert "?after=300" in earlier

    later = client.get(reverse("run-log", args=[run.pk]), {"after": 300}).content.decode()
    assert seqs(later) == list(range(301, 501))


def test_a_line_number_that_is_not_one_is_refused(client_for, run, engineer):
    client = client_for(engineer)

    assert client.get(reverse("run-log", args=[run.pk]), {"before": "ten"}).status_code == 400
    assert client.get(reverse("run-log-search", args=[run.pk]), {"q": "tomcat", "after": "-1"}).status_code == 400
    assert client.post(reverse("run-log", args=[run.pk])).status_code == 405


# The search -------------------------------------------------------------------------------


def test_a_search_finds_a_line_deep_in_the_log_and_shows_it_among_its_neighbours(client_for, run, engineer):
    print_lines(run, 3000, special={2222: "cpstream03: ERROR: disk quota exceeded on /var/lib/cloudpaging"})
    client = client_for(engineer)

    results = client.get(reverse("run-log-search", args=[run.pk]), {"q": "DISK QUOTA"},
                         headers={"HX-Request": "true"}).content.decode()

    assert "ERROR: disk quota exceeded" in results
    assert results.count("<li>") == 1
    link = re.search(r'href="([^"]*\?at=2222#line-2222)"', results).group(1)
    context = client.get(link.split("#")[0]).content.decode()
    assert 'id="line-2222" data-seq="2222" class="log-found"' in context
    assert {2221, 2222, 2223} <= set(seqs(context))


def test_search_results_come_a_page_at_a_time(client_for, run, engineer):
    print_lines(run, 400, text="line {n:05d}", special={n: f"tomcat restarted {n}" for n in range(1, 401, 3)})
    client = client_for(engineer)
    url = reverse("run-log-search", args=[run.pk])

    first = client.get(url, {"q": "tomcat"}).content.decode()
    found = re.findall(r"tomcat restarted (\d+)", first)
    assert found == [str(n) for n in range(1, 150, 3)]  # the first 50
    after = re.search(r"after=(\d+)", first).group(1)

    second = client.get(url, {"q": "tomcat", "after": after}, headers={"HX-Request": "true"}).content.decode()
    assert re.findall(r"tomcat restarted (\d+)", second) == [str(n) for n in range(151, 300, 3)]


def test_a_phrase_too_short_to_search_is_refused_politely(client_for, run, engineer):
    answer = client_for(engineer).get(reverse("run-log-search", args=[run.pk]), {"q": "ab"})

    assert answer.status_code == 200 and "Type at least 3 characters" in answer.content.decode()


def test_the_search_finds_only_this_runs_lines_and_only_for_whoever_sees_the_run(client_for, run, engineer, customer,
                                                                                   outsider, contoso):
    print_lines(run, 20, special={5: "restarting cpadmin01"})
    other = RunFactory(window__request__deployment=Deployment.objects.filter(organisation=contoso).first(),
                       plan_event=False)
    print_lines(other, 20, special={5: "restarting contoso-secret-host"})
    url = reverse("run-log-search", args=[run.pk])

    results = client_for(customer).get(url, {"q": "restarting"}).content.decode()

    assert "cpadmin01" in results and "contoso-secret-host" not in results
    assert client_for(outsider).get(url, {"q": "restarting"}).status_code == 404


# The download -----------------------------------------------------------------------------


def test_the_whole_log_downloads_in_order_as_a_stream(client_for, run, customer):
    step = run.steps.order_by("position").first()
    print_lines(run, 12_345, step=step)

    response = client_for(customer).get(reverse("run-log-download", args=[run.pk]))

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="upgrade-log-{run.pk}.txt"'
    chunks = list(response.streaming_content)
    assert len(chunks) > 2  # read and sent a chunk at a time
    text = b"".join(chunks).decode()
    assert f"== Step {step.number}: {step.action} ==" in text if step.number else f"== {step.action} ==" in text
    assert re.findall(r"line (\d+)", text) == [f"{n:05d}" for n in range(1, 12_346)]


def test_only_whoever_sees_the_run_downloads_its_log(client, client_for, run, outsider):
    print_lines(run, 3)
    url = reverse("run-log-download", args=[run.pk])

    assert client_for(outsider).get(url).status_code == 404
    assert client.get(url).status_code == 302  # to the log-in page
    assert client_for(outsider).post(url).status_code == 405


# The report -------------------------------------------------------------------------------


def test_a_long_logs_report_shows_the_failed_attempts_lines_and_the_tail(client_for, run, engineer, monkeypatch):
    monkeypatch.setattr(selectors_log, "REPORT_WHOLE", 500)
    step = run.steps.order_by("position").first()
    event_emit(run=run, kind="step", step=step, text="started", data={"state": StepState.RUNNING, "attempt": 1})
    print_lines(run, 400, step=step, text="attempt one {n:05d}",
                special={400: "ERROR: The installer cannot write to /opt/cloudpaging"})
    event_emit(run=run, kind="step", step=step, text="failed",
               data={"state": StepState.FAILED, "attempt": 1, "error": "The installer cannot write"})
    event_emit(run=run, kind="step", step=step, text="started", data={"state": StepState.RUNNING, "attempt": 2})
    print_lines(run, 1000, step=step, text="attempt two {n:05d}")
    step.__class__.objects.filter(pk=step.pk).update(state=StepState.RUNNING, attempts=2,
                                                     started_at=timezone.now() - timedelta(minutes=5))

    page = client_for(engineer).get(reverse("run-report", args=[run.pk])).content.decode()

    log = page[page.index('id="log"'):]
    assert "The log is too long to print whole" in log
    assert "Attempts that failed" in log and "ERROR: The installer cannot write to /opt/cloudpaging" in log
    assert "attempt one 00351" in log and "attempt one 00350" not in log  # its last 50 lines
    assert "attempt two 01000" in log and "attempt two 00801" in log and "attempt two 00800" not in log
    assert reverse("run-log-download", args=[run.pk]) in log


def test_under_asgi_the_download_is_read_a_chunk_at_a_time(run, customer):
    """uvicorn serves the portal: Django would read a sync iterator whole before sending it, so
    the download hands it an async one that reads a chunk at a time."""
    print_lines(run, 12_345)
    client = AsyncClient()
    client.force_login(customer, backend="django.contrib.auth.backends.ModelBackend")
    pass_second_factor(client, customer)

    response = async_to_sync(client.get)(reverse("run-log-download", args=[run.pk]))

    assert response.status_code == 200 and response.is_async

    async def read() -> list[bytes]:
        return [chunk async for chunk in response.streaming_content]

    chunks = async_to_sync(read)()
    assert len(chunks) > 2
    assert re.findall(r"line (\d+)", b"".join(chunks).decode()) == [f"{n:05d}" for n in range(1, 12_346)]
