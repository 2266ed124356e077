// Keeps the dashboard and the app page live without reloads. Every few seconds it asks a small
// endpoint for a fingerprint of the targets' state; only when that changes does it fetch the
// page again and swap the parts marked data-live-region, keeping focus and the filter as they were.
(function () {
  "use strict";
  const note = document.querySelector("[data-live-state]");
  const every = 2000;

  // Progressive extras that need no server: a select that submits, a filter as you type.
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", function () { select.form.submit(); });
  }
  const filter = document.querySelector("input[data-filter]");
  function applyFilter() {
    if (!filter) return;
    const words = filter.value.trim().toLowerCase();
    let shown = 0;
    for (const item of document.querySelectorAll(filter.dataset.filter)) {
      const hit = !words || item.textContent.toLowerCase().includes(words);
      item.hidden = !hit;
      if (hit) shown += 1;
    }
    const count = document.getElementById(filter.getAttribute("aria-controls") + "-count");
    if (count) count.textContent = words ? shown + " shown" : "";
  }
  if (filter) filter.addEventListener("input", applyFilter);

  if (!note) return;
  let version = note.dataset.liveVersion || null;
  let busy = false;
  let failures = 0;
  let stopped = false;
  let waitUntil = 0;
  const failuresBeforeBanner = 3;
  const slowest = 30000;

  function banner(id, text) {
    window.bartenderBanner(id, text);
  }

  function signedOut(response) {
    return response.type === "opaqueredirect" || response.status === 401 || response.status === 403 || response.redirected;
  }

  async function refresh() {
    // A page waiting for something new (the first clone) shows a different page once it lands.
    if (document.querySelector("[data-live-reload]")) {
      window.location.reload();
      return true;
    }
    const response = await fetch(window.location.href, {
      credentials: "same-origin", redirect: "manual", headers: { Accept: "text/html" },
    });
    if (signedOut(response)) throw new SignedOut();
    if (!response.ok) return false;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    const focused = document.activeElement && document.activeElement.id;
    for (const region of document.querySelectorAll("[data-live-region]")) {
      const replacement = fresh.getElementById(region.id);
      if (replacement) region.replaceWith(document.importNode(replacement, true));
    }
    if (focused && document.activeElement && document.activeElement.id !== focused) {
      const again = document.getElementById(focused);
      if (again) again.focus({ preventScroll: true });
    }
    applyFilter();
    // Shown, not announced: a screen reader hears the changes themselves, not every refresh.
    note.textContent = "Updated " + new Date().toLocaleTimeString() + ".";
    return true;
  }

  function SignedOut() {}

  async function poll() {
    if (busy || stopped || document.hidden || Date.now() < waitUntil) return;
    busy = true;
    try {
      const response = await fetch(note.dataset.liveState, {
        credentials: "same-origin", redirect: "manual", headers: { Accept: "application/json" },
      });
      if (signedOut(response)) throw new SignedOut();
      if (!response.ok) throw new Error("HTTP " + response.status);
      const data = await response.json();
      if (version !== null && data.version !== version) {
        if (await refresh()) version = data.version;
      } else {
        version = data.version;
      }
      failures = 0;
      waitUntil = 0;
      banner("paused", "");
    } catch (error) {
      if (error instanceof SignedOut) {
        stopped = true;
        banner("paused", "");
        banner("signed-out", "You were signed out; reload to keep following.");
      } else {
        // Offline or a server error: retry, more slowly each time, and say so after a few.
        failures += 1;
        waitUntil = Date.now() + Math.min(slowest, every * 2 ** Math.min(failures, 4));
        if (failures >= failuresBeforeBanner) banner("paused", "Live updates paused: the server does not answer. Retrying…");
      }
    } finally {
      busy = false;
    }
  }

  poll();
  window.setInterval(poll, every);
  document.addEventListener("visibilitychange", poll);
})();
