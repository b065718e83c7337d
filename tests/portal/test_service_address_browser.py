"""The deployment page's service address wraps where an address may wrap (after "//", before a
dot or a slash...), never inside a word, and never runs out of its box, on a laptop's screen."""

import pytest
from django.urls import reverse

from portal import services
from tests.conftest import log_in, save_screenshot

pytestmark = pytest.mark.browser

# Each line of the address as the browser laid it out, and whether it stays inside its box.
LAID_OUT = """dd => {
  const lines = [];
  let top = null;
  const walker = document.createTreeWalker(dd, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.length; i++) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const box = range.getBoundingClientRect();
      if (top === null || box.top > top + 2) { lines.push(""); top = box.top; }
      lines[lines.length - 1] += node.data[i];
    }
  }
  const box = dd.getBoundingClientRect(), column = dd.parentElement.getBoundingClientRect();
  return {lines, inside: dd.scrollWidth <= dd.clientWidth && box.right <= column.right + 0.5};
}"""


def _service_address(page):
    return page.locator(".facts div").filter(has_text="Service address").locator("dd")


def _laid_out(page, deployment, url: str, *, by) -> dict:
    services.deployment_update(deployment=deployment, by=by, service_url=url)
    page.goto(reverse("deployment-detail", args=[deployment.pk]))
    return _service_address(page).evaluate(LAID_OUT)


def test_an_address_wraps_between_its_parts_not_inside_a_word(page, northwind_deployment, support):
    log_in(page, "support@vendor.example")
    url = "https://cloudpaging-streaming.northwind-university.example/portal/login"

    laid = _laid_out(page, northwind_deployment, url, by=support)

    save_screenshot(page, "deployment-service-address")
    assert "".join(laid["lines"]) == url
    assert len(laid["lines"]) > 1  # too wide for its column: it wraps...
    for before, line in zip(laid["lines"], laid["lines"][1:]):
        # ...each line going on from a mark where an address may wrap.
        assert before.endswith(("//", "-")) or line[0] in "./-_?#&=~%,", laid["lines"]
    assert laid["inside"]


def test_a_very_long_address_stays_inside_its_box(page, northwind_deployment, support):
    log_in(page, "support@vendor.example")
    url = "https://" + "s" * 60 + ".example/" + "x" * 120  # parts wider than the column

    laid = _laid_out(page, northwind_deployment, url, by=support)

    assert "".join(laid["lines"]) == url
    assert laid["inside"], laid["lines"]
