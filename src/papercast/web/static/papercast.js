// papercast: progressive enhancement only; every page works without this file.
// "/" focuses the search box (unless you are already typing somewhere).
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    var target = event.target;
    var tag = target && target.tagName ? target.tagName.toLowerCase() : "";
    if (tag === "input" || tag === "textarea" || tag === "select" || (target && target.isContentEditable)) {
      return;
    }
    var box = document.getElementById("q");
    if (box) {
      event.preventDefault();
      box.focus();
      box.select();
    }
  });
}());
// Subscription forms: fill an empty time-zone field with the zone the browser reports (the
// server checks it; without this script the digest goes out in UTC unless one is typed).
(function () {
  "use strict";
  var zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (ignored) {
    return;
  }
  function fill() {
    var fields = document.querySelectorAll("input[data-time-zone]");
    for (var i = 0; i < fields.length; i += 1) {
      if (!fields[i].value) {
        fields[i].value = zone;
      }
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", fill);
  } else {
    fill();
  }
}());
