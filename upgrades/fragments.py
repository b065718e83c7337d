"""The HTML a run's live events carry to its page (S13-S17): rendered on the server from the
partials of the page's first load (`upgrades/partials/run_event.html`), swapped in by htmx as
out-of-band swaps.

- A log line is appended to the log tail, put together as the page's first load shows it
  (upgrades/templatetags/run_log.py), not by the template engine: a busy installer prints
  thousands a second, and every web process shows each of them. A message is appended to the
  conversation (never an internal
  note: upgrades/services/conversation.py does not make one an event), and said politely.
- An event that moves the run (a step, the phase, a check, a decision, ...) carries the parts of
  the board everybody sees alike: the phase and the clock, the steps, the tests and who did
  what, as they are when the fragment is rendered, which is never before the event's commit
  (the clock's words as of the event's time, so that every web process renders them alike).
  A phase, step or run event also says what changed in the page's polite live region, for
  screen readers (the phase's words, the step's sentence); a log line never does.
- What a person may press depends on who they are (and carries their CSRF token), so it is
  never in a fragment: an event that may change it makes each page ask for its own controls
  (`?part=controls`).

Times are shown in the watcher's zone, so any other event's fragment is rendered once per event and zone (in
each web process: the cache is the process's own) and kept in the cache, where the other
watchers, a replay after Last-Event-ID and the polling answer find it: a run's 200 watchers cost
one rendering of each event, not 200.
"""

import threading
import zoneinfo
from datetime import datetime

from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils import timezone

from upgrades import selectors_runs
from upgrades.templatetags.run_log import clock, line_html

# The kinds that change the board, and those of them that may change what a person may press (a
# phase or a check comes with the step that caused it, and that step's event says so).
BOARD_KINDS = frozenset({"step", "phase", "run", "decision", "rollback", "check"})
CONTROLS_KINDS = BOARD_KINDS - {"phase", "check"}
# The kinds said to screen readers as they come: the phase, a step's change, the run's.
NEWS_KINDS = frozenset({"phase", "step", "run"})
# Long enough for every watcher and any quick reconnection; an older event is rendered again.
KEEP_SECONDS = 600

# Held while the board is read and rendered: watchers asking at once for the same event wait for
# the first one's rendering instead of repeating it.
_rendering = threading.Lock()


def _key(run_id: int, seq: int, zone: str) -> str:
    return f"upgrades:run-event-html:{run_id}:{seq}:{zone}"


def reads_the_board(messages: list[dict]) -> bool:
    """Whether rendering `messages` reads the database; a log line needs nothing but itself."""
    return any(message["kind"] in BOARD_KINDS for message in messages)


def with_html(*, run_id: int, messages: list[dict], zone: str) -> list[dict]:
    """`messages` (`events.as_message`) each with the `html` it carries to a watcher in `zone`."""
    lines = [message for message in messages if message["kind"] == "log"]
    others = [message for message in messages if message["kind"] != "log"]
    html = _log_lines(lines, zone) | (_board_events(run_id, others, zone) if others else {})
    return [{**message, "html": html[message["seq"]]} for message in messages]


def _log_lines(lines: list[dict], zone: str) -> dict[int, str]:
    """Each of `lines` (by number) appended to the page's log; never cached: putting one together
    costs less than keeping it. The lines a batch writes share their time, so its clock is read
    once."""
    clocks, html = {}, {}
    with timezone.override(zoneinfo.ZoneInfo(zone)):
        for line in lines:
            if line["at"] not in clocks:
                clocks[line["at"]] = clock(datetime.fromisoformat(line["at"]))
            item = line_html(seq=line["seq"], text=line["text"], clock=clocks[line["at"]])
            html[line["seq"]] = f'<ol hx-swap-oob="beforeend:#run-log">{item}</ol>'
    return html


def _board_events(run_id: int, messages: list[dict], zone: str) -> dict[int, str]:
    """The other events (by number), from the cache or rendered once for every watcher."""
    keys = {_key(run_id, message["seq"], zone): message for message in messages}
    found = cache.get_many(list(keys))
    missing = {key: message for key, message in keys.items() if key not in found}
    if reads_the_board(list(missing.values())):
        with _rendering:
            found |= cache.get_many(list(missing))  # rendered while this one waited
            found |= _render(run_id, {key: m for key, m in missing.items() if key not in found}, zone)
    elif missing:
        found |= _render(run_id, missing, zone)
    return {message["seq"]: found[key] for key, message in keys.items()}


def _render(run_id: int, messages: dict[str, dict], zone: str) -> dict[str, str]:
    """The HTML of `messages` (by cache key), kept in the cache."""
    with timezone.override(zoneinfo.ZoneInfo(zone)):
        # One look at the board serves every event of the batch that carries it. Its clock reads
        # as of the newest of them, not the moment of rendering: another web process rendering
        # the same event later (a replay) writes the same words; the page's clock ticks on.
        board = None
        if reads_the_board(list(messages.values())):
            newest = max(datetime.fromisoformat(message["at"]) for message in messages.values())
            board = selectors_runs.board_of(selectors_runs.run_watched(pk=run_id), now=newest)
        rendered = {
            key: render_to_string("upgrades/partials/run_event.html", _context(run_id, message, board))
            for key, message in messages.items()
        }
    cache.set_many(rendered, KEEP_SECONDS)
    return rendered


def _context(run_id: int, message: dict, board: dict | None) -> dict:
    kind = message["kind"]
    context = {"run_id": run_id, "controls": kind in CONTROLS_KINDS}
    if kind in NEWS_KINDS:
        context["news"] = (message["data"] or {}).get("words") or message["text"]
    if kind == "message":
        data = message["data"] or {}
        context["message"] = {"pk": data.get("message"), "author_name": message["actor"], "body": message["text"],
                              "from_vendor": data.get("from_vendor"), "public": data.get("public", False),
                              "written_at": datetime.fromisoformat(message["at"])}
        context["news"] = f"{message['actor']} wrote: {message['text']}"
    if kind in BOARD_KINDS:
        context.update(board, board=True)
    return context
