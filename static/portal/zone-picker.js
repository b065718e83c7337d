// Time zone pickers: <input data-zone-picker list="..."> offers the zones this browser knows
// (filled here, so pages carry no list of hundreds of zones) and, with data-zone-default (the
// person has not chosen a zone yet), switches to the browser's own zone by sending the form's
// "change", as if the person had picked it. Without script the input still takes a typed zone.
(() => {
  const known = () => {
    try { return Intl.supportedValuesOf("timeZone"); } catch { return []; }
  };
  const browserZone = () => {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch { return ""; }
  };
  const fill = (list) => {
    if (!list || list.options.length) return;
    const options = document.createDocumentFragment();
    for (const zone of known()) {
      const option = document.createElement("option");
      option.value = zone;
      options.appendChild(option);
    }
    list.appendChild(options);
  };
  const setUp = (input) => {
    if (input.dataset.zoneReady) return;
    input.dataset.zoneReady = "1";
    fill(document.getElementById(input.getAttribute("list")));
    if (!("zoneDefault" in input.dataset)) return;
    const zone = browserZone();
    if (zone && zone !== input.value && known().includes(zone)) {
      input.value = zone;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }
  };
  const scan = () => document.querySelectorAll("input[data-zone-picker]").forEach(setUp);
  // htmx:load comes once htmx listens to the page (so the "change" reaches it), and again for
  // each fragment it swaps in; without htmx, the page as loaded.
  document.addEventListener("htmx:load", scan);
  document.addEventListener("DOMContentLoaded", () => { if (!window.htmx) scan(); });
})();
