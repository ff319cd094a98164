// teamgate console: the little the pages need beyond HTML (they work without it).
// Times: each <time datetime> shows the viewer's own zone; its title keeps the UTC time.
"use strict";
(function () {
  function pad(n) { return String(n).padStart(2, "0"); }
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      if (el.dataset.local) { return; }
      var at = new Date(el.getAttribute("datetime"));
      if (isNaN(at.getTime())) { return; }
      var zone = "";
      try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
      el.textContent = at.getFullYear() + "-" + pad(at.getMonth() + 1) + "-" + pad(at.getDate()) +
        " " + pad(at.getHours()) + ":" + pad(at.getMinutes()) + ":" + pad(at.getSeconds()) +
        (zone ? " " + zone : "");
      el.dataset.local = "1";
    });
  }
  // Forms that change something ask first when they say so (data-confirm="question").
  function confirmSubmit(event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); event.stopPropagation(); }
  }
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); });
  document.addEventListener("htmx:afterSettle", function (event) { localTimes(event.target); });
  document.addEventListener("submit", confirmSubmit, true);
})();

// The job graph follows a run without a new drawing: every 3 s it asks for the drawn jobs'
// statuses and recolours and relabels the boxes that changed (the viewer keeps their place).
(function () {
  var EVERY_MS = 3000;
  function follow(graph) {
    var url = graph.getAttribute("data-statuses");
    var colours = JSON.parse(graph.getAttribute("data-colours") || "{}");
    function show(found) {
      Object.keys(found.statuses).forEach(function (id) {
        var node = document.getElementById("node-" + id);
        var status = found.statuses[id];
        if (!node || node.getAttribute("data-status") === status) { return; }
        node.setAttribute("data-status", status);
        var label = node.querySelector("text.node-status");
        if (label) { label.textContent = status; }
        var title = node.querySelector("title");
        if (title) { title.textContent = title.textContent.replace(/: [^:]*$/, ": " + status); }
        var box = node.querySelector("rect");
        var colour = colours[status];
        if (box && colour) { box.setAttribute("fill", colour[0]); box.setAttribute("stroke", colour[1]); }
      });
      document.getElementById("graph-done").textContent = found.done;
      document.getElementById("graph-total").textContent = found.total;
    }
    function ask() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (answer) {
          if (!answer.ok) { throw new Error("graph statuses: " + answer.status); }
          return answer.json();
        })
        .then(function (found) {
          show(found);
          if (found.complete) {
            graph.setAttribute("data-complete", "true");
            var live = document.getElementById("graph-live");
            if (live) { live.remove(); }
          } else {
            window.setTimeout(ask, EVERY_MS);
          }
        })
        .catch(function () { /* signed out or gone: the Refresh link still works */ });
    }
    window.setTimeout(ask, EVERY_MS);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var graph = document.querySelector("#graph[data-statuses]");
    if (graph) { follow(graph); }
  });
})();
