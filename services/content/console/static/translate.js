// The translation screen: the placeholders and link targets a segment must keep are chips. An
// edit that would remove or change one is undone, with a sentence saying why; a chip, clicked,
// inserts its code at the cursor (to move a placeholder: insert it, then delete the old one).
// The server applies the same check on saving; this keeps the translator from losing one.
(function () {
  "use strict";
  var kept = new WeakMap();

  function chipsOf(field) {
    var box = document.getElementById("codes-" + field.id.slice(2));
    return box ? Array.prototype.slice.call(box.querySelectorAll(".chip")) : [];
  }
  function occurrences(text, code) {
    var count = 0;
    var at = text.indexOf(code);
    while (at !== -1) {
      count += 1;
      at = text.indexOf(code, at + code.length);
    }
    return count;
  }
  function missing(field, text) {
    return chipsOf(field).filter(function (chip) {
      return occurrences(text, chip.getAttribute("data-code")) < Number(chip.getAttribute("data-count") || "1");
    });
  }
  function mark(field) {
    var lost = missing(field, field.value);
    chipsOf(field).forEach(function (chip) {
      chip.classList.toggle("chip-missing", lost.indexOf(chip) !== -1);
    });
    if (lost.length === 0) {
      kept.set(field, field.value);
    }
  }
  function status(field, shown) {
    var box = document.getElementById("chip-status-" + field.id.slice(2));
    if (box) {
      box.textContent = shown ? box.getAttribute("data-refused") : "";
      box.hidden = !shown;
    }
  }
  document.addEventListener("input", function (event) {
    var field = event.target;
    if (!(field instanceof HTMLTextAreaElement) || field.id.indexOf("t-") !== 0) {
      return;
    }
    var previous = kept.get(field);
    if (previous !== undefined && missing(field, field.value).length > 0) {
      var caret = Math.min(field.selectionStart, previous.length);
      field.value = previous;
      field.setSelectionRange(caret, caret);
      status(field, true);
    } else {
      status(field, false);
    }
    mark(field);
  });
  document.addEventListener("click", function (event) {
    var chip = event.target instanceof Element ? event.target.closest(".chip") : null;
    if (!chip || chip.disabled) {
      return;
    }
    var field = document.getElementById(chip.parentElement.getAttribute("data-field"));
    var code = chip.getAttribute("data-code");
    var text = chip.classList.contains("chip-link") ? '<a href="' + code + '">' + "</a>" : code;
    var start = field.selectionStart;
    field.setRangeText(text, start, field.selectionEnd, "end");
    field.focus();
    field.dispatchEvent(new Event("input", { bubbles: true }));
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("textarea[id^='t-']").forEach(mark);
  });
})();
