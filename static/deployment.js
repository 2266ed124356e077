// Follows a deployment: asks for the log lines after the last one once a second. The server
// sends them as HTML it escaped and coloured, and the facts (status, duration, buttons) anew.
// The log follows its end unless the reader scrolled up or opened a link to a line (#L12).
(function () {
  "use strict";
  const log = document.getElementById("log");
  if (!log) return;
  const summary = document.getElementById("summary");
  const note = document.getElementById("follow-note");
  const icons = (log.dataset.icons || "").split(" ");
  const favicons = { running: icons[0], queued: icons[0], succeeded: icons[1], failed: icons[2], cancelled: icons[2] };
  const finished = ["succeeded", "failed", "cancelled"];
  let after = Number(log.dataset.after || 0);
  let status = log.dataset.status;
  let follow = !window.location.hash.startsWith("#L");

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

  function showStatus(data) {
    status = data.status;
    summary.innerHTML = data.facts;
    document.title = data.title;
    const icon = document.getElementById("favicon");
    if (icon && favicons[status]) icon.href = favicons[status];
    log.dataset.status = status;
  }

  async function poll() {
    try {
      const response = await fetch(log.dataset.url + "?after=" + after, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (response.ok) {
        const data = await response.json();
        if (data.html.trim()) {
          log.insertAdjacentHTML("beforeend", data.html);
          if (follow) toEnd();
        }
        after = data.after;
        if (data.status !== status || data.finished) showStatus(data);
        if (data.finished && !data.more) {
          if (note) note.hidden = true;
          return;
        }
        if (data.more) return window.setTimeout(poll, 50);
      }
    } catch (error) {
      // The network blinked: try again on the next tick.
    }
    window.setTimeout(poll, 1000);
  }

  if (follow) toEnd();
  if (!finished.includes(status)) window.setTimeout(poll, 1000);
})();
