// One time zone everywhere: the server writes times in UTC inside <time datetime>; this shows
// each absolute time in the viewer's own zone (labelled), keeps UTC on hover, and puts the
// absolute time (local and UTC) on the hover of every relative one. Parts that live updates
// swap in are handled as they arrive.
(function () {
  "use strict";
  const zone = (function () {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
    } catch (error) {
      return "local time";
    }
  })();
  function pad(n) { return String(n).padStart(2, "0"); }
  function clock(date, seconds) {
    return pad(date.getHours()) + ":" + pad(date.getMinutes()) + (seconds ? ":" + pad(date.getSeconds()) : "");
  }
  function local(date, seconds) {
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + " " + clock(date, seconds);
  }
  function utc(date) {
    return date.toISOString().slice(0, 19).replace("T", " ") + " UTC";
  }
  function show(element) {
    if (element.dataset.localised) return;
    const date = new Date(element.getAttribute("datetime"));
    if (Number.isNaN(date.getTime())) return;
    element.dataset.localised = "1";
    if (element.dataset.when !== undefined) {
      element.textContent = local(date, element.dataset.when === "seconds") + " (" + zone + ")";
      element.title = utc(date);
    } else if (element.dataset.ago !== undefined) {
      element.title = local(date, true) + " (" + zone + ") · " + utc(date);
    } else {
      // Any other time a template wrote in UTC ("2026-12-03 13:05 UTC", "13:05 UTC").
      const text = element.textContent.trim();
      if (!/\d\d:\d\d(:\d\d)? UTC$/.test(text)) return;
      const seconds = /:\d\d:\d\d UTC$/.test(text);
      element.textContent = (/^\d{4}-/.test(text) ? local(date, seconds) : clock(date, seconds)) + " (" + zone + ")";
      element.title = utc(date);
    }
  }
  function all(root) {
    root.querySelectorAll("time[datetime]").forEach(show);
  }
  all(document);
  new MutationObserver(function (changes) {
    for (const change of changes) {
      change.addedNodes.forEach(function (node) {
        if (node.nodeType !== 1) return;
        if (node.matches("time")) show(node);
        all(node);
      });
    }
  }).observe(document.body, { childList: true, subtree: true });
})();
