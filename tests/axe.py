"""axe-core (vendored under tests/vendor/) in a Playwright page: WCAG 2.1 A and AA."""

from functools import cache
from pathlib import Path

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe-4.14.1.min.js"
LEVELS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@cache
def _source() -> str:
    return AXE.read_text()


def violations(page) -> list[str]:
    """The rules the page breaks as it is now, each with up to five of its elements. axe is
    evaluated rather than added as a script tag, so the portal's policy (no script but its own)
    need not be bypassed."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate(_source())
    return page.evaluate(
        "levels => axe.run(document, {runOnly: {type: 'tag', values: levels}})"
        ".then(result => result.violations.map(v => v.id + ': ' + v.help + ' at '"
        " + v.nodes.map(n => n.target.join(' ')).slice(0, 5).join(', ')))",
        LEVELS,
    )


def page_violations(page, origin: str) -> list[str]:
    """What `violations` says of the page, when it shows one of the portal's HTML pages."""
    if page.is_closed() or not page.url.startswith(origin):
        return []
    try:
        if page.evaluate("document.contentType") != "text/html":
            return []
    except Exception:  # a navigation under way: nothing steady to check
        return []
    return violations(page)
