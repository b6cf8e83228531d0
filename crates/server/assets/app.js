// Qualify dashboard: the little the pages need beyond plain forms.
// - The queue's outcome forms post in place (fetch + X-CSRF-Token) and the
//   server answers the lead's new row, which replaces the old one.
// - The model editor keeps its line numbers in step with the text, checks
//   the model as you type and marks the lines with errors.
// Every page works without this file: the forms post and redirect.
"use strict";

(function () {
  function csrfOf(form) {
    var field = form.querySelector('input[name="csrf"]');
    return field ? field.value : "";
  }

  function announce(text) {
    var region = document.getElementById("live-status");
    if (!region) {
      region = document.createElement("div");
      region.id = "live-status";
      region.className = "visually-hidden";
      region.setAttribute("role", "status");
      region.setAttribute("aria-live", "polite");
      document.body.appendChild(region);
    }
    region.textContent = text;
  }

  // In-place outcomes in the queue.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-inplace]")) return;
    var row = form.closest("tr");
    if (!row) return; // The lead page posts normally and reloads.
    event.preventDefault();
    var body = new URLSearchParams(new FormData(form));
    var submitter = event.submitter;
    if (submitter && submitter.name) body.set(submitter.name, submitter.value);
    if (body.get("stage") !== "rejected") body.delete("reason");
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (button) { button.disabled = true; });
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "X-CSRF-Token": csrfOf(form),
        "X-Requested-With": "qualify",
        "Content-Type": "application/x-www-form-urlencoded"
      },
      body: body.toString()
    }).then(function (response) {
      if (response.redirected && new URL(response.url).pathname === "/login") {
        window.location.assign("/login");
        return null;
      }
      return response.text().then(function (text) {
        if (!response.ok) throw new Error("the server answered " + response.status);
        var template = document.createElement("template");
        template.innerHTML = text.trim();
        var fresh = template.content.firstElementChild;
        if (!fresh) throw new Error("empty answer");
        fresh.classList.add("updated");
        row.replaceWith(fresh);
        var stage = fresh.querySelector(".stage-cell");
        announce("Lead " + fresh.dataset.lead + " is now " + (stage ? stage.textContent.trim() : "updated"));
        var link = fresh.querySelector("td.lead a");
        if (link) link.focus();
      });
    }).catch(function (error) {
      buttons.forEach(function (button) { button.disabled = false; });
      announce("Could not record the outcome: " + error.message);
      window.alert("Could not record the outcome: " + error.message);
    });
  });

  // The model editor.
  var textarea = document.getElementById("toml");
  var gutter = document.getElementById("gutter");
  if (!textarea || !gutter) return;
  var form = textarea.form;
  var errorsBox = document.getElementById("model-errors");
  var activate = document.getElementById("activate");
  var testedText = activate ? textarea.value : null;
  var errorsByLine = {};
  var timer = null;

  function renderGutter() {
    var count = textarea.value.split("\n").length;
    textarea.rows = count + 1;
    while (gutter.children.length < count) {
      var span = document.createElement("span");
      span.className = "line-number";
      gutter.appendChild(span);
    }
    while (gutter.children.length > count) gutter.removeChild(gutter.lastChild);
    for (var index = 0; index < count; index++) {
      var line = gutter.children[index];
      var number = index + 1;
      line.textContent = String(number);
      line.dataset.line = String(number);
      var message = errorsByLine[number];
      line.classList.toggle("error", Boolean(message));
      if (message) line.title = message; else line.removeAttribute("title");
    }
  }

  function goToLine(number, column) {
    var lines = textarea.value.split("\n");
    var start = 0;
    for (var index = 0; index < number - 1 && index < lines.length; index++) start += lines[index].length + 1;
    var length = (lines[number - 1] || "").length;
    textarea.focus();
    textarea.setSelectionRange(start + Math.max(0, Math.min((column || 1) - 1, length)), start + length);
    var line = gutter.children[number - 1];
    if (line && line.scrollIntoView) line.scrollIntoView({ block: "center" });
  }

  function showErrors(errors) {
    errorsByLine = {};
    errors.forEach(function (error) {
      var text = (error.rule_id ? 'rule "' + error.rule_id + '": ' : "") + error.message;
      errorsByLine[error.line] = errorsByLine[error.line] ? errorsByLine[error.line] + "; " + text : text;
    });
    renderGutter();
    errorsBox.textContent = "";
    if (errors.length === 0) {
      var ok = document.createElement("p");
      ok.className = "notice";
      ok.textContent = "The model is valid.";
      errorsBox.appendChild(ok);
      return;
    }
    var title = document.createElement("h2");
    title.className = "error-title";
    title.textContent = errors.length + " problem(s)";
    var list = document.createElement("ul");
    list.className = "errors";
    errors.forEach(function (error) {
      var item = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "link goto";
      button.dataset.line = String(error.line);
      button.dataset.column = String(error.column);
      button.textContent = "line " + error.line + ", column " + error.column;
      item.appendChild(button);
      item.appendChild(document.createTextNode(": " + (error.rule_id ? 'rule "' + error.rule_id + '": ' : "") + error.message));
      list.appendChild(item);
    });
    errorsBox.appendChild(title);
    errorsBox.appendChild(list);
  }

  function validate() {
    fetch("/model/validate", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfOf(form), "Content-Type": "text/plain; charset=utf-8" },
      body: textarea.value
    }).then(function (response) {
      if (!response.ok) throw new Error("the server answered " + response.status);
      return response.json();
    }).then(function (answer) {
      showErrors(answer.errors || []);
    }).catch(function () { /* The Check button still works. */ });
  }

  // Errors the server rendered with the page.
  Array.prototype.forEach.call(gutter.querySelectorAll(".line-number.error"), function (line) {
    errorsByLine[Number(line.dataset.line)] = line.title;
  });

  textarea.addEventListener("input", function () {
    renderGutter();
    if (activate) {
      var stale = textarea.value !== testedText;
      activate.disabled = stale;
      var section = document.getElementById("backtest");
      if (section) section.classList.toggle("stale", stale);
      activate.title = stale ? "The model changed since this backtest: backtest it again" : "";
    }
    window.clearTimeout(timer);
    timer = window.setTimeout(validate, 350);
  });

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("button.goto") : null;
    if (!target) return;
    goToLine(Number(target.dataset.line), Number(target.dataset.column));
  });

  renderGutter();
})();
