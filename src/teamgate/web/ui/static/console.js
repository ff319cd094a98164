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
