// The /auth page without a framework: a preview of what a pasted token says (asked of
// POST /auth/extract, which never echoes the token), live expiry countdowns, and confirmations.
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

function showPreview(table, info) {
  table.hidden = !info;
  if (!info) return;
  table.querySelectorAll("[data-field]").forEach(function (cell) {
    var value = info[cell.dataset.field];
    if (typeof value === "boolean") value = KimiPage.t(value ? "auth_yes" : "auth_no");
    cell.textContent = value === null || value === undefined ? "—" : String(value);
  });
  table.classList.toggle("expired", Boolean(info.expired));
}

function watchPreview(area) {
  var table = document.getElementById(area.dataset.preview), timer = null;
  area.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      if (!area.value.trim()) return showPreview(table, null);
      fetch("/auth/extract", {method: "POST", headers: {"Content-Type": "application/json"},
                              body: JSON.stringify({cookies: area.value}), credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (info) { showPreview(table, info); })
        .catch(function () { showPreview(table, null); });
    }, 250);
  });
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("textarea[data-preview]").forEach(watchPreview);
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
  tickCountdowns();
  setInterval(tickCountdowns, 1000);
});
