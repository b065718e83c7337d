"""A long log on the live page, in a real browser: the page holds at most LOG_KEPT lines whatever
the log's length, pages back by keyboard, and new lines push the oldest out."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.conftest import wait_for, watcher
from tests.upgrades.runs import open_run, print_lines
from upgrades.choices import RunState
from upgrades.selectors_log import LOG_KEPT, LOG_TAIL
from upgrades.services.events import event_emit

pytestmark = pytest.mark.browser


def shown(page, log: str = "#run-log") -> list[int]:
    return page.locator(f"{log} li[data-seq]").evaluate_all("lines => lines.map(line => Number(line.dataset.seq))")


def test_the_live_page_holds_a_bounded_log_and_pages_back_by_keyboard(transactional_db, browser, live_server,
                                                                      northwind_deployment, release, customer,
                                                                      tmp_path):
    run = open_run(deployment=northwind_deployment, release=release, by=customer, plan_event=False,
                   state=RunState.RUNNING, started_at=timezone.now())
    print_lines(run, 1500, text="cpstream01.northwind.example: copying package {n:05d}")
    erin = watcher(browser, live_server, "engineer@vendor.example")
    erin.goto(f"/runs/{run.pk}/")
    expect(erin.locator("#run-log li[data-seq]")).to_have_count(LOG_TAIL)

    # Older lines, a page at a time, from the keyboard: the button keeps the focus.
    older = erin.get_by_role("button", name="Show older lines")
    older.focus()
    for count in range(2 * LOG_TAIL, LOG_KEPT + 1, LOG_TAIL):
        erin.keyboard.press("Enter")
        expect(erin.locator("#run-log li[data-seq]")).to_have_count(count)
        if count < LOG_KEPT:
            expect(older).to_be_focused()
    assert shown(erin) == list(range(1500 - LOG_KEPT + 1, 1501))
    erin.locator("#run-log").scroll_into_view_if_needed()
    erin.screenshot(path=str(tmp_path / "long-log-live-page.png"), full_page=False)

    # Full: the log's own page takes the button's place, and the keyboard goes with it.
    page_link = erin.get_by_role("link", name="Older lines: on the log's own page")
    expect(page_link).to_be_focused()
    expect(older).to_be_hidden()
    assert page_link.get_attribute("href").endswith(f"?before={1500 - LOG_KEPT + 1}")

    # New lines push the oldest out: the page never holds more.
    for number in range(1, 6):
        event_emit(run=run, kind="log", text=f"cpstream02.northwind.example: new line {number}")
    wait_for(lambda: shown(erin)[-1] == 1505, timeout=30)
    assert shown(erin) == list(range(1505 - LOG_KEPT + 1, 1506))
    assert page_link.get_attribute("href").endswith(f"?before={1505 - LOG_KEPT + 1}")


def test_a_search_on_the_live_page_finds_a_line_deep_in_the_log_and_shows_it_in_context(
        transactional_db, browser, live_server, northwind_deployment, release, customer):
    run = open_run(deployment=northwind_deployment, release=release, by=customer, plan_event=False,
                   state=RunState.RUNNING, started_at=timezone.now())
    print_lines(run, 5000, special={1234: "cpstream03: ERROR: disk quota exceeded"})
    erin = watcher(browser, live_server, "engineer@vendor.example")
    erin.goto(f"/runs/{run.pk}/")

    erin.get_by_role("searchbox", name="Search the whole log").fill("disk quota")
    erin.keyboard.press("Enter")
    result = erin.locator("#log-search-results li")
    expect(result).to_have_count(1)
    expect(result).to_contain_text("ERROR: disk quota exceeded")

    result.get_by_role("link").click()
    found = erin.locator("#line-1234")
    expect(found).to_have_class("log-found")
    expect(found).to_be_in_viewport()
    assert {1233, 1234, 1235} <= set(shown(erin, ".log-page"))  # among its neighbours, on the log's own page
