// zhikong one map (一张图): layers from /api/map/<layer> as GeoJSON, toggled by checkboxes;
// clicking a feature opens its panel. No base map unless the settings give a tile URL.
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("map-config").textContent);
  var t = cfg.text;
  var map = L.map("map", { preferCanvas: true, zoomSnap: 0.25, attributionControl: !!cfg.tile_url });
  if (cfg.tile_url) {
    L.tileLayer(cfg.tile_url, { maxZoom: 18, attribution: cfg.tile_attribution || "" }).addTo(map);
  }
  map.setView([cfg.center[1], cfg.center[0]], 10);

  var COLORS = { places: "#7b3fa0", isolation: "#1a7f37", cameras: "#3a4a5c", devices: "#8a5300",
                 alerts: "#d92d20", tasks: "#f0a000", cases: "#b42318" };
  var STYLES = {
    towns: { color: "#0b3d91", weight: 2, fill: false },
    villages: { color: "#44709f", weight: 0.7, fillColor: "#9fc3e8", fillOpacity: 0.35 }
  };
  var layers = {};   // id -> L.GeoJSON once loaded
  var loading = {};  // id -> Promise
  var status = document.getElementById("map-status");
  var panel = document.getElementById("map-panel");

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function label(key) { return (t.fields && t.fields[key]) || key; }
  function valueText(key, v) {
    if (v && typeof v === "object") {
      return Object.keys(v).map(function (k) { return ((t.values && t.values[k]) || k) + " " + v[k]; }).join(" · ");
    }
    if (key === "kind" || key === "state" || key === "severity") { return (t.values && t.values[v]) || v; }
    return v;
  }

  function showPanel(layerId, props) {
    document.getElementById("map-panel-title").textContent = props.name || props.title || props.code || "";
    var rows = [];
    rows.push("<dt>" + esc(t.layer) + "</dt><dd>" + esc(t.layers[layerId] || layerId) + "</dd>");
    Object.keys(props).forEach(function (k) {
      if (k === "id" || k === "name" || k === "lat" || k === "lon" || k === "link" || k === "radius") { return; }
      var v = props[k];
      if (v === null || v === undefined || v === "") { return; }
      rows.push("<dt>" + esc(label(k)) + "</dt><dd>" + esc(valueText(k, v)) + "</dd>");
    });
    document.getElementById("map-panel-body").innerHTML = rows.join("");
    var links = document.getElementById("map-panel-links");
    links.innerHTML = props.link ? '<a href="' + esc(props.link) + '">' + esc(t.open) + "</a>" : "";
    panel.hidden = false;
    panel.setAttribute("data-layer", layerId);
  }
  document.getElementById("map-panel-close").addEventListener("click", function () { panel.hidden = true; });

  function build(id, data) {
    return L.geoJSON(data, {
      style: function () { return STYLES[id] || {}; },
      pointToLayer: function (f, latlng) {
        var r = f.properties.radius || (id === "cases" ? 8 : 5);
        return L.circleMarker(latlng, { radius: r, color: "#1b2430", weight: 1,
          fillColor: COLORS[id] || "#555", fillOpacity: 0.85 });
      },
      onEachFeature: function (f, lyr) {
        lyr.on("click", function (ev) { L.DomEvent.stopPropagation(ev); showPanel(id, f.properties); });
        if (id === "towns" || id === "villages") { lyr.bindTooltip(f.properties.name, { sticky: true }); }
      }
    });
  }

  function load(id) {
    if (loading[id]) { return loading[id]; }
    loading[id] = fetch(cfg.url + id, { credentials: "same-origin", headers: { Accept: "application/geo+json" } })
      .then(function (r) {
        if (!r.ok) { throw new Error(id + ": HTTP " + r.status); }
        return r.json();
      })
      .then(function (data) {
        layers[id] = build(id, data);
        var count = document.getElementById("count-" + id);
        count.textContent = data.available === false ? t.not_available : String(data.features.length);
        return layers[id];
      });
    return loading[id];
  }

  // drawing order: towns, villages, then the point layers (the topmost feature takes the click)
  var ORDER = ["towns", "villages", "cases", "tasks", "places", "isolation", "cameras", "devices", "alerts"];
  function restack() {
    ORDER.forEach(function (id) {
      if (layers[id] && map.hasLayer(layers[id])) { layers[id].bringToFront(); }
    });
  }

  function setVisible(id, on) {
    return load(id).then(function (lyr) {
      if (on) { lyr.addTo(map); } else { map.removeLayer(lyr); }
      restack();
      return lyr;
    });
  }

  var boxes = document.querySelectorAll("#map-layers input[data-layer]");
  var first = [];
  boxes.forEach(function (box) {
    box.addEventListener("change", function () { setVisible(box.dataset.layer, box.checked); });
    if (box.checked) { first.push(setVisible(box.dataset.layer, true)); }
  });
  Promise.all(first).then(function () {
    var outline = layers.villages || layers.towns;
    if (outline && outline.getLayers().length) { map.fitBounds(outline.getBounds(), { padding: [10, 10] }); }
    status.textContent = t.ready;
    document.body.setAttribute("data-map-ready", "1");
    window.zhikongMap = { map: map, layers: layers, setVisible: setVisible };
    window.zhikongMapReadyAt = performance.now();
  }).catch(function (err) {
    status.textContent = t.failed + " " + err.message;
    document.body.setAttribute("data-map-ready", "error");
  });
})();
