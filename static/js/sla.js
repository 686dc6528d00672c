// SLA timers (sla app): show due times in the agent's own time zone (the browser's). The
// server renders them in the tenant's zone; after load and after every htmx swap,
// <time data-local-time datetime="..."> is rewritten with the zone's name in its title.
(function () {
  "use strict";
  const format = new Intl.DateTimeFormat(undefined, {
    weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZoneName: "short",
  });
  function localise(root) {
    root.querySelectorAll("time[data-local-time]").forEach((el) => {
      const when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      el.title = el.textContent.trim() + " (tenant time)";
      el.textContent = format.format(when);
      el.removeAttribute("data-local-time");
    });
  }
  document.addEventListener("DOMContentLoaded", () => localise(document));
  document.addEventListener("htmx:afterSettle", (e) => localise(e.target));
})();
