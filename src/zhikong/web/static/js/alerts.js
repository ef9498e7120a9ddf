// zhikong alert console: listens to /api/alerts/stream (server-sent events) and refreshes the table
// (HTMX, event "alerts-changed") when an alert arrives or changes.
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("alerts-config").textContent);
  var status = document.getElementById("live-status");
  if (!window.EventSource) { return; }
  var source = new EventSource(cfg.stream, { withCredentials: true });
  var received = 0;
  function changed(ev) {
    received += 1;
    document.body.setAttribute("data-alerts-received", String(received));
    status.textContent = cfg.text.new + " · " + new Date().toLocaleTimeString(document.documentElement.lang || undefined);
    document.body.dispatchEvent(new CustomEvent("alerts-changed"));
  }
  source.onopen = function () {
    status.textContent = cfg.text.live;
    document.body.setAttribute("data-alerts-live", "1");
  };
  source.onmessage = changed;
  ["alert", "created", "updated", "new"].forEach(function (name) { source.addEventListener(name, changed); });
  source.onerror = function () { status.textContent = cfg.text.lost; };
  window.addEventListener("beforeunload", function () { source.close(); });
})();
