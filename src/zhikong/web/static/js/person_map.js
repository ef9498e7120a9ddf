// zhikong person page: the person's trajectory (cell stays, venue scans, camera sightings, GPS) as
// time-ordered markers and a polyline, from /people/<id>/trajectory.json; a source filter; a popup
// per point. No base map unless the settings give a tile URL.
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("trajectory-config").textContent);
  var t = cfg.text;
  var COLORS = { cell: "#0b6bcb", venue_scan: "#7b3fa0", camera: "#3a4a5c", gps: "#1a7f37" };
  var map = L.map("person-map", { preferCanvas: false, zoomSnap: 0.25, attributionControl: !!cfg.tile_url });
  if (cfg.tile_url) {
    L.tileLayer(cfg.tile_url, { maxZoom: 18, attribution: cfg.tile_attribution || "" }).addTo(map);
  }
  map.setView([29.45, 106.55], 10);
  var status = document.getElementById("trajectory-status");
  var form = document.getElementById("trajectory-form");
  var fromBox = document.getElementById("trajectory-from");
  var toBox = document.getElementById("trajectory-to");
  var drawn = L.layerGroup().addTo(map);
  var points = [];

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function when(iso) { return iso.replace("T", " ").slice(0, 16); }
  function enabled() {
    var on = {};
    document.querySelectorAll("#trajectory-sources input[data-source]").forEach(function (b) {
      on[b.dataset.source] = b.checked;
    });
    return on;
  }
  function popup(p, i) {
    return '<div class="trajectory-popup"><dl>' +
      "<dt>" + esc(t.order) + "</dt><dd>" + (i + 1) + "</dd>" +
      "<dt>" + esc(t.source) + "</dt><dd>" + esc(t.sources[p.source] || p.source) + "</dd>" +
      "<dt>" + esc(t.place) + "</dt><dd>" + esc(p.place) + "</dd>" +
      "<dt>" + esc(t.from) + "</dt><dd>" + esc(when(p.start)) + "</dd>" +
      "<dt>" + esc(t.to) + "</dt><dd>" + esc(when(p.end)) + "</dd>" +
      "<dt>" + esc(t.records) + "</dt><dd>" + p.records + "</dd></dl></div>";
  }

  function draw(fit) {
    drawn.clearLayers();
    var on = enabled();
    var shown = points.filter(function (p) { return on[p.source]; });
    var line = shown.map(function (p) { return [p.lat, p.lon]; });
    if (line.length > 1) {
      L.polyline(line, { color: "#44556b", weight: 2, opacity: 0.7, dashArray: "4 4" }).addTo(drawn);
    }
    shown.forEach(function (p) {
      var i = points.indexOf(p);
      var m = L.circleMarker([p.lat, p.lon], { radius: p.source === "gps" ? 4 : 7, color: "#1b2430", weight: 1,
        fillColor: COLORS[p.source] || "#555", fillOpacity: 0.9, className: "trajectory-point tj-" + p.source });
      m.bindPopup(popup(p, i));
      m.addTo(drawn);
    });
    document.body.setAttribute("data-trajectory-shown", String(shown.length));
    if (fit && line.length) { map.fitBounds(L.latLngBounds(line), { padding: [20, 20], maxZoom: 15, animate: false }); }
    return shown.length;
  }

  function load() {
    var q = [];
    if (fromBox.value) { q.push("from=" + encodeURIComponent(fromBox.value)); }
    if (toBox.value) { q.push("to=" + encodeURIComponent(toBox.value)); }
    status.textContent = t.loading;
    document.body.setAttribute("data-trajectory-ready", "0");
    return fetch(cfg.url + (q.length ? "?" + q.join("&") : ""), { credentials: "same-origin",
      headers: { Accept: "application/json" } })
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) { throw new Error(body.message || ("HTTP " + r.status)); }
          return body;
        });
      })
      .then(function (data) {
        points = data.points;
        if (data.from) { fromBox.value = data.from; }
        if (data.to) { toBox.value = data.to; }
        cfg.sources.forEach(function (s) {
          document.getElementById("trajectory-count-" + s).textContent = String(data.counts[s] || 0);
        });
        var n = draw(true);
        var msg = points.length ? t.shown + " " + n : t.empty;
        if (data.from) { msg += " · " + t.window + " " + data.from + " – " + data.to; }
        if (data.unplaced) { msg += " · " + t.unplaced + " " + data.unplaced; }
        status.textContent = msg;
        document.body.setAttribute("data-trajectory-ready", points.length ? "1" : "empty");
      })
      .catch(function (err) {
        status.textContent = t.failed + " " + err.message;
        document.body.setAttribute("data-trajectory-ready", "error");
      });
  }

  form.addEventListener("submit", function (ev) { ev.preventDefault(); load(); });
  document.querySelectorAll("#trajectory-sources input[data-source]").forEach(function (b) {
    b.addEventListener("change", function () { draw(false); });
  });
  window.zhikongTrajectory = { map: map, layer: drawn, reload: load };
  load();
})();
