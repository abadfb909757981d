// The block editor: each block a small form around contenteditable text, serialised as RevisionCreate JSON.
//
// The hidden field #revision-payload holds the revision the server sent (the head, or the form it
// kept after a refusal or a conflict); this script builds the blocks from it and writes it back on
// every change. A block keeps its id; one the editor has not touched is written back exactly as
// it came, so the diff of a save names only the blocks that changed. Facts and fragment includes
// are chips (contenteditable="false"): they go or stay whole. The unsaved form is also kept in
// sessionStorage, so a reload or a failed request loses nothing.
(function () {
  "use strict";
  var form = document.querySelector("form[data-editor]");
  if (!form) {
    return;
  }
  var payloadField = document.getElementById("revision-payload");
  var titleInput = document.getElementById("revision-title");
  var messageInput = document.getElementById("revision-message");
  var blocks = document.getElementById("blocks");
  var previewForm = document.getElementById("preview-form");
  var problem = document.getElementById("editor-problem");
  var factChoice = document.getElementById("fact-choice");
  var factFormat = document.getElementById("fact-format");
  var linkTarget = document.getElementById("link-target");
  var draftKey = form.getAttribute("data-draft-key");
  var meta = { message: "", base_revision: null, source_revision: null };
  var lastRange = null;
  var MARK_TAGS = { STRONG: "strong", B: "strong", EM: "em", I: "em" };
  var LINK = /^(https?:\/\/|mailto:)[^\s\u0000-\u001f\u007f]+$/;

  function word(name) {
    var found = document.getElementById("tpl-words").content.querySelector('[data-word="' + name + '"]');
    return found ? found.textContent : name;
  }

  function clone(id) {
    return document.getElementById(id).content.firstElementChild.cloneNode(true);
  }

  function say(text) {
    problem.textContent = text;
    problem.hidden = !text;
  }

  // ---- building the blocks from JSON ----

  function factChip(key, format) {
    var chip = document.createElement("span");
    chip.className = "chip chip-fact";
    chip.contentEditable = "false";
    chip.setAttribute("data-fact-key", key);
    if (format) {
      chip.setAttribute("data-fact-format", format);
    }
    var option = factChoice ? factChoice.querySelector('option[value="' + CSS.escape(key) + '"]') : null;
    chip.setAttribute("aria-label", word("fact-label") + " " + key);
    chip.textContent = option ? option.getAttribute("data-shown") : key;
    chip.title = key + (format ? " (" + format + ")" : "");
    return chip;
  }

  function spanNode(span) {
    var node = span.type === "fact" ? factChip(span.key, span.format) : document.createTextNode(span.text || "");
    (span.marks || []).forEach(function (mark) {
      var wrapper = document.createElement(mark === "strong" ? "strong" : "em");
      wrapper.appendChild(node);
      node = wrapper;
    });
    if (span.link) {
      var anchor = document.createElement("a");
      anchor.setAttribute("href", span.link);
      anchor.appendChild(node);
      node = anchor;
    }
    return node;
  }

  function fillInline(region, spans) {
    (spans || []).forEach(function (span) {
      region.appendChild(spanNode(span));
    });
  }

  function addItem(list, spans, after) {
    var item = clone("tpl-item");
    fillInline(item.querySelector("[data-field=item]"), spans);
    list.insertBefore(item, after ? after.nextSibling : null);
    return item;
  }

  function buildBlock(block) {
    var type = block.type;
    var element = clone("tpl-" + type);
    if (block.id) {
      element.setAttribute("data-block-id", block.id);
      element.originalBlock = block;
    }
    if (type === "heading") {
      element.querySelector("[data-field=level]").value = String(block.level || 2);
    }
    if (type === "heading" || type === "paragraph") {
      fillInline(element.querySelector("[data-field=content]"), block.content);
    } else if (type === "list") {
      element.querySelector("[data-field=ordered]").checked = !!block.ordered;
      var items = element.querySelector("[data-field=items]");
      (block.items || []).forEach(function (spans) {
        addItem(items, spans);
      });
    } else if (type === "fragment") {
      var chip = element.querySelector("[data-field=fragment]");
      chip.setAttribute("data-fragment", block.fragment);
      chip.setAttribute("aria-label", word("fragment-label") + " " + block.fragment);
      chip.textContent = block.fragment;
    }
    return element;
  }

  function load(json) {
    var revision;
    try {
      revision = JSON.parse(json);
    } catch (error) {
      return false;
    }
    if (!revision || typeof revision !== "object") {
      return false;
    }
    titleInput.value = revision.title || "";
    messageInput.value = revision.message || "";
    meta.base_revision = revision.base_revision === undefined ? null : revision.base_revision;
    meta.source_revision = revision.source_revision === undefined ? null : revision.source_revision;
    blocks.textContent = "";
    (revision.blocks || []).forEach(function (block) {
      if (block && typeof block === "object" && document.getElementById("tpl-" + block.type)) {
        blocks.appendChild(buildBlock(block));
      }
    });
    return true;
  }

  // ---- serialising the blocks to JSON ----

  function walk(node, marks, link, out) {
    node.childNodes.forEach(function (child) {
      if (child.nodeType === Node.TEXT_NODE) {
        var text = child.nodeValue.replace(/[\u0000-\u001f\u007f]+/g, " ");
        if (text) {
          out.push({ type: "text", text: text, marks: marks, link: link });
        }
        return;
      }
      if (child.nodeType !== Node.ELEMENT_NODE) {
        return;
      }
      if (child.hasAttribute("data-fact-key")) {
        var fact = { type: "fact", key: child.getAttribute("data-fact-key"), marks: marks, link: link };
        if (child.getAttribute("data-fact-format")) {
          fact.format = child.getAttribute("data-fact-format");
        }
        out.push(fact);
        return;
      }
      if (child.tagName === "BR") {
        out.push({ type: "text", text: " ", marks: marks, link: link });
        return;
      }
      var mark = MARK_TAGS[child.tagName];
      var inner = mark && marks.indexOf(mark) < 0 ? marks.concat([mark]).sort() : marks;
      var href = child.tagName === "A" ? child.getAttribute("href") : link;
      walk(child, inner, href, out);
    });
  }

  function inlineOf(region) {
    var raw = [];
    walk(region, [], null, raw);
    var spans = [];
    raw.forEach(function (span) {
      var last = spans[spans.length - 1];
      if (
        span.type === "text" && last && last.type === "text" &&
        last.link === span.link && last.marks.join() === span.marks.join()
      ) {
        last.text += span.text;
      } else {
        spans.push(span);
      }
    });
    return spans.map(function (span) {
      var clean = { type: span.type };
      if (span.type === "text") {
        clean.text = span.text;
      } else {
        clean.key = span.key;
        if (span.format) {
          clean.format = span.format;
        }
      }
      if (span.marks.length) {
        clean.marks = span.marks;
      }
      if (span.link) {
        clean.link = span.link;
      }
      return clean;
    });
  }

  function blockOf(element) {
    if (element.originalBlock && !element.hasAttribute("data-touched")) {
      return element.originalBlock; // untouched: exactly as it came
    }
    var type = element.getAttribute("data-type");
    var block = { type: type };
    if (type === "heading" || type === "paragraph") {
      block.content = inlineOf(element.querySelector("[data-field=content]"));
      if (!block.content.length) {
        return null; // an emptied block is left out (Inline needs at least one span)
      }
      if (type === "heading") {
        block.level = Number(element.querySelector("[data-field=level]").value);
      }
    } else if (type === "list") {
      block.items = [];
      element.querySelectorAll("[data-field=item]").forEach(function (region) {
        var spans = inlineOf(region);
        if (spans.length) {
          block.items.push(spans);
        }
      });
      if (!block.items.length) {
        return null;
      }
      block.ordered = element.querySelector("[data-field=ordered]").checked;
    } else {
      block.fragment = element.querySelector("[data-field=fragment]").getAttribute("data-fragment");
    }
    if (element.getAttribute("data-block-id")) {
      block.id = element.getAttribute("data-block-id");
    }
    return block;
  }

  function collect() {
    var list = [];
    blocks.querySelectorAll(":scope > .block").forEach(function (element) {
      var block = blockOf(element);
      if (block) {
        list.push(block);
      }
    });
    return {
      title: titleInput.value,
      blocks: list,
      message: messageInput.value,
      base_revision: meta.base_revision,
      source_revision: meta.source_revision,
    };
  }

  function sync() {
    payloadField.value = JSON.stringify(collect());
    try {
      window.sessionStorage.setItem(draftKey, payloadField.value);
    } catch (error) {
      // storage full or disabled: the form itself still holds everything
    }
    if (previewForm) {
      previewForm.dispatchEvent(new Event("editor-change"));
    }
  }

  function touch(node) {
    var block = node && node.closest ? node.closest(".block") : null;
    if (block) {
      block.setAttribute("data-touched", "");
    }
  }

  // ---- selection, marks, links, facts ----

  function regionOf(node) {
    var element = node && (node.nodeType === Node.ELEMENT_NODE ? node : node.parentElement);
    return element ? element.closest("#blocks .inline") : null;
  }

  function remember() {
    var selection = window.getSelection();
    if (selection.rangeCount && regionOf(selection.anchorNode)) {
      lastRange = selection.getRangeAt(0).cloneRange();
    }
  }

  // selectionchange comes later than the key that moved the selection: leaving a block's text takes it too.
  document.addEventListener("selectionchange", remember);
  form.addEventListener("focusout", function (event) {
    if (regionOf(event.target)) {
      remember();
    }
  });

  function restore() {
    var focused = regionOf(document.activeElement);
    if (focused && window.getSelection().rangeCount && regionOf(window.getSelection().anchorNode) === focused) {
      say("");
      return focused; // the selection is current: a remembered one may be a key press behind
    }
    if (!lastRange || !regionOf(lastRange.startContainer) || !document.contains(lastRange.startContainer)) {
      say(word("no-place"));
      return null;
    }
    var region = regionOf(lastRange.startContainer);
    region.focus();
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(lastRange);
    say("");
    return region;
  }

  function command(name, value) {
    var region = restore();
    if (!region) {
      return;
    }
    document.execCommand("styleWithCSS", false, false);
    document.execCommand(name, false, value);
    touch(region);
    sync();
  }

  function applyLink() {
    var target = linkTarget.value.trim();
    if (!LINK.test(target)) {
      say(word("link-invalid"));
      linkTarget.setAttribute("aria-invalid", "true");
      linkTarget.focus();
      return;
    }
    linkTarget.removeAttribute("aria-invalid");
    command("createLink", target);
  }

  function insertFact() {
    if (!factChoice || !factChoice.value) {
      return;
    }
    var region = restore();
    if (!region) {
      return;
    }
    var range = window.getSelection().getRangeAt(0);
    range.deleteContents();
    var chip = factChip(factChoice.value, factFormat.value);
    range.insertNode(chip);
    range.setStartAfter(chip);
    range.collapse(true);
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
    lastRange = range.cloneRange();
    touch(region);
    sync();
  }

  // ---- blocks: add, remove, move ----

  function currentBlock() {
    var active = document.activeElement;
    var block = active && active.closest ? active.closest("#blocks > .block") : null;
    if (!block && lastRange && document.contains(lastRange.startContainer)) {
      var region = regionOf(lastRange.startContainer);
      block = region ? region.closest(".block") : null;
    }
    return block;
  }

  function focusIn(block) {
    var target = block && (block.querySelector(".inline") || block.querySelector("select, button"));
    if (target) {
      target.focus();
    }
  }

  function addBlock() {
    var kind = document.getElementById("new-block-type").value;
    var block;
    if (kind === "fragment") {
      block = buildBlock({ type: "fragment", fragment: document.getElementById("new-block-fragment").value });
    } else if (kind === "list" || kind === "olist") {
      block = buildBlock({ type: "list", ordered: kind === "olist", items: [] });
      addItem(block.querySelector("[data-field=items]"), []);
    } else {
      block = buildBlock({ type: kind, content: [] });
    }
    var after = currentBlock();
    blocks.insertBefore(block, after ? after.nextSibling : null);
    focusIn(block);
    sync();
  }

  function move(block, up) {
    var sibling = up ? block.previousElementSibling : block.nextElementSibling;
    if (!sibling) {
      return;
    }
    var focused = document.activeElement;
    blocks.insertBefore(block, up ? sibling : sibling.nextSibling);
    if (focused && block.contains(focused)) {
      focused.focus();
    }
    sync();
  }

  form.addEventListener("mousedown", function (event) {
    // Toolbar buttons keep the text selection they act on.
    if (event.target.closest(".toolbar button")) {
      event.preventDefault();
    }
  });

  form.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-act]");
    if (!button) {
      return;
    }
    var act = button.getAttribute("data-act");
    var block = button.closest(".block");
    if (act === "strong") {
      command("bold");
    } else if (act === "em") {
      command("italic");
    } else if (act === "link") {
      applyLink();
    } else if (act === "unlink") {
      command("unlink");
    } else if (act === "fact") {
      insertFact();
    } else if (act === "add") {
      addBlock();
    } else if (act === "up" || act === "down") {
      move(block, act === "up");
    } else if (act === "remove") {
      var next = block.nextElementSibling || block.previousElementSibling;
      block.remove();
      if (next) {
        focusIn(next);
      } else {
        document.getElementById("new-block-type").focus();
      }
      sync();
    } else if (act === "add-item") {
      var item = addItem(block.querySelector("[data-field=items]"), []);
      item.querySelector(".inline").focus();
      touch(block);
      sync();
    } else if (act === "remove-item") {
      var items = button.closest(".item");
      var neighbour = items.nextElementSibling || items.previousElementSibling;
      items.remove();
      touch(block);
      if (neighbour) {
        neighbour.querySelector(".inline").focus();
      }
      sync();
    }
  });

  form.addEventListener("keydown", function (event) {
    var region = event.target.closest ? event.target.closest("#blocks .inline") : null;
    var shortcut = event.ctrlKey || event.metaKey;
    var key = event.key.toLowerCase(); // caps lock or shift give "B"
    if (region && shortcut && (key === "b" || key === "i")) {
      event.preventDefault();
      command(key === "b" ? "bold" : "italic");
    } else if (region && shortcut && key === "k") {
      event.preventDefault();
      remember();
      linkTarget.focus();
    } else if (event.target === linkTarget && event.key === "Enter") {
      event.preventDefault();
      applyLink();
    } else if (region && event.key === "Enter") {
      event.preventDefault(); // a block's text is one line of inline content
      var item = region.closest(".item");
      if (item) {
        var added = addItem(item.parentElement, [], item);
        added.querySelector(".inline").focus();
        touch(item);
        sync();
      }
    } else if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
      var block = event.target.closest ? event.target.closest("#blocks > .block") : null;
      if (block) {
        event.preventDefault();
        move(block, event.key === "ArrowUp");
      }
    }
  });

  form.addEventListener("paste", function (event) {
    var region = event.target.closest ? event.target.closest("#blocks .inline") : null;
    if (region) {
      // Plain text only: markup from elsewhere never enters a block.
      event.preventDefault();
      var text = (event.clipboardData.getData("text/plain") || "").replace(/[\u0000-\u001f\u007f]+/g, " ");
      document.execCommand("insertText", false, text);
    }
  });

  form.addEventListener("input", function (event) {
    if (event.target === linkTarget) {
      return;
    }
    touch(event.target);
    sync();
  });
  form.addEventListener("change", function (event) {
    if (event.target.closest("#blocks")) {
      touch(event.target);
      sync();
    }
  });
  form.addEventListener("submit", function () {
    sync();
  });

  // ---- start: the server's revision, or the unsaved one this browser kept ----

  var stored = null;
  try {
    if (form.hasAttribute("data-saved")) {
      window.sessionStorage.removeItem(draftKey);
    }
    stored = window.sessionStorage.getItem(draftKey);
  } catch (error) {
    stored = null;
  }
  load(payloadField.value);
  var shown = JSON.stringify(collect());
  if (!form.hasAttribute("data-kept") && stored && stored !== shown && load(stored)) {
    var notice = document.getElementById("restored-notice");
    notice.hidden = false;
    notice.querySelector("button").addEventListener("click", function () {
      window.sessionStorage.removeItem(draftKey);
      window.location.reload();
    });
  }
  payloadField.value = JSON.stringify(collect());
})();
