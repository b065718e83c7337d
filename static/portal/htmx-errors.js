// Every htmx interaction shows what the server answered. Refusals made for the page (400, 409,
// 422: a form with its errors, an item with the reason) are swapped in like any answer (the
// htmx-config meta tag in base.html); anything else that goes wrong is said in the page's alert
// region: the server's own words when it answers in plain text, else what the status means.
// What the person typed stays in the form either way.
(function () {
  "use strict";

  var MEANINGS = {
    401: "Your session has ended: log in again, then try once more.",
    403: "That is not yours to do, or no longer: reload the page to see where things stand.",
    404: "That is no longer there: reload the page to see where things stand.",
    405: "That cannot be done this way: reload the page and try again.",
    413: "That is too large to send: attachments may be 5 MB each, 20 MB at a time.",
    429: "Too many requests in a short time: wait a minute, then try again.",
  };
  var SERVER = "Something went wrong on the portal's side and nothing was changed. Try again; if it " +
    "keeps happening, tell the support desk the time it happened.";
  var UNREACHABLE = "The portal did not answer: check your connection, then try again.";

  function say(text) {
    var region = document.getElementById("request-error");
    if (!region) return;
    region.textContent = text;
    region.hidden = false;
  }

  function meaning(xhr) {
    var type = xhr.getResponseHeader("Content-Type") || "";
    var body = (xhr.responseText || "").trim();
    if (type.indexOf("text/plain") === 0 && body) return body.slice(0, 500);
    if (type.indexOf("application/json") === 0 && body) {
      try {
        var detail = JSON.parse(body).detail;
        if (typeof detail === "string") return detail;
      } catch (ignored) { /* not the API's error shape: say what the status means */ }
    }
    return MEANINGS[xhr.status] || (xhr.status >= 500 ? SERVER : "The portal refused this (" + xhr.status + ").");
  }

  document.addEventListener("htmx:beforeRequest", function () {
    var region = document.getElementById("request-error");
    if (region) region.hidden = true;
  });
  document.addEventListener("htmx:responseError", function (event) { say(meaning(event.detail.xhr)); });
  document.addEventListener("htmx:sendError", function () { say(UNREACHABLE); });
  // A session that ended sends the request to the log-in page: go there whole, not into a corner
  // of this page.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var url = event.detail.xhr.responseURL || "";
    if (url.indexOf("/accounts/login/") !== -1) {
      event.detail.shouldSwap = false;
      window.location.assign(url);
    }
  });
})();
