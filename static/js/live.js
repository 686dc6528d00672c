// Live collaboration (issue 14): one WebSocket per tab to /ws/live/ (live.consumers). It
// reconnects with backoff and catches up after each reconnect (the ticket page says the newest
// comment it shows; the list asks for its rows again; the bell for its count). The ticket page
// shows who else is here and what they do, inserts pushed comments in place, refreshes its
// sidebar, announces typing and keeps a server-side draft of the reply box; the list refreshes
// changed rows, offers "N new tickets" rather than moving rows under the cursor and marks rows
// someone is viewing. Without JavaScript or with the socket down every page works as before.
(function () {
  "use strict";
  const frame = document.querySelector("[data-live-socket]");
  if (!frame || !("WebSocket" in window)) return;
  const me = parseInt(frame.dataset.user, 10);
  const BACKOFF_MS = [1000, 2000, 5000, 10000];
  const HEARTBEAT_MS = 10000;   // the server forgets a presence 25 s after its last heartbeat
  const TYPING_IDLE_MS = 4000;  // "typing" drops back to "viewing" this long after the last key
  const DRAFT_DELAY_MS = 2000;  // a draft is saved this long after the last key
  const ROWS_DELAY_MS = 400;    // list events within this long share one fetch of the rows

  // -- the socket ------------------------------------------------------------------------------
  const pages = [];  // {open(reconnected), message(data)} of whatever this page is
  let socket = null;
  let attempt = 0;
  let opened = false;  // once open, a later open is a reconnect: catch up
  let retry = null;
  let stopped = false; // left for the back/forward cache: no reconnecting until shown again

  function socketUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + location.host + frame.dataset.liveSocket;
  }

  function send(data) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(data));
  }

  function connect() {
    clearTimeout(retry); retry = null;
    frame.dataset.live = "connecting";
    socket = new WebSocket(socketUrl());
    socket.addEventListener("open", () => {
      const reconnected = opened;
      opened = true; attempt = 0;
      frame.dataset.live = "open";
      pages.forEach((p) => p.open(reconnected));
    });
    socket.addEventListener("message", (e) => {
      let data;
      try { data = JSON.parse(e.data); } catch (err) { return; }
      if (!data || typeof data.type !== "string") return;
      pages.forEach((p) => p.message(data));
    });
    socket.addEventListener("close", () => {
      socket = null;
      frame.dataset.live = "closed";
      if (stopped) return;
      const wait = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
      attempt += 1;
      retry = setTimeout(connect, wait);
    });
  }

  // A page left for the back/forward cache closes its socket (the others see this agent go at
  // once) and opens a new one when it is shown again.
  window.addEventListener("pagehide", (e) => {
    if (!e.persisted) return;
    stopped = true; clearTimeout(retry);
    if (socket) socket.close();
  });
  window.addEventListener("pageshow", (e) => {
    if (e.persisted && stopped) { stopped = false; attempt = 0; connect(); }
  });
  window.addEventListener("online", () => { if (!socket) connect(); });

  // -- small helpers -------------------------------------------------------------------------
  function csrfToken() {
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function fragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  }

  // Forms inside HTML rendered once for everyone carry no token of this session: use ours.
  function adopt(element) {
    const token = csrfToken();
    element.querySelectorAll("input[name=csrfmiddlewaretoken]").forEach((f) => { f.value = token; });
    if (window.htmx) window.htmx.process(element);
  }

  function flash(element, name) {
    element.classList.remove(name);
    void element.offsetWidth;  // restart the animation when it flashes again
    element.classList.add(name);
    element.addEventListener("animationend", () => element.classList.remove(name), { once: true });
  }

  function toast(text) {
    const box = document.getElementById("toasts"); if (!box) return;
    const div = document.createElement("div");
    div.className = "toast"; div.setAttribute("role", "status"); div.textContent = text;
    box.appendChild(div);
  }

  function others(people) {
    return (Array.isArray(people) ? people : []).filter((p) => p && p.user !== me);
  }

  function hue(person) {
    return "hsl(" + ((Number(person.user) * 137) % 360) + " 55% 28%)";  // white initials at WCAG AA on every hue
  }

  // The person's colour as the server gives it (the same hue as their avatars elsewhere), no
  // lighter than 30 %: at 36 % some hues (cyan, green) leave white initials under 4.5:1.
  function colour(person) {
    const m = /^hsl\((\d+(?:\.\d+)?) (\d+(?:\.\d+)?)% (\d+(?:\.\d+)?)%\)$/.exec(person.color || "");
    if (!m) return hue(person);
    return "hsl(" + m[1] + " " + m[2] + "% " + Math.min(30, parseFloat(m[3])) + "%)";
  }

  function avatar(person) {
    const span = document.createElement("span");
    span.className = "avatar small";
    span.setAttribute("aria-hidden", "true");
    span.style.setProperty("--avatar", colour(person));
    span.textContent = String(person.initials || "?").slice(0, 3);
    return span;
  }

  const STATE_TEXT = {
    viewing: "viewing",
    typing_reply: "typing a reply…",
    typing_note: "writing an internal note…",
    draft: "has a draft",
  };
  function stateText(person) {
    const text = STATE_TEXT[person.state] || STATE_TEXT.viewing;
    return person.draft && person.state !== "draft" ? text + " · has a draft" : text;
  }

  // -- the ticket page -----------------------------------------------------------------------
  const layout = document.querySelector(".ticket-layout[data-ticket]");
  if (layout) pages.push(ticketPage(layout));

  function ticketPage(layout) {
    const ticket = parseInt(layout.dataset.ticket, 10);
    const bar = document.getElementById("live-presence");
    const announce = document.getElementById("live-announce");
    let after = 0;        // the newest comment id pushed to this page
    let state = "viewing";
    let idle = null;
    let draftTimer = null;
    let savedDraft = null;  // what the server holds, as far as this page knows
    let warnedTooLong = false;
    let presence = "";
    let sidebarBusy = false;
    let sidebarAgain = false;

    function newest() {
      let top = after;
      document.querySelectorAll("#ticket-main li.entry[id^=comment-]").forEach((li) => {
        const id = parseInt(li.id.slice(8), 10);
        if (id > top) top = id;
      });
      return top;
    }

    function setState(next) {
      if (next === state) return;
      state = next; send({ type: "presence", ticket: ticket, state: state });
    }

    setInterval(() => send({ type: "presence", ticket: ticket, state: state }), HEARTBEAT_MS);

    // Others on this ticket: one avatar, name and state each (this agent left out).
    function showPresence(people) {
      const list = others(people);
      const key = JSON.stringify(list.map((p) => [p.user, p.name, p.state, !!p.draft]));
      if (!bar || key === presence) return;
      presence = key;
      bar.textContent = "";
      if (!list.length) return;
      const label = document.createElement("span");
      label.className = "presence-label"; label.textContent = "Also here:";
      const ul = document.createElement("ul");
      ul.className = "presence-people";
      list.forEach((p) => {
        const li = document.createElement("li");
        li.className = "presence-person state-" + (STATE_TEXT[p.state] ? p.state : "viewing");
        li.dataset.user = String(p.user);
        const name = document.createElement("span");
        name.className = "presence-name"; name.textContent = p.name || "An agent";
        const what = document.createElement("span");
        what.className = "presence-state"; what.textContent = stateText(p);
        li.append(avatar(p), name, " ", what);
        ul.appendChild(li);
      });
      bar.append(label, ul);
    }

    // A pushed comment goes where its id puts it (ids grow with time), once.
    function insertComment(data) {
      const id = parseInt(data.comment, 10);
      if (!(id > 0)) return;
      after = Math.max(after, id);
      if (document.getElementById("comment-" + id)) return;
      const list = document.querySelector("#ticket-main ol.conversation");
      if (!list || typeof data.html !== "string") return;
      const entry = fragment(data.html).querySelector("li.entry");
      if (!entry || entry.id !== "comment-" + id) return;
      const later = Array.from(list.querySelectorAll(":scope > li.entry[id^=comment-]"))
        .find((li) => parseInt(li.id.slice(8), 10) > id);
      list.insertBefore(entry, later || null);
      adopt(entry);
      entry.classList.add("live-pushed");
      flash(entry, "live-new");
      if (announce) {
        const author = entry.querySelector("header strong");
        const kind = entry.classList.contains("internal") ? "New internal note" : "New message";
        announce.textContent = kind + (author ? " from " + author.textContent : "") + ".";
      }
    }

    // The sidebar (properties, SLA, timeline) again; not while the agent is editing in it.
    async function refreshSidebar() {
      const sidebar = document.getElementById("ticket-sidebar"); if (!sidebar) return;
      const active = document.activeElement;
      if (active && sidebar.contains(active) && active.matches("input, select, textarea")) {
        sidebar.addEventListener("focusout", () => setTimeout(refreshSidebar, 0), { once: true });
        return;
      }
      if (sidebarBusy) { sidebarAgain = true; return; }
      sidebarBusy = true;
      try {
        const response = await fetch(location.pathname, {
          headers: { "HX-Request": "true", "HX-Target": "ticket-sidebar", "Accept": "text/html" },
          credentials: "same-origin", cache: "no-store",
        });
        if (!response.ok) return;
        // Inert: a whole page's <style> (another response's nonce) is never applied here.
        const current = document.getElementById("ticket-sidebar");
        if (!current) return;
        const html = sidebarHtml(await response.text());
        // htmx's own swap: the content is processed, the swap events fire (sla.js), and the
        // sidebar's out-of-band parts (the title's status chip, the rail's counts) land.
        if (window.htmx) window.htmx.swap(current, html, { swapStyle: "innerHTML" });
        else current.innerHTML = html;
      } catch (err) {
        // Offline for a moment: the next change or the reconnect's catch-up tries again.
      } finally {
        sidebarBusy = false;
        if (sidebarAgain) { sidebarAgain = false; refreshSidebar(); }
      }
    }

    // The sidebar's part of an answer: a whole page (an htmx one also carries the main
    // column's out-of-band copy) gives its own aside. Parsed inert, so a page's <style> with
    // another response's nonce is never applied; without the toasts, which would wipe the
    // confirmation of what this agent just did.
    function sidebarHtml(text) {
      const doc = fragment(text);
      const source = doc.querySelector(".ticket-layout > #ticket-sidebar") || doc;
      source.querySelectorAll("#toasts").forEach((n) => n.remove());
      const holder = document.createElement("div");
      holder.append(...Array.from(source.childNodes));
      return holder.innerHTML;
    }

    // -- typing and the draft --------------------------------------------------------------
    function replyBody() { return document.querySelector("#reply #id_body"); }
    function replyInternal() {
      const box = document.querySelector("#reply #id_internal");
      return !!(box && box.checked);
    }

    function typed() {
      setState(replyInternal() ? "typing_note" : "typing_reply");
      clearTimeout(idle);
      idle = setTimeout(() => setState("viewing"), TYPING_IDLE_MS);
      clearTimeout(draftTimer);
      draftTimer = setTimeout(saveDraft, DRAFT_DELAY_MS);
    }

    async function saveDraft() {
      const url = layout.dataset.draftUrl; const body = replyBody();
      if (!url || !body) return;
      const text = body.value; const internal = replyInternal();
      const key = JSON.stringify([text, internal]);
      if (key === savedDraft || (savedDraft === null && text === "")) return;
      const form = new URLSearchParams({ body: text, internal: internal ? "1" : "" });
      form.set("csrfmiddlewaretoken", csrfToken());
      try {
        const response = await fetch(url, {
          method: "POST", body: form, credentials: "same-origin",
          headers: { "Accept": "application/json", "X-CSRFToken": csrfToken() },
        });
        if (response.ok) { savedDraft = key; warnedTooLong = false; }
        else if (response.status === 400 && !warnedTooLong) {
          warnedTooLong = true;
          toast("This text is too long to keep as a draft; it stays in the box until you send it.");
        }
      } catch (err) {
        // Saved with the next key.
      }
    }

    function savedAt(iso) {
      const when = new Date(iso);
      if (isNaN(when)) return "";
      return " (saved " + when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) + ")";
    }

    async function restoreDraft() {
      const url = layout.dataset.draftUrl; const body = replyBody();
      if (!url || !body || body.value) return;  // text the server rendered wins over a draft
      try {
        const response = await fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" });
        if (response.status !== 200) { savedDraft = JSON.stringify(["", false]); return; }
        const draft = await response.json();
        if (typeof draft.body !== "string" || !draft.body || body.value) return;
        body.value = draft.body;
        savedDraft = JSON.stringify([draft.body, !!draft.internal]);
        const mode = document.querySelector(`#reply [name=mode][value=${draft.internal ? "internal" : "public"}]`);
        if (mode && !mode.checked) { mode.checked = true; mode.dispatchEvent(new Event("change", { bubbles: true })); }
        const note = document.createElement("p");
        note.id = "draft-restored"; note.className = "draft-restored"; note.setAttribute("role", "status");
        note.textContent = (draft.internal ? "Your draft note is back" : "Your draft reply is back") + savedAt(draft.updated_at) + ".";
        body.before(note);
      } catch (err) {
        // No draft then: the box stays empty.
      }
    }

    document.addEventListener("input", (e) => {
      if (!e.target.matches("#reply #id_body")) return;
      typed();
      const note = document.getElementById("draft-restored");
      if (note) note.remove();
    });
    document.addEventListener("change", (e) => {
      if (!e.target.matches("#reply [name=mode]")) return;
      if (state !== "viewing") setState(e.target.value === "internal" ? "typing_note" : "typing_reply");
      const body = replyBody();
      if (body && body.value) { clearTimeout(draftTimer); draftTimer = setTimeout(saveDraft, DRAFT_DELAY_MS); }
    });
    // Sent: the server drops the draft when the comment is added; a save still waiting must not
    // bring it back.
    document.addEventListener("submit", (e) => {
      if (e.target.id !== "reply") return;
      clearTimeout(draftTimer); clearTimeout(idle); setState("viewing");
    }, true);
    document.addEventListener("htmx:beforeRequest", (e) => {
      if (e.target.id === "reply") { clearTimeout(draftTimer); clearTimeout(idle); setState("viewing"); }
    });
    document.addEventListener("htmx:afterSwap", (e) => {
      if (e.target.id !== "ticket-main") return;
      const body = replyBody();
      savedDraft = body && body.value ? null : JSON.stringify(["", false]);
    });

    restoreDraft();

    return {
      open() {
        // The first watch and every reconnect's: the server answers with what came after.
        send({ type: "watch", ticket: ticket, after: newest() });
        send({ type: "presence", ticket: ticket, state: state });
      },
      message(data) {
        if (data.ticket !== ticket) return;
        if (data.type === "comment") insertComment(data);
        else if (data.type === "ticket.changed") {
          refreshSidebar();
          // A long absence: the catch-up came in parts; ask for the next from the newest.
          if (data.more) send({ type: "watch", ticket: ticket, after: newest() });
        }
        else if (data.type === "presence") showPresence(data.people);
      },
    };
  }

  // -- the ticket list -----------------------------------------------------------------------
  const tbody = document.getElementById("ticket-rows");
  if (tbody) pages.push(listPage(tbody));

  function listPage(tbody) {
    const bar = document.getElementById("new-tickets");
    const viewers = new Map();   // ticket number -> people viewing it (others)
    const changed = new Set();   // numbers whose row is to be refreshed
    const created = new Set();   // numbers created since the rows were loaded
    let everything = false;      // refresh every row (after a reconnect)
    let timer = null;
    let busy = false;
    let fresh = null;            // the last rows fetched, for "show them"

    function row(number) { return document.getElementById("ticket-row-" + number); }
    function numbers(root) {
      return Array.from(root.querySelectorAll("tr.ticket-row[data-number]")).map((r) => parseInt(r.dataset.number, 10));
    }

    function queryPresence() {
      const list = numbers(tbody).slice(0, 200);
      if (list.length) send({ type: "presence_query", tickets: list });
    }

    function mark(number) {
      const tr = row(number); if (!tr) return;
      const slot = tr.querySelector(".row-presence"); if (!slot) return;
      const people = (viewers.get(number) || []).filter((p) => p.state !== "draft");
      slot.textContent = "";
      tr.classList.toggle("is-viewed", people.length > 0);
      if (!people.length) { slot.removeAttribute("title"); slot.removeAttribute("aria-label"); slot.removeAttribute("role"); return; }
      const text = people.map((p) => (p.name || "An agent") + " " + stateText(p).replace("…", "")).join(", ");
      slot.setAttribute("role", "img"); slot.setAttribute("aria-label", text); slot.title = text;
      people.slice(0, 3).forEach((p) => slot.appendChild(avatar(p)));
      if (people.some((p) => p.state === "typing_reply" || p.state === "typing_note")) slot.classList.add("typing");
      else slot.classList.remove("typing");
    }

    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(sync, ROWS_DELAY_MS);
    }

    // The list page again, parsed inert: its rows, and the rail's counts (updated at once: a
    // count moving under the cursor disturbs nobody).
    async function fetchRows() {
      const response = await fetch(location.pathname + location.search, {
        headers: { "Accept": "text/html" }, credentials: "same-origin", cache: "no-store",
      });
      if (!response.ok) throw new Error(String(response.status));
      const doc = fragment(await response.text());
      const rows = doc.getElementById("ticket-rows");
      if (!rows) throw new Error("no rows");
      const rail = doc.getElementById("rail"); const shown = document.getElementById("rail");
      if (rail && shown && !shown.contains(document.activeElement)) { shown.replaceWith(rail); adopt(rail); }
      return rows;
    }

    function replaceRow(tr, next) {
      const box = tr.querySelector(".select"); const picked = box && box.checked;
      const cursor = tr.classList.contains("cursor");
      tr.replaceWith(next);
      const nextBox = next.querySelector(".select");
      if (nextBox && picked) nextBox.checked = true;
      if (cursor) next.classList.add("cursor");
      adopt(next);
      mark(parseInt(next.dataset.number, 10));
      flash(next, "live-updated");
    }

    async function sync() {
      if (busy) { schedule(); return; }
      busy = true;
      try {
        const rows = await fetchRows();
        fresh = rows;
        const shown = new Set(numbers(tbody));
        rows.querySelectorAll("tr.ticket-row[data-number]").forEach((next) => {
          const number = parseInt(next.dataset.number, 10);
          const tr = row(number);
          if (tr && (everything || changed.has(number))) replaceRow(tr, next.cloneNode(true));
        });
        changed.clear(); everything = false;
        // Rows that joined this view (new, or changed into it): offered, not slid in.
        const joined = numbers(rows).filter((n) => !shown.has(n));
        if (!shown.size && joined.length) { showRows(); return; }
        offer(joined);
      } catch (err) {
        // The next event or the reconnect's catch-up tries again.
      } finally {
        busy = false;
      }
    }

    function offer(joined) {
      if (!bar) return;
      bar.textContent = "";
      if (!joined.length) return;
      const isNew = joined.filter((n) => created.has(n)).length;
      const updated = joined.length - isNew;
      const parts = [];
      if (isNew) parts.push(isNew + (isNew === 1 ? " new ticket" : " new tickets"));
      if (updated) parts.push(updated + (updated === 1 ? " ticket" : " tickets") + " changed into this view");
      const button = document.createElement("button");
      button.type = "button"; button.className = "new-tickets-button";
      button.textContent = parts.join(", ") + " — show";
      bar.appendChild(button);
    }

    // "Show": the rows as the server has them now, with the selection kept.
    async function showRows() {
      let rows = fresh;
      try { rows = await fetchRows(); } catch (err) { if (!rows) return; }
      const picked = new Set(Array.from(tbody.querySelectorAll(".select:checked")).map((c) => c.value));
      const before = new Set(numbers(tbody));
      tbody.innerHTML = rows.innerHTML;
      adopt(tbody);
      tbody.querySelectorAll(".select").forEach((c) => { if (picked.has(c.value)) c.checked = true; });
      const box = tbody.querySelector(".select");
      if (box) box.dispatchEvent(new Event("change", { bubbles: true }));
      numbers(tbody).forEach((n) => { mark(n); if (!before.has(n)) flash(row(n), "live-updated"); });
      created.clear(); fresh = null;
      if (bar) bar.textContent = "";
      queryPresence();
    }

    if (bar) bar.addEventListener("click", (e) => { if (e.target.closest("button")) showRows(); });

    return {
      open(reconnected) {
        send({ type: "list" });   // this socket is a list page: rows, new tickets, markers
        queryPresence();
        if (reconnected) { everything = true; schedule(); }
      },
      message(data) {
        const number = parseInt(data.ticket, 10);
        if (!(number > 0)) return;
        if (data.type === "ticket.changed") { changed.add(number); schedule(); }
        else if (data.type === "ticket.created") { created.add(number); schedule(); }
        else if (data.type === "presence") { viewers.set(number, others(data.people)); mark(number); }
      },
    };
  }

  // -- the bell ------------------------------------------------------------------------------
  pages.push({
    open(reconnected) {
      // Notices that came while the socket was down: the count once more.
      const bell = document.querySelector(".topbar .bell[hx-get]");
      if (reconnected && bell && window.htmx) {
        window.htmx.ajax("GET", bell.getAttribute("hx-get"), { target: ".topbar .bell .bell-count", swap: "outerHTML" });
      }
    },
    message(data) {
      if (data.type !== "bell") return;
      const count = document.querySelector(".topbar .bell .bell-count"); if (!count) return;
      const unread = Math.max(0, parseInt(data.unread, 10) || 0);
      count.classList.toggle("has-unread", unread > 0);
      count.textContent = unread ? String(unread) : "";
      if (unread) {
        const hint = document.createElement("span");
        hint.className = "visually-hidden"; hint.textContent = " unread";
        count.appendChild(hint);
      }
    },
  });

  connect();
})();
