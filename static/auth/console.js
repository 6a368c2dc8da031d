// The request log's "copy as cURL" buttons: each carries its command (built on the server, with
// $KIMI_GATEWAY_KEY in place of any key) in data-curl; a click puts it on the clipboard and says so.
// Words come from the page strings through KimiPage.t (static/common/page.js, loaded before this).
"use strict";

document.querySelectorAll("button.copy-curl").forEach(function (button) {
  var note = document.getElementById("copy-status"), fallback = document.getElementById("curl-fallback");
  button.addEventListener("click", function () {
    KimiPage.copyText(button.dataset.curl).then(function (copied) {
      note.textContent = KimiPage.t(copied ? "console_curl_copied" : "copy_manually");
      // Without clipboard rights (plain http on another host) the command is shown to copy by hand.
      fallback.hidden = copied;
      fallback.textContent = copied ? "" : button.dataset.curl;
    });
  });
});
