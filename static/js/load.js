// Server load pages: copy the "report to your ISP" text. Loaded with defer; no inline script (CSP).
(function () {
  "use strict";
  document.querySelectorAll("[data-copy-target]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy-target"));
    if (!source || !navigator.clipboard) {
      return; // the text stays selectable by hand
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent).then(function () {
        button.textContent = "Copied";
      }, function () {
        button.textContent = "Copy failed: select the text";
      });
    });
  });
})();

// The dashboard reloads itself every minute while it is visible (samples arrive every minute by default).
(function () {
  "use strict";
  var marker = document.querySelector("[data-refresh-seconds]");
  if (!marker) {
    return;
  }
  var seconds = parseInt(marker.getAttribute("data-refresh-seconds"), 10) || 60;
  window.setInterval(function () {
    // Not while someone reads a value off a chart with the keyboard.
    var reading = document.activeElement && document.activeElement.matches("svg.chart");
    if (document.visibilityState === "visible" && !reading) {
      window.location.reload();
    }
  }, seconds * 1000);
})();

// Value readout of the history charts, on hover and with the keyboard (focus a chart, then the arrow keys,
// Home and End). The values are read back from the drawn lines: to within a pixel of the chart, with the
// time of that pixel. No data is sent twice and nothing runs inline (CSP).
(function () {
  "use strict";

  function parsePath(d) {
    var points = [];
    (d || "").replace(/[ML]\s*(-?[\d.]+),(-?[\d.]+)/g, function (_, x, y) {
      points.push([parseFloat(x), parseFloat(y)]);
      return "";
    });
    return points;
  }

  function formatValue(value, unit) {
    if (unit === "%") { return Math.round(value) + " %"; }
    if (unit === "bit/s") {
      return value >= 1e5 ? (value / 1e6).toFixed(1) + " Mbit/s" : Math.round(value / 1e3) + " kbit/s";
    }
    return String(Math.round(value));
  }

  function setUp(svg) {
    var plot = svg.getAttribute("data-plot").split(" ").map(parseFloat);
    var left = plot[0], top = plot[1], right = plot[2], bottom = plot[3];
    var yTop = parseFloat(svg.getAttribute("data-y-top"));
    var start = parseFloat(svg.getAttribute("data-start"));
    var end = parseFloat(svg.getAttribute("data-end"));
    var unit = svg.getAttribute("data-unit");
    var cursor = svg.querySelector(".chart-cursor");
    var readout = document.getElementById(svg.getAttribute("aria-describedby"));
    var series = Array.prototype.map.call(svg.querySelectorAll("path[data-label]"), function (path) {
      return {
        label: path.getAttribute("data-label"),
        points: parsePath(path.getAttribute("d")),
        main: path.getAttribute("class") === "series"
      };
    });
    var drawn = series.filter(function (s) { return s.points.length; });
    var main = drawn.filter(function (s) { return s.main; })[0] || drawn[0];
    if (!main || !readout || !cursor) { return; }
    var when;
    try {
      when = new Intl.DateTimeFormat("en-GB", {
        timeZone: svg.getAttribute("data-time-zone") || undefined,
        day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hour12: false
      });
    } catch (error) {
      when = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
    }
    var index = main.points.length - 1;

    function nearest(points, x) {
      var best = null, distance = Infinity;
      for (var i = 0; i < points.length; i += 1) {
        var d = Math.abs(points[i][0] - x);
        if (d < distance) { best = points[i]; distance = d; }
      }
      return distance <= 8 ? best : null;
    }

    function show(x) {
      var seconds = start + (x - left) / (right - left) * (end - start);
      var parts = [];
      series.forEach(function (s) {
        var point = nearest(s.points, x);
        if (point) {
          parts.push(s.label + " " + formatValue((bottom - point[1]) / (bottom - top) * yTop, unit));
        }
      });
      cursor.setAttribute("x1", x);
      cursor.setAttribute("x2", x);
      cursor.setAttribute("visibility", "visible");
      readout.textContent = when.format(new Date(seconds * 1000)) + ": " + (parts.join(", ") || "no data");
    }

    svg.addEventListener("pointermove", function (event) {
      var box = svg.getBoundingClientRect();
      var x = (event.clientX - box.left) / box.width * svg.viewBox.baseVal.width;
      if (x < left || x > right) { return; }
      var point = nearest(main.points, x) || main.points[index];
      index = main.points.indexOf(point);
      show(point[0]);
    });
    svg.addEventListener("pointerleave", function () {
      if (document.activeElement !== svg) { cursor.setAttribute("visibility", "hidden"); }
    });
    svg.addEventListener("focus", function () { show(main.points[index][0]); });
    svg.addEventListener("blur", function () { cursor.setAttribute("visibility", "hidden"); });
    svg.addEventListener("keydown", function (event) {
      var moves = { ArrowLeft: -1, ArrowRight: 1, PageDown: -10, PageUp: 10 };
      if (event.key === "Home") { index = 0; }
      else if (event.key === "End") { index = main.points.length - 1; }
      else if (event.key in moves) { index = Math.min(Math.max(index + moves[event.key], 0), main.points.length - 1); }
      else { return; }
      event.preventDefault();
      show(main.points[index][0]);
    });
  }

  document.querySelectorAll("svg.chart[data-plot]").forEach(setUp);
})();
