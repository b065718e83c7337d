"""The request page's preflight in a real browser: a real Celery worker asks Northwind's servers
(a lab fleet over HTTP) and the results appear on the page without a reload."""

import threading
from contextlib import contextmanager

import pytest
from django.db import connection, transaction
from playwright.sync_api import expect

from tests.conftest import log_in, save_screenshot
from upgrades.models import ChecklistItem

pytestmark = pytest.mark.browser


@contextmanager
def preflight_held(item: ChecklistItem):
    """The worker's preflight waits on `item`'s row (it records its result under a row lock) until
    the block ends: the page is seen while the preflight still runs."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                ChecklistItem.objects.select_for_update().get(pk=item.pk)
                locked.set()
                release.wait(30)
        finally:
            locked.set()
            connection.close()

    holder = threading.Thread(target=hold, name="preflight held")
    holder.start()
    locked.wait(10)
    try:
        yield
    finally:
        release.set()
        holder.join(30)


def test_the_preflight_results_appear_on_the_request_page_without_a_reload(page, worker, northwind_lab, draft):
    log_in(page, "lead@northwind.example")
    page.goto(f"/requests/{draft.pk}/")
    reachable = page.locator(f"#item-{draft.items.get(key='servers_reachable').pk}")
    expect(reachable).not_to_contain_text("Preflight")

    with preflight_held(draft.items.get(key="servers_reachable")):
        page.get_by_role("button", name="Run preflight").click()
        expect(page.get_by_role("status").first).to_contain_text("The preflight is running")
        expect(page.locator("#preflight")).to_contain_text("The preflight is asking your servers")
        page.evaluate("window.stillTheSamePage = true")
        save_screenshot(page, "request-preflight-running")

    expect(reachable.locator(".preflight")).to_contain_text("Preflight passed", timeout=20_000)
    expect(reachable).to_contain_text("cpstream02.northwind.example reachable")
    expect(reachable.locator(".badge")).to_have_text("Provided")
    repository = page.locator(f"#item-{draft.items.get(key='repository_validation').pk}")
    expect(repository.locator(".preflight")).to_contain_text("Preflight passed")
    expect(page.locator("#preflight")).to_contain_text("The preflight has finished")
    save_screenshot(page, "request-preflight-finished")
    assert page.evaluate("window.stillTheSamePage") is True
