// Daily reports: per-town bars and the district trend (ECharts), from #reports-config.
(function () {
  "use strict";
  var el = document.getElementById("reports-config");
  if (!el || typeof echarts === "undefined") { return; }
  var cfg = JSON.parse(el.textContent);
  if (!cfg) { return; }
  var names = Object.keys(cfg.series);
  echarts.init(document.getElementById("chart-towns")).setOption({
    tooltip: {trigger: "axis"}, legend: {data: names}, grid: {left: 50, right: 10, bottom: 90},
    xAxis: {type: "category", data: cfg.towns, axisLabel: {rotate: 60}}, yAxis: {type: "value"},
    series: names.map(function (n) { return {name: n, type: "bar", data: cfg.series[n]}; })
  });
  echarts.init(document.getElementById("chart-trend")).setOption({
    tooltip: {trigger: "axis"}, legend: {data: Object.keys(cfg.trend)}, grid: {left: 60, right: 10},
    xAxis: {type: "category", data: cfg.days}, yAxis: {type: "value"},
    series: Object.keys(cfg.trend).map(function (n) { return {name: n, type: "line", data: cfg.trend[n]}; })
  });
})();
