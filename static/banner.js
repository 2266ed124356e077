// One warning banner per id ("signed-out", "paused"), shared by the pages that update live.
window.bartenderBanner = function (id, text, before) {
  let element = document.getElementById(id);
  if (!text) {
    if (element) element.remove();
    return;
  }
  if (!element) {
    element = document.createElement("p");
    element.id = id;
    element.className = "banner warn " + id;
    element.setAttribute("role", "alert");
    const anchor = before || document.getElementById("main").firstChild;
    anchor.parentNode.insertBefore(element, anchor);
  }
  element.textContent = text;
};
