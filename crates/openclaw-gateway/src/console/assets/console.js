// OpenClaw SMS console: the only script (the CSP allows no inline script).
"use strict";
function loginFromFragment() {
  var token = document.getElementById("token");
  var match = /^#token=([0-9A-Za-z._~-]+)$/.exec(window.location.hash);
  if (token && match) {
    history.replaceState(null, "", window.location.pathname);
    token.value = match[1];
    document.getElementById("login").submit();
  }
}
document.addEventListener("DOMContentLoaded", function () {
  // `gateway --dev` prints the login URL with the token in the fragment (never sent to the
  // server): fill the form with it, drop it from the address bar and history, and log in.
  loginFromFragment();
  // Opening the printed URL on an open login page changes only the fragment: no new load.
  window.addEventListener("hashchange", loginFromFragment);
  document.querySelectorAll("button[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
    });
  });
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  var body = document.getElementById("body");
  if (body) body.focus();
  followThread();
});
// A thread page follows its events: each `thread` event carries the thread's list, rendered
// (and HTML-escaped) by the server, which replaces the one shown.
function followThread() {
  var live = document.getElementById("live");
  var state = document.getElementById("live-state");
  if (!live || !window.EventSource) return;
  var source = new EventSource(live.getAttribute("data-events"));
  source.addEventListener("thread", function (event) {
    live.innerHTML = event.data;
    live.setAttribute("data-updates", String(Number(live.getAttribute("data-updates") || "0") + 1));
    if (state) state.textContent = "live";
  });
  source.addEventListener("error", function () {
    if (state) state.textContent = "reconnecting…";
  });
}
