// A run's live events, for the live page: each event's `html`, rendered by the server, is handed
// to htmx, whose out-of-band swaps (hx-swap-oob) put it in place; then the event is dispatched on
// the watched element as a DOM CustomEvent "run-event" (bubbling, `detail` = the event's JSON:
// seq, at, kind, step, actor, text, data, html), in order and once each; "run-end" follows when
// the run is finished.
//
// The page marks the element it renders (no inline script: the CSP allows none):
//   <section data-live-events
//            data-events-url="/runs/7/events/"        the SSE stream
//            data-poll-url="/runs/7/events.json"      the JSON fallback
//            data-after="42">                         the last event the page was rendered with
//
// 1. EventSource on the stream with ?after=<last rendered>; on a reconnection the browser sends
//    Last-Event-ID itself and the server replays what was missed.
// 2. Numbers are gapless: a number that skips ahead (an event kind this file does not listen
//    for) is filled in from the JSON endpoint; a number already seen is dropped.
// 3. Without EventSource, or after it failed several times in a row without a single event,
//    the page polls the JSON endpoint every 2 s instead.
(() => {
  "use strict";

  const POLL_MS = 2000;
  const FAILURES_BEFORE_POLLING = 3;
  // The kinds the engine writes (upgrades.models.LiveEvent.kind); more in data-event-kinds="a b".
  const KINDS = ["run", "step", "log", "check", "phase", "decision", "rollback", "message"];

  function follow(root) {
    let last = Number(root.dataset.after || 0);
    let source = null;
    let failures = 0;
    let pollTimer = null;
    let filling = null;
    let ended = false;

    const emit = (name, detail) => root.dispatchEvent(new CustomEvent(name, { detail, bubbles: true }));

    function deliver(message) {
      if (message.seq <= last) return; // seen already
      last = message.seq;
      htmx.swap(root, message.html || "", { swapStyle: "none" });
      emit("run-event", message);
    }

    function end() {
      if (ended) return;
      ended = true;
      if (source) source.close();
      clearTimeout(pollTimer);
      emit("run-end", { last });
    }

    // Everything after `last` from the JSON endpoint; resolves to its answer.
    async function fetchAfter() {
      const url = new URL(root.dataset.pollUrl, window.location.href);
      url.searchParams.set("after", String(last));
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
      const answer = await response.json();
      answer.events.forEach(deliver);
      return answer;
    }

    function fill() {
      // One fill at a time; events arriving meanwhile wait behind it, in order.
      filling = (filling || Promise.resolve()).then(fetchAfter).catch(() => null);
      return filling;
    }

    function receive(event) {
      const message = JSON.parse(event.data);
      if (message.seq > last + 1 || filling) {
        fill().then(() => deliver(message));
      } else {
        deliver(message);
      }
    }

    async function poll() {
      if (ended || !root.isConnected) return;
      let answer = null;
      try {
        answer = await fetchAfter();
      } catch {
        // The server is away for a moment: try again at the next tick.
      }
      if (answer && answer.finished) {
        end();
        return;
      }
      pollTimer = setTimeout(poll, answer && answer.events.length ? 0 : POLL_MS);
    }

    function startPolling() {
      if (source) source.close();
      source = null;
      poll();
    }

    function connect() {
      const url = new URL(root.dataset.eventsUrl, window.location.href);
      url.searchParams.set("after", String(last));
      source = new EventSource(url);
      const kinds = KINDS.concat((root.dataset.eventKinds || "").split(/\s+/).filter(Boolean));
      kinds.forEach((kind) => source.addEventListener(kind, receive));
      source.addEventListener("open", () => { failures = 0; });
      source.addEventListener("end", () => {
        if (filling) filling.then(end);
        else end();
      });
      source.addEventListener("error", () => {
        // The browser reconnects by itself (with Last-Event-ID); a stream refused outright
        // (CLOSED) or failing again and again is given up for polling.
        failures += 1;
        if (source.readyState === EventSource.CLOSED || failures >= FAILURES_BEFORE_POLLING) startPolling();
      });
    }

    if (!root.dataset.eventsUrl || typeof window.EventSource !== "function") startPolling();
    else connect();
  }

  function start() {
    document.querySelectorAll("[data-live-events]").forEach((root) => {
      if (root.dataset.liveFollowing) return;
      root.dataset.liveFollowing = "yes";
      follow(root);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
