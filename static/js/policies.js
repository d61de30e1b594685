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
  // Form sections that only some choices need (data-shown-when="kind=attestation", "repeat=days,weeks";
  // a bare name, "policy", means "once something is chosen there"):
  // hidden, and left out of the form's tab order, while the choice is something else.
  document.querySelectorAll("[data-shown-when]").forEach(function (section) {
    var rule = section.dataset.shownWhen.match(/^(\w+)(?:=(.*))?$/);
    var form = section.closest("form");
    var input = rule && form && form.elements[rule[1]];
    if (!input) return;
    var update = function () {
      var shown = rule[2] === undefined ? input.value !== "" : rule[2].split(",").indexOf(input.value) !== -1;
      section.hidden = !shown && !section.querySelector(".field-error"); // an error always stays in sight
    };
    input.addEventListener("change", update);
    update();
  });
  document.querySelectorAll(".print-button").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      window.print();
    });
  });
})();
