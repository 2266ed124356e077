// Follows a deployment: asks for the log lines after the last one once a second. The server
// sends them as HTML it escaped and coloured, and the facts (status, duration, buttons) anew,
// all from its database (no git): the commit's message stays as the page first showed it.
// The log follows its end unless the reader scrolled up or opened a link to a line (#L12).
// A signed-out session stops the polling with a banner saying so (the tail endpoint answers with
// a redirect to the login page then); a server that does not answer pauses it, retrying slower.
(function () {
  "use strict";
  const log = document.getElementById("log");
  if (!log) return;
  const summary = document.getElementById("summary");
  const note = document.getElementById("follow-note");
  const announce = document.getElementById("status-announce");
  const icons = (log.dataset.icons || "").split(" ");
  const favicons = { running: icons[0], queued: icons[0], succeeded: icons[1], failed: icons[2], cancelled: icons[2] };
  const finished = ["succeeded", "failed", "cancelled"];
  const every = 1000;
  const slowest = 30000;
  const failuresBeforeBanner = 3;
  let after = Number(log.dataset.after || 0);
  let status = log.dataset.status;
  let follow = !window.location.hash.startsWith("#L");
  let lastFacts = null;
  let failures = 0;

  function atBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  }

  function toEnd() {
    log.scrollTop = log.scrollHeight;
  }

  log.addEventListener("scroll", function () {
    follow = atBottom();
    if (note) note.hidden = follow || finished.includes(status);
  });
  const followButton = document.getElementById("follow");
  if (followButton) {
    followButton.addEventListener("click", function () {
      follow = true;
      note.hidden = true;
      toEnd();
    });
  }

  function banner(id, text) {
    window.bartenderBanner(id, text, summary);
  }

  // "running for 3 min 12 s", ticking between polls.
  function tick() {
    const since = summary.querySelector("time[data-since]");
    if (!since) return;
    const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(since.getAttribute("datetime"))) / 1000));
    const minutes = Math.floor(seconds / 60);
    since.textContent = minutes ? minutes + " min " + (seconds % 60) + " s" : seconds + " s";
  }

  // The tail renders the facts from the database alone; what needs git (the commit's message)
  // it marks data-keep, and the page keeps the element it rendered first in its place.
  function factsKeeping(html) {
    const fresh = document.createElement("template");
    fresh.innerHTML = html;
    fresh.content.querySelectorAll("[data-keep][id]").forEach(function (placeholder) {
      const shown = document.getElementById(placeholder.id);
      if (shown && summary.contains(shown)) placeholder.replaceWith(shown);
    });
    return fresh.content;
  }

  function showFacts(data) {
    if (data.facts !== lastFacts) {
      const focused = document.activeElement && summary.contains(document.activeElement) && document.activeElement.id;
      summary.replaceChildren(factsKeeping(data.facts));
      lastFacts = data.facts;
      if (focused) {
        const again = document.getElementById(focused);
        if (again) again.focus();
      }
      tick();
    }
    if (data.status === status) return;
    status = data.status;
    document.title = data.title;
    const icon = document.getElementById("favicon");
    if (icon && favicons[status]) icon.href = favicons[status];
    log.dataset.status = status;
    const heading = document.getElementById("changes-heading");
    if (heading && data.changes_heading) heading.textContent = data.changes_heading;
    if (announce) announce.textContent = "Deployment " + status + ".";
  }

  function signedOut(response) {
    return response.type === "opaqueredirect" || response.status === 401 || response.status === 403 ||
      response.redirected || !(response.headers.get("Content-Type") || "").includes("application/json");
  }

  async function poll() {
    let response;
    try {
      response = await fetch(log.dataset.url + "?after=" + after, {
        credentials: "same-origin",
        redirect: "manual",
        headers: { Accept: "application/json" },
      });
    } catch (error) {
      return retry();
    }
    if (response.ok && !signedOut(response)) {
      let data;
      try {
        data = await response.json();
      } catch (error) {
        return retry();
      }
      failures = 0;
      banner("paused", "");
      if (data.html.trim()) {
        log.insertAdjacentHTML("beforeend", data.html);
        if (follow) toEnd();
      }
      after = data.after;
      showFacts(data);
      if (data.finished && !data.more) {
        if (note) note.hidden = true;
        return;
      }
      return window.setTimeout(poll, data.more ? 50 : every);
    }
    if (signedOut(response)) {
      banner("paused", "");
      banner("signed-out", "You were signed out; reload to keep following.");
      return;
    }
    retry();  // a server error: it may come back
  }

  function retry() {
    failures += 1;
    if (failures >= failuresBeforeBanner) banner("paused", "Live updates paused: the server does not answer. Retrying…");
    window.setTimeout(poll, Math.min(slowest, every * 2 ** Math.min(failures, 5)));
  }

  if (follow) toEnd();
  // A succeeded deployment whose health is still being checked keeps printing its probes.
  if (!finished.includes(status) || "checking" in log.dataset) {
    tick();
    window.setInterval(function () { if (!finished.includes(status)) tick(); }, 1000);
    window.setTimeout(poll, every);
  }
})();
