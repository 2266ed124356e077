// Copy buttons: <button data-copy="ID" hidden> copies the text of #ID. Without JavaScript the
// button stays hidden and the text can still be selected by hand.
(function () {
  function copied(button, said) {
    var status = document.getElementById(button.dataset.copy + "-copied");
    if (status) status.textContent = said;
    button.textContent = said === "Copied." ? "Copied" : "Copy";
  }
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.getElementById(button.dataset.copy);
      var text = source.textContent.trim();
      var fallback = function () {
        var range = document.createRange();
        range.selectNodeContents(source);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        copied(button, document.execCommand("copy") ? "Copied." : "Selected: press Ctrl+C to copy.");
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { copied(button, "Copied."); }, fallback);
      } else {
        fallback();
      }
    });
  });
})();
