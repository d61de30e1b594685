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
    if (document.visibilityState === "visible") {
      window.location.reload();
    }
  }, seconds * 1000);
})();
