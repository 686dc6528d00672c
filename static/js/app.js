// Small behaviours that earn their place: keyboard use of the list, the reply box mode,
// canned responses, bulk selection, toasts after htmx swaps.
(function () {
  "use strict";
  const typing = (e) => /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName) || e.target.isContentEditable;

  function rows() { return Array.from(document.querySelectorAll(".ticket-row")); }
  function move(delta) {
    const list = rows(); if (!list.length) return;
    let i = list.findIndex((r) => r.classList.contains("cursor"));
    if (i >= 0) list[i].classList.remove("cursor");
    i = Math.max(0, Math.min(list.length - 1, i + delta));
    list[i].classList.add("cursor"); list[i].scrollIntoView({ block: "nearest" });
  }
  function cursorRow() { return document.querySelector(".ticket-row.cursor"); }

  function syncBulk() {
    const form = document.getElementById("bulk"); if (!form) return;
    const picked = Array.from(document.querySelectorAll(".ticket-row .select:checked")).map((c) => c.value);
    form.hidden = picked.length === 0;
    form.querySelector("[name=tickets]").value = picked.join(",");
    form.querySelector(".bulk-count").textContent = picked.length + " selected";
  }

  function setMode(internal) {
    const form = document.getElementById("reply"); if (!form) return;
    form.classList.toggle("internal", internal); form.classList.toggle("public", !internal);
    form.querySelector("#id_internal").checked = internal;
    form.querySelector(`[name=mode][value=${internal ? "internal" : "public"}]`).checked = true;
    form.querySelector("#send").textContent = internal ? "Add note" : "Send";
  }

  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter" && e.target.id === "id_body") {
      e.preventDefault(); document.getElementById("send").click(); return;
    }
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "/") { e.preventDefault(); document.getElementById("top-search")?.focus(); }
    if (e.key === "j") move(1);
    if (e.key === "k") move(-1);
    if ((e.key === "o" || e.key === "Enter") && cursorRow()) location.href = cursorRow().dataset.href;
    if (e.key === "x" && cursorRow()) { const c = cursorRow().querySelector(".select"); c.checked = !c.checked; syncBulk(); }
    if (e.key === "r" || e.key === "n") {
      const body = document.getElementById("id_body");
      if (body) { e.preventDefault(); setMode(e.key === "n"); body.focus(); }
    }
  });

  // No inline handlers (the Content-Security-Policy allows none): <select data-autosubmit>
  // submits its form on change, <form data-confirm="..."> asks before it submits.
  document.addEventListener("submit", (e) => {
    const message = e.target.dataset && e.target.dataset.confirm;
    if (!message) return;
    if (!window.confirm(message)) { e.preventDefault(); return; }
    // Asked here, so the server need not ask again (tenants/confirm.py: without JavaScript it does).
    if (!e.target.querySelector("input[name=confirm]")) {
      const field = document.createElement("input");
      field.type = "hidden"; field.name = "confirm"; field.value = "1";
      e.target.appendChild(field);
    }
  }, true);

  document.addEventListener("change", (e) => {
    if (e.target.matches("select[data-autosubmit]")) e.target.form.submit();
    if (e.target.matches(".ticket-row .select")) syncBulk();
    if (e.target.matches("#reply [name=mode]")) setMode(e.target.value === "internal");
    if (e.target.id === "canned-pick") insertCanned(e.target);
  });

  async function insertCanned(input) {
    const option = Array.from(document.querySelectorAll("#canned-list option")).find((o) => o.value === input.value);
    if (!option) return;
    const url = input.dataset.url.replace(/\/0\/$/, "/" + option.dataset.pk + "/");
    const response = await fetch(url, { headers: { "Accept": "application/json" } });
    if (!response.ok) return;
    const data = await response.json();
    const body = document.getElementById("id_body");
    body.value = (body.value ? body.value + "\n\n" : "") + data.body;
    input.value = ""; body.focus();
  }

  document.addEventListener("htmx:afterSwap", () => {
    const form = document.getElementById("reply");
    if (form) setMode(form.querySelector("#id_internal").checked);
  });
  document.addEventListener("htmx:responseError", (e) => {
    const box = document.getElementById("toasts");
    const div = document.createElement("div");
    div.className = "toast toast-error"; div.setAttribute("role", "alert");
    div.textContent = "That did not work (" + e.detail.xhr.status + "). Reload the page and try again.";
    box.appendChild(div);
  });
})();

// == Ticket list and frame (issue 10: bulk select-all, whole-row links, "?" shortcuts) ==========
(function () {
  "use strict";
  const typing = (e) => /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName) || e.target.isContentEditable;
  const boxes = () => Array.from(document.querySelectorAll(".ticket-row .select"));

  function matching(on) {
    const form = document.getElementById("bulk"); if (!form) return;
    form.querySelector("[name=all_matching]").value = on ? "1" : "";
    const more = document.getElementById("select-matching");
    if (on) form.querySelector(".bulk-count").textContent = "Every ticket matching these filters selected";
    if (more) more.hidden = on || !boxes().every((c) => c.checked);
  }

  document.addEventListener("change", (e) => {
    if (e.target.id === "select-all") {
      const list = boxes(); list.forEach((c) => { c.checked = e.target.checked; });
      // The shared handler above updates the bar when a row's box changes.
      if (list.length) list[0].dispatchEvent(new Event("change", { bubbles: true }));
      matching(false);
    } else if (e.target.matches(".ticket-row .select")) {
      const all = document.getElementById("select-all");
      if (all) { const list = boxes(); all.checked = list.length > 0 && list.every((c) => c.checked); }
      matching(false);
    }
  });

  document.addEventListener("click", (e) => {
    if (e.target.id === "select-matching") { matching(true); return; }
    // The whole row opens the ticket; its checkbox, links and a text selection keep their own job.
    const row = e.target.closest(".ticket-row");
    if (!row || e.target.closest("a, input, label, button, .sel")) return;
    if (window.getSelection && String(window.getSelection()).length) return;
    if (e.ctrlKey || e.metaKey || e.button === 1) window.open(row.dataset.href, "_blank");
    else location.href = row.dataset.href;
  });

  document.addEventListener("keydown", (e) => {
    if (e.key !== "?" || typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    const dialog = document.getElementById("shortcuts");
    if (dialog && !dialog.open) { e.preventDefault(); dialog.showModal(); }
  });
})();
// == end of ticket list and frame ==============================================================

// == Remote images (issue 10: a message shown with its images is a frame; size it to fit) =======
(function () {
  "use strict";
  // The frame is same-origin and runs no script (sandboxed): its height is read from here.
  function fit(frame) {
    const doc = frame.contentDocument;
    if (!doc || !doc.documentElement) return;
    frame.style.height = "0px"; // a document is at least as tall as its frame: measure from zero
    frame.style.height = doc.documentElement.scrollHeight + "px";
  }
  // `load` does not bubble; a capturing listener sees every frame's, swapped in or not.
  document.addEventListener("load", (e) => {
    if (e.target instanceof HTMLIFrameElement && e.target.classList.contains("mail-frame")) fit(e.target);
  }, true);
  document.querySelectorAll("iframe.mail-frame").forEach((frame) => {
    if (frame.contentDocument && frame.contentDocument.readyState === "complete") fit(frame);
  });
})();

// The ticket list no longer polls for its rows: static/js/live.js refreshes a changed row and
// offers new tickets as they are pushed (issue 14).

// == Saved views and the rail (issue 15: list columns, counts refreshed from the rail fragment) ==
(function () {
  "use strict";
  // A column's checkbox applies the filters form at once, as the selects do.
  document.addEventListener("change", (e) => {
    if (e.target.matches("input[type=checkbox][data-autosubmit]")) e.target.form.submit();
  });

  // The rail's counts again from /agent/tickets/rail/ (the fragment), keeping what the page
  // highlights: each count is matched by its link's data-rail key. Pages ask with a
  // `rail:refresh` event; a tab coming back after a while refreshes by itself.
  let last = Date.now();
  async function refresh() {
    const rail = document.getElementById("rail"); if (!rail || !rail.dataset.railUrl) return;
    last = Date.now();
    try {
      const response = await fetch(rail.dataset.railUrl, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) return;
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      doc.querySelectorAll("[data-rail] .count").forEach((fresh) => {
        const key = fresh.parentElement.dataset.rail;
        const shown = rail.querySelector(`[data-rail="${CSS.escape(key)}"] .count`);
        if (shown && shown.textContent !== fresh.textContent) {
          shown.textContent = fresh.textContent;
          if (fresh.title) shown.title = fresh.title; else shown.removeAttribute("title");
        }
      });
    } catch (err) {
      // The next refresh tries again.
    }
  }
  document.addEventListener("rail:refresh", refresh);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && Date.now() - last > 60000) refresh();
  });
})();
// == end of saved views and the rail ============================================================
