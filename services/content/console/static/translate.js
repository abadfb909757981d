// The translation screen: each placeholder or link target a segment must keep is shown as a chip;
// the chip is marked (struck through, with a sentence) as soon as the field no longer holds it.
// The server applies the same check on saving; this only tells the translator earlier.
(function () {
  "use strict";
  function check(field) {
    var codes = document.getElementById("codes-" + field.id.slice(2));
    if (!codes) {
      return;
    }
    var missing = [];
    codes.querySelectorAll(".chip").forEach(function (chip) {
      var code = chip.getAttribute("data-code");
      var kept = field.value.indexOf(code) !== -1;
      chip.classList.toggle("chip-missing", !kept);
      if (!kept) {
        missing.push(code);
      }
    });
    field.setAttribute("aria-invalid", missing.length ? "true" : "false");
  }
  document.addEventListener("input", function (event) {
    var field = event.target;
    if (field instanceof HTMLTextAreaElement && field.id.indexOf("t-") === 0) {
      check(field);
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("textarea[id^='t-']").forEach(check);
  });
})();
