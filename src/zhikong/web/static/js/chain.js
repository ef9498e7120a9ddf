// zhikong case page: the transmission chain as an ECharts force graph (case → contacts).
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chain-data").textContent);
  var cats = ["case", "close", "secondary", "companion"];
  var chart = echarts.init(document.getElementById("chain"));
  chart.setOption({
    animation: false,
    color: ["#b42318", "#0b3d91", "#f0a000", "#1a7f37"],
    legend: { data: data.categories },
    series: [{
      type: "graph", layout: "force", roam: true, draggable: true, label: { show: true, position: "right" },
      force: { repulsion: 120, edgeLength: 60 }, edgeSymbol: ["none", "arrow"],
      categories: data.categories.map(function (c) { return { name: c }; }),
      data: data.nodes.map(function (n) {
        return { id: n.id, name: n.name, category: cats.indexOf(n.category), symbolSize: n.category === "case" ? 22 : 12 };
      }),
      links: data.links
    }]
  });
  window.addEventListener("resize", function () { chart.resize(); });
})();
