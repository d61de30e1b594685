// DNS block lists: follow a running sweep or check by polling its small JSON status URL.
(function () {
  "use strict";
  var box = document.querySelector(".dnsbl-progress[data-status-url]");
  if (!box) { return; }
  var url = box.getAttribute("data-status-url");
  var bar = box.querySelector(".dnsbl-progress-bar");
  var text = box.querySelector(".dnsbl-progress-text");
  var failures = 0;

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (status) {
        failures = 0;
        bar.value = status.percent;
        bar.textContent = status.percent + " %";
        if (status.state === "done" || status.state === "failed") {
          text.textContent = status.state === "done" ? "Finished; loading the results…" : "Failed: " + status.error;
          window.location.reload();
          return;
        }
        text.textContent = (status.state === "queued" ? "Waiting for the worker" : "Running") +
          ": " + status.done + " of " + (status.total || "?") + " lookups";
        window.setTimeout(poll, 1000);
      })
      .catch(function () {
        failures += 1;
        text.textContent = "Lost contact with the portal; retrying…";
        window.setTimeout(poll, Math.min(10000, 1000 * failures));
      });
  }
  window.setTimeout(poll, 700);
})();
