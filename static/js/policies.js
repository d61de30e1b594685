// Policies area: confirmation before destructive or wide-reaching buttons, and the print button.
// Everything works without this file; it only adds a confirm() and a print shortcut.
(function () {
  "use strict";
  document.querySelectorAll("form.confirm-form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  });
  document.querySelectorAll(".print-button").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      window.print();
    });
  });
})();
