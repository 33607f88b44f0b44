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

// Upvote and save buttons are forms that POST and come back to the page (web/ui/voting.py).
// Here they become fetch calls to the JSON API (POST to add, DELETE to take back), with the
// page's CSRF token in a header, and the buttons change in place: no reload.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (!meta || !window.fetch) {
    return;
  }
  function update(form, result) {
    var on = form.getAttribute("data-mark") === "vote" ? result.upvoted : result.saved;
    var button = form.querySelector("button");
    form.querySelector('input[name="on"]').value = on ? "0" : "1";
    button.setAttribute("aria-pressed", on ? "true" : "false");
    var marks = form.closest(".marks");
    var points = marks ? marks.querySelector(".points") : null;
    if (points) {
      points.textContent = String(Math.round(result.points * 10) / 10);  // as the server shows them
    }
    var label = button.querySelector(".label");
    if (label) {
      label.textContent = on ? "Saved" : "Save";
    }
    if (form.getAttribute("data-mark") === "vote") {
      button.title = on ? "Remove your upvote" : "Upvote";
    } else {
      button.title = on ? "Remove from your library" : "Save to your library";
    }
  }
  function say(form, text) {
    var note = form.parentNode.querySelector(".mark-note");
    if (!note) {
      note = document.createElement("span");
      note.className = "mark-note";
      note.setAttribute("role", "status");
      form.parentNode.appendChild(note);
    }
    note.textContent = text;
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("mark-form")) {
      return;
    }
    event.preventDefault();
    var on = form.querySelector('input[name="on"]').value !== "0";
    var button = form.querySelector("button");
    button.disabled = true;
    fetch("/api/v1" + form.getAttribute("action"), {
      method: on ? "POST" : "DELETE",
      credentials: "same-origin",
      headers: {"X-CSRF-Token": meta.getAttribute("content"), "Accept": "application/json"}
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) {
          throw new Error(body.detail || ("HTTP " + response.status));
        }
        update(form, body);
        say(form, "");
      });
    }).catch(function (error) {
      say(form, String(error.message || error));
    }).then(function () {
      button.disabled = false;
    });
  });
}());

// "Not interested" buttons are forms that POST and come back (web/ui/for_you.py). Here they
// call the JSON API and hide the paper in place.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (!meta || !window.fetch) {
    return;
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("hide-form")) {
      return;
    }
    event.preventDefault();
    var button = form.querySelector("button");
    button.disabled = true;
    fetch("/api/v1" + form.getAttribute("action"), {
      method: "POST",
      credentials: "same-origin",
      headers: {"X-CSRF-Token": meta.getAttribute("content"), "Accept": "application/json"}
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      var item = form.closest(".paper-item");
      if (item) {
        item.hidden = true;
      }
    }).catch(function (error) {
      button.disabled = false;
      button.title = String(error.message || error);
    });
  });
}());
