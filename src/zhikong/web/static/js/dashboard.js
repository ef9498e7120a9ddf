// zhikong dashboard: headline figures and ECharts charts from /api/dashboard.
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("dashboard-config").textContent);
  var PALETTE = ["#0b3d91", "#d92d20", "#1a7f37", "#f0a000", "#7b3fa0", "#3a4a5c", "#8a5300", "#44709f", "#b42318"];
  var charts = [];

  function statCard(s) {
    var div = document.createElement("div");
    div.className = "stat";
    div.setAttribute("data-stat", s.id);
    var b = document.createElement("b");
    b.textContent = String(s.value);
    div.appendChild(b);
    div.appendChild(document.createTextNode(s.label));
    return div;
  }

  function option(spec) {
    var base = { color: PALETTE, tooltip: { trigger: spec.type === "pie" ? "item" : "axis" },
                 grid: { left: 48, right: 16, top: 32, bottom: 56 }, animation: false };
    if (spec.type === "pie") {
      base.legend = { type: "scroll", bottom: 0 };
      base.series = [{ type: "pie", radius: ["35%", "65%"], data: spec.data, label: { formatter: "{b}: {c}" } }];
      return base;
    }
    base.legend = { top: 0, type: "scroll" };
    base.xAxis = { type: "category", data: spec.categories, axisLabel: { rotate: spec.categories.length > 8 ? 40 : 0 } };
    base.yAxis = { type: "value", minInterval: 1 };
    base.series = spec.series.map(function (s) {
      return { name: s.name, type: spec.type === "line" ? "line" : "bar", stack: spec.stacked ? "all" : undefined,
               data: s.data, smooth: spec.type === "line" };
    });
    return base;
  }

  function isEmpty(spec) {
    if (!spec) { return true; }
    if (spec.type === "pie") { return !spec.data.length; }
    return !spec.categories.length || !spec.series.length;
  }

  fetch(cfg.url, { credentials: "same-origin" })
    .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
    .then(function (data) {
      var stats = document.getElementById("stats");
      data.stats.forEach(function (s) { stats.appendChild(statCard(s)); });
      document.querySelectorAll(".chart").forEach(function (el) {
        var id = el.id.replace(/^chart-/, "");
        var spec = data.charts[id];
        if (isEmpty(spec)) {
          el.hidden = true;
          var empty = document.getElementById("chart-" + id + "-empty");
          empty.textContent = (spec && spec.empty) || cfg.text.empty;
          empty.hidden = false;
          return;
        }
        var chart = echarts.init(el, null, { renderer: "canvas" });
        chart.setOption(option(spec));
        charts.push(chart);
      });
      document.body.setAttribute("data-dashboard-ready", "1");
    })
    .catch(function (err) {
      document.getElementById("stats").textContent = cfg.text.failed + " " + err.message;
      document.body.setAttribute("data-dashboard-ready", "error");
    });
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
