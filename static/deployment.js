// Follows a deployment's log: asks for the lines after the last one once a second.
(function () {
  const log = document.getElementById("log");
  if (!log) return;
  const statusEl = document.getElementById("status");
  let after = Number(log.dataset.after || 0);
  let status = log.dataset.status;
  const finished = ["succeeded", "failed", "cancelled"];
  const marks = { succeeded: "✔", failed: "✖", running: "⟳", queued: "…", cancelled: "⊘" };

  function atBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  }

  async function poll() {
    try {
      const response = await fetch(log.dataset.url + "?after=" + after, { credentials: "same-origin" });
      if (response.ok) {
        const data = await response.json();
        const follow = atBottom();
        for (const line of data.lines) {
          const span = document.createElement("span");
          span.id = "L" + line.n;
          span.textContent = line.text + "\n";
          log.appendChild(span);
          after = line.n;
        }
        if (follow) log.scrollTop = log.scrollHeight;
        if (data.status !== status) {
          status = data.status;
          statusEl.innerHTML = "";
          const badge = document.createElement("span");
          badge.className = "status status-" + status;
          badge.textContent = marks[status] + " " + status;
          statusEl.appendChild(badge);
          document.title = document.title.replace(/^#(\d+) \w+/, "#$1 " + status);
        }
        if (finished.includes(status)) {
          const form = document.getElementById("cancel-form");
          if (form) form.remove();
          showOutcome();
          return;
        }
      }
    } catch (error) {
      // The network blinked: try again on the next tick.
    }
    window.setTimeout(poll, 1000);
  }

  async function showOutcome() {
    const response = await fetch(log.dataset.url.replace(/\/log$/, ""), { credentials: "same-origin" });
    if (!response.ok) return;
    const data = await response.json();
    const time = (iso) => (iso ? new Date(iso).toISOString().slice(11, 19) : "not yet");
    document.getElementById("started").textContent = time(data.started_at);
    let finishedText = time(data.finished_at);
    if (data.started_at && data.finished_at) {
      const seconds = (new Date(data.finished_at) - new Date(data.started_at)) / 1000;
      finishedText += " (" + seconds.toFixed(1) + " s)";
    }
    document.getElementById("finished").textContent = finishedText;
    document.getElementById("reason").textContent = data.reason;
  }

  if (!finished.includes(status)) window.setTimeout(poll, 1000);
})();
