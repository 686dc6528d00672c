// The top bar's search as you type (search app): htmx fills #search-dropdown from
// /agent/search/ (200 ms after the last key); this opens and closes it, and lets the arrow
// keys move through its links (Escape closes it, Enter on a link opens it). `/` focusing the
// box lives in app.js with the other shortcuts.
(function () {
  "use strict";
  const form = document.querySelector("form[data-search]");
  if (!form) return;
  const input = form.querySelector("#top-search");
  const box = form.querySelector("#search-dropdown");

  function links() { return Array.from(box.querySelectorAll("a")); }
  function setOpen(open) {
    box.classList.toggle("open", open);
    input.setAttribute("aria-expanded", open ? "true" : "false");
  }

  document.body.addEventListener("htmx:afterSwap", function (e) {
    if (e.target === box) setOpen(input.value.trim() !== "" && box.textContent.trim() !== "");
  });
  input.addEventListener("input", function () { if (!input.value.trim()) { box.innerHTML = ""; setOpen(false); } });
  form.addEventListener("keydown", function (e) {
    const all = links();
    const at = all.indexOf(document.activeElement);
    // Escape closes an open dropdown and keeps the words (Chrome's search box would clear
    // them); with the dropdown closed it clears the box as usual.
    if (e.key === "Escape") {
      if (box.classList.contains("open")) { e.preventDefault(); setOpen(false); input.focus(); }
      return;
    }
    if (!box.classList.contains("open") || !all.length) return;
    if (e.key === "ArrowDown") { e.preventDefault(); (all[at + 1] || all[0]).focus(); }
    if (e.key === "ArrowUp") { e.preventDefault(); if (at <= 0) input.focus(); else all[at - 1].focus(); }
  });
  document.addEventListener("click", function (e) { if (!form.contains(e.target)) setOpen(false); });
  input.addEventListener("focus", function () { if (box.textContent.trim() && input.value.trim()) setOpen(true); });
})();
