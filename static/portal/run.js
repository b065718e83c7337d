// The live upgrade page between its events. What an event changes is rendered by the server and
// swapped in by live.js; here the window's clock ticks, the log tail stays short and scrolled to
// its end, and a person's controls, fetched again when an event may have changed them, wait
// while they type and keep their open choices. No inline script: the page's CSP allows none.
(function () {
  "use strict";
  const root = document.getElementById("run-live");
  if (!root) return;
  // The page holds at most `logKept` lines: live lines push the oldest out, and "Show older
  // lines" puts a page of earlier ones above the first until the page is full; older ones still
  // are on the log's own page. A million-line log costs the browser no more than this.
  const logKept = parseInt(root.dataset.logKept || "1000", 10);
  const logPage = parseInt(root.dataset.logPage || "200", 10);
  const log = document.getElementById("run-log");
  const older = document.getElementById("run-log-older");
  const olderButton = document.getElementById("run-log-older-button");
  const olderPage = document.getElementById("run-log-older-page");
  let logAtEnd = true;

  log.addEventListener("scroll", function () {
    logAtEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
  });

  function shownLines() {
    return log.querySelectorAll("li[data-seq]");
  }

  // The last line shown: the page was rendered up to its cursor (data-after) and live.js drops
  // events at or below it; a line that reaches the log twice all the same (an overlapping
  // replay) is left out here, by its number.
  function lastShown() {
    const lines = shownLines();
    return lines.length ? Number(lines[lines.length - 1].dataset.seq) : 0;
  }

  log.addEventListener("htmx:oobBeforeSwap", function (event) {
    const last = lastShown();
    event.detail.fragment.querySelectorAll("li[data-seq]").forEach(function (line) {
      if (Number(line.dataset.seq) <= last) line.remove();
    });
  });

  // The control above the log follows the first line shown: hidden once the log's first line is
  // here, a button while the page has room, a link to the log's own page once it is full.
  function followFirstLine() {
    if (!older) return;
    const lines = shownLines();
    const room = logKept - lines.length;
    const first = lines.length ? lines[0].dataset.seq : "";
    const focused = older.contains(document.activeElement);
    document.getElementById("run-log-before").value = first;
    document.getElementById("run-log-lines").value = String(Math.max(1, Math.min(logPage, room)));
    olderPage.href = olderPage.href.split("?")[0] + "?before=" + first;
    older.hidden = !lines.length || log.querySelector(".log-start") !== null;
    olderButton.hidden = room <= 0;
    olderPage.hidden = room > 0;
    // Whoever pressed the button keeps the keyboard's place: on the link that replaced it, or on
    // the log itself once its first line is shown.
    if (focused && older.hidden) log.focus();
    else if (focused && olderButton.hidden) olderPage.focus();
  }

  function dropOldest() {
    let lines = shownLines();
    if (lines.length <= logKept) return;
    const start = log.querySelector(".log-start");
    if (start) start.remove();
    for (let index = 0; index < lines.length - logKept; index++) lines[index].remove();
  }

  // Older lines arrive above the first: the view moves to their end, just above where it was.
  function askedForOlder(event) {
    return event.detail.requestConfig && event.detail.requestConfig.elt === olderButton;
  }
  let heightBefore = null;
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    if (askedForOlder(event)) heightBefore = log.scrollHeight;
  });
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (!askedForOlder(event) || heightBefore === null) return;  // once per answer
    log.scrollTop = Math.max(0, log.scrollHeight - heightBefore - log.clientHeight + 40);
    heightBefore = null;
    dropOldest();
    followFirstLine();
  });

  // The polite news region keeps its last few sentences: enough for a screen reader to catch up.
  const news = document.getElementById("run-news");
  const NEWS_KEPT = 3;

  root.addEventListener("run-event", function (message) {
    while (news && news.children.length > NEWS_KEPT) news.firstElementChild.remove();
    if (message.detail.kind !== "log") return;
    const empty = log.querySelector(".empty");
    if (empty) {
      // The first line of an empty log is the log's first line.
      empty.className = "log-start";
      empty.textContent = "The log begins here.";
    }
    dropOldest();
    followFirstLine();
    if (logAtEnd) log.scrollTop = log.scrollHeight;
  });

  function controls() {
    return document.getElementById("run-controls");
  }

  // Someone typing a reason or a comment keeps their words: their controls wait until they leave
  // the field (the server has the truth; nothing is lost by asking a second later).
  function typing() {
    const active = document.activeElement;
    return controls() && active && controls().contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName) &&
      active.type !== "hidden" && active.type !== "submit";
  }

  // A choice someone has opened (a rollback, a skip) stays open when their controls are swapped.
  function openChoices() {
    return Array.from(controls().querySelectorAll("details[open] > summary")).map(function (summary) {
      return summary.textContent.trim();
    });
  }

  let keepOpen = [];

  document.body.addEventListener("htmx:confirm", function (event) {
    if (event.target.id !== "run-controls-due") return;
    event.preventDefault();
    (function whenIdle() {
      if (typing()) { setTimeout(whenIdle, 250); return; }
      keepOpen = openChoices();
      event.detail.issueRequest();
    })();
  });

  document.body.addEventListener("htmx:afterSettle", function (event) {
    if (event.target.id !== "run-controls") return;
    event.target.querySelectorAll("details > summary").forEach(function (summary) {
      if (keepOpen.indexOf(summary.textContent.trim()) >= 0) summary.parentElement.open = true;
    });
  });

  // The window clock ticks here between events; each event brings the server's figures.
  function words(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    const two = function (n) { return String(n).padStart(2, "0"); };
    if (h) return h + " h " + two(m) + " min";
    if (m) return m + " min " + two(s) + " s";
    return s + " s";
  }

  function tickClock() {
    const clock = document.getElementById("run-clock");
    if (!clock || (clock.dataset.state !== "running" && clock.dataset.state !== "paused")) return;
    const now = Date.now();
    const started = Date.parse(clock.dataset.started);
    const end = Date.parse(clock.dataset.plannedEnd);
    const elapsed = clock.querySelector('[data-clock="elapsed"]');
    const remaining = clock.querySelector('[data-clock="remaining"]');
    if (elapsed && started) elapsed.textContent = words((now - started) / 1000);
    if (remaining && end) remaining.textContent = now > end ? "over by " + words((now - end) / 1000) : words((end - now) / 1000);
  }

  followFirstLine();
  setInterval(tickClock, 1000);
  log.scrollTop = log.scrollHeight;
})();
