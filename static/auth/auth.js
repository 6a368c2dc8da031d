// The /auth page without a framework: a preview of what the pasted tokens are (asked of
// POST /auth/extract, which never echoes a token), the console snippet's copy button, live expiry
// countdowns, and confirmations.
// Words come from the page strings through KimiPage.t (static/common/page.js, loaded before this).
"use strict";

function formatLeft(seconds) {
  seconds = Math.max(0, seconds);  // already expired: shown as no time left at all
  var days = Math.floor(seconds / 86400), hours = Math.floor(seconds % 86400 / 3600),
      minutes = Math.floor(seconds % 3600 / 60);
  if (days) return KimiPage.t("auth_left_days", {days: days, hours: hours});
  if (hours) return KimiPage.t("auth_left_hours", {hours: hours, minutes: minutes});
  return KimiPage.t("auth_left_minutes", {minutes: minutes, seconds: Math.floor(seconds % 60)});
}

function tickCountdowns() {
  var now = Date.now() / 1000;
  document.querySelectorAll("[data-exp]").forEach(function (el) {
    var left = Number(el.dataset.exp) - now;
    el.textContent = formatLeft(left);
    // Close to expiry: under a day, or already past.
    el.classList.toggle("soon", left < 86400);
    el.title = left < 86400 ? KimiPage.t("auth_expires_soon") : "";
  });
}

function showPreview(table, info, problem) {
  var error = document.getElementById(table.id + "-error");
  error.hidden = !problem;
  error.textContent = problem || "";
  table.hidden = !info;
  if (!info) return;
  table.querySelectorAll("[data-field]").forEach(function (cell) {
    var value = info[cell.dataset.field];
    if (typeof value === "boolean") value = KimiPage.t(value ? "auth_yes" : "auth_no");
    else if (cell.dataset.words && value) value = KimiPage.t(cell.dataset.words + value);
    cell.textContent = value === null || value === undefined ? "—" : String(value);
  });
  table.classList.toggle("expired", Boolean(info.expired));
}

// Both fields go to the preview together: the kind found depends on what each holds.
function askPreview(form, table) {
  var cookies = form.elements.cookies.value, refresh = form.elements.refresh_token.value;
  if (!cookies.trim() && !refresh.trim()) return showPreview(table, null);
  fetch("/auth/extract", {method: "POST", headers: {"Content-Type": "application/json"},
                          body: JSON.stringify({cookies: cookies, refresh_token: refresh}),
                          credentials: "same-origin"})
    .then(function (r) { return r.json().then(function (body) { return [r.ok, body]; }); })
    .then(function (answer) {
      if (answer[0]) showPreview(table, answer[1]);
      else showPreview(table, null, errorWords(answer[1].error || {}));
    })
    .catch(function () { showPreview(table, null); });
}

// The page's own words for a refusal when it has them; the server's (English) message otherwise, and
// for texts that need the expiry the server put in its message.
function errorWords(error) {
  var key = "auth_err_" + error.code, words = KimiPage.t(key);
  return words === key || words.indexOf("{detail}") >= 0 ? error.message : words;
}

function watchPreview(area) {
  var table = document.getElementById(area.dataset.preview), timer = null;
  area.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { askPreview(area.form, table); }, 250);
  });
}

function bindCopy(button) {
  var source = document.getElementById(button.dataset.copy), note = button.parentNode.querySelector(".copy-note");
  button.addEventListener("click", function () {
    KimiPage.copyText(source.textContent).then(function (copied) {
      note.textContent = KimiPage.t(copied ? "copied" : "copy_manually");
    });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("textarea[data-preview]").forEach(watchPreview);
  document.querySelectorAll("button[data-copy]").forEach(bindCopy);
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
  tickCountdowns();
  setInterval(tickCountdowns, 1000);
});
