// Shipyard console: draws the charts (uPlot) from the JSON in the page, and keeps a live rollout
// panel fresh: the server's event stream says "change", and htmx fetches the panel again.
(function () {
  "use strict";
  function drawCharts(root) {
    if (typeof uPlot === "undefined") return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.drawn) return;
      var source = document.getElementById(el.dataset.chart);
      if (!source) return;
      var c = JSON.parse(source.textContent);
      var palette = ["#0a5bc4", "#a40e26", "#116329", "#7d4e00", "#8250df", "#1b7c83"];
      var series = [{}].concat(c.series.map(function (s, i) {
        return { label: s.label, stroke: palette[i % palette.length], width: 1.5, spanGaps: true };
      }));
      var data = [c.x].concat(c.series.map(function (s) { return s.values; }));
      var width = Math.max(300, el.clientWidth || 420);
      new uPlot({ width: width, height: 200, series: series,
                  axes: [{}, { label: c.unit || "" }] }, data, el);
      el.dataset.drawn = "1";
    });
  }
  function follow(panel) {
    if (!panel.dataset.events || typeof EventSource === "undefined") return;
    var source = new EventSource(panel.dataset.events);
    source.addEventListener("change", function (event) {
      var current = panel.querySelector("[data-stamp]");
      if (current && current.dataset.stamp === event.data) return;
      if (typeof htmx !== "undefined") {
        htmx.ajax("GET", panel.dataset.live, { target: panel, swap: "innerHTML" });
      }
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(document);
    document.querySelectorAll("[data-live]").forEach(follow);
  });
})();
