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

  async function refresh() {
    const response = await fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (!response.ok) return false;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    const focused = document.activeElement && document.activeElement.id;
    for (const region of document.querySelectorAll("[data-live-region]")) {
      const replacement = fresh.getElementById(region.id);
      if (replacement) region.replaceWith(document.importNode(replacement, true));
    }
    if (focused && !document.activeElement.id) {
      const again = document.getElementById(focused);
      if (again) again.focus();
    }
    applyFilter();
    note.textContent = "Updated " + new Date().toLocaleTimeString() + ".";
    return true;
  }

  async function poll() {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const response = await fetch(note.dataset.liveState, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok) {
        const data = await response.json();
        if (version !== null && data.version !== version) {
          if (await refresh()) version = data.version;
        } else {
          version = data.version;
        }
      }
    } catch (error) {
      // Offline for a moment: the next tick tries again.
    } finally {
      busy = false;
    }
  }

  poll();
  window.setInterval(poll, every);
  document.addEventListener("visibilitychange", poll);
})();
