"""The run report as a PDF: Debian's Chromium prints the report's own HTML (Playwright's sync
API, in a thread of its own so that it never meets an event loop of the caller's thread, such
as an ASGI server's or a test's browser). The page is set from a string with its CSS inlined and
every request refused: printing needs no network."""

import threading
from functools import cache
from pathlib import Path

from django.contrib.staticfiles import finders

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
# Printing is a minute's work at most; past it something is stuck, and the view says so.
TIMEOUT_SECONDS = 60
STYLESHEETS = ("vendor/pico/pico-2.1.1.min.css", "portal/portal.css", "portal/run.css")


class PdfError(Exception):
    """Chromium could not print the report."""


@cache
def inline_css() -> str:
    return "\n".join(Path(finders.find(name)).read_text() for name in STYLESHEETS)


def _print(html: str) -> bytes:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", lambda route: route.abort())
            page.set_content(html, wait_until="load")
            return page.pdf(format="A4", print_background=True,
                            margin={"top": "14mm", "bottom": "14mm", "left": "12mm", "right": "12mm"})
        finally:
            browser.close()


def html_to_pdf(html: str) -> bytes:
    outcome: dict = {}

    def work():
        try:
            outcome["pdf"] = _print(html)
        except Exception as error:  # reported in the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=work, name="report-pdf", daemon=True)
    thread.start()
    thread.join(TIMEOUT_SECONDS)
    if "pdf" not in outcome:
        raise PdfError(f"Chromium did not print the report: {outcome.get('error', 'timed out')}")
    return outcome["pdf"]
