// The live upgrade page: applies the run's events that live.js dispatches as `run-event`
// (one per event, in order, each once). Log lines are appended here; anything that moves a
// step, the phase or a decision re-renders the board from the server's own partial, so the
// page never computes state of its own. No inline script: the page's CSP allows none.
(function () {
  "use strict";
  const root = document.getElementById("run-live");
  if (!root) return;
  const liveUrl = root.dataset.liveUrl;
  const logLimit = parseInt(root.dataset.logLimit || "200", 10);
  const BOARD_KINDS = new Set(["step", "phase", "run", "decision", "rollback", "check", "confirm", "sign_off"]);
  let lastLogSeq = parseInt(root.dataset.lastSeq || "0", 10);
  let boardTimer = null;
  let chartTimer = null;

  function state() {
    const board = document.getElementById("run-board");
    return board ? board.dataset.state : "";
  }

  // Someone typing a reason or a comment keeps their words: the board waits until they leave
  // the field (the server has the truth; nothing is lost by refreshing a second later).
  function typing() {
    const active = document.activeElement;
    const board = document.getElementById("run-board");
    return board && active && board.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName) &&
      active.type !== "hidden" && active.type !== "submit";
  }

  // A choice someone has opened (a rollback, a skip) stays open when the board is refreshed.
  function openChoices() {
    const board = document.getElementById("run-board");
    if (!board) return [];
    return Array.from(board.querySelectorAll("details[open] > summary")).map(function (summary) {
      return summary.textContent.trim();
    });
  }

  function reopen(choices) {
    const board = document.getElementById("run-board");
    if (!board || !choices.length) return;
    board.querySelectorAll("details > summary").forEach(function (summary) {
      if (choices.indexOf(summary.textContent.trim()) >= 0) summary.parentElement.open = true;
    });
  }

  let keepOpen = null;  // the choices open when the board was asked for, reopened once it is swapped in

  document.body.addEventListener("htmx:afterSettle", function () {
    if (keepOpen === null) return;
    reopen(keepOpen);
    keepOpen = null;
  });

  function refreshBoard() {
    clearTimeout(boardTimer);
    boardTimer = setTimeout(function () {
      if (typing()) { refreshBoard(); return; }
      keepOpen = openChoices();
      htmx.ajax("GET", liveUrl + "?part=board", { target: "#run-board", swap: "outerHTML" }).then(tickClock);
    }, 250);
  }

  function refreshChart() {
    if (chartTimer) return;
    chartTimer = setTimeout(function () {
      chartTimer = null;
      htmx.ajax("GET", liveUrl + "?part=chart", { target: "#run-chart", swap: "outerHTML" });
    }, 1000);
  }

  function appendLog(event) {
    if (event.seq <= lastLogSeq) return;
    lastLogSeq = event.seq;
    const log = document.getElementById("run-log");
    if (!log) return;
    const empty = log.querySelector(".empty");
    if (empty) empty.remove();
    const stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
    const line = document.createElement("li");
    line.dataset.seq = event.seq;
    const time = document.createElement("time");
    time.textContent = new Date(event.at).toLocaleTimeString([], { hour12: false });
    line.append(time, " ", event.text);
    log.append(line);
    while (log.children.length > logLimit) log.firstElementChild.remove();
    if (stick) log.scrollTop = log.scrollHeight;
  }

  function applyPhase(event) {
    const banner = document.getElementById("run-phase");
    const words = event.data && (event.data.words || event.data.phase_words);
    if (banner && event.data && event.data.phase) {
      banner.className = banner.className.replace(/phase-[a-z_]+/, "phase-" + event.data.phase);
      if (words) banner.querySelector(".phase-words").textContent = words;
    }
  }

  document.addEventListener("run-end", function () {
    refreshBoard();
    const status = document.getElementById("live-status");
    if (status) status.textContent = "The upgrade is over: the report keeps everything.";
  });

  document.addEventListener("run-event", function (message) {
    const event = message.detail || {};
    if (event.kind === "log") appendLog(event);
    if (event.kind === "phase") applyPhase(event);
    if (event.kind === "sample") refreshChart();
    if (BOARD_KINDS.has(event.kind)) { refreshBoard(); refreshChart(); }
  });

  // The window clock ticks here between events; the server's figures replace it on refresh.
  function words(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    const two = function (n) { return String(n).padStart(2, "0"); };
    if (h) return h + " h " + two(m) + " min";
    if (m) return m + " min " + two(s) + " s";
    return s + " s";
  }

  function tickClock() {
    const current = state();
    if (current !== "running" && current !== "paused") return;
    const now = Date.now();
    const board = document.getElementById("run-board");
    const started = Date.parse(board.dataset.started);
    const end = Date.parse(board.dataset.plannedEnd);
    const elapsed = document.querySelector('[data-clock="elapsed"]');
    const remaining = document.querySelector('[data-clock="remaining"]');
    if (elapsed && started) elapsed.textContent = words((now - started) / 1000);
    if (remaining && end) remaining.textContent = now > end ? "over by " + words((now - end) / 1000) : words((end - now) / 1000);
  }

  setInterval(tickClock, 1000);
  // The prober samples every 250 ms whether or not an event says so: redraw the chart now and then.
  setInterval(function () { if (state() === "running" || state() === "paused") refreshChart(); }, 5000);
  const log = document.getElementById("run-log");
  if (log) log.scrollTop = log.scrollHeight;
})();
