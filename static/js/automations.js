// The rule editor (Settings -> Automations): add and remove condition and action rows in
// place, and offer a condition row only the operators its field takes. Which inputs a row
// shows is static CSS (app.css, .condition-row, .rule-trigger, .action-row). Without this
// script the page still works: one blank row per group, "Add" buttons that send the form back
// with one row more, and the server names the operators that fit.
(function () {
  "use strict";

  function conditionOps() {
    const form = document.querySelector("form[data-condition-ops]");
    try { return form ? JSON.parse(form.dataset.conditionOps) : null; } catch (e) { return null; }
  }

  function fitOps(row, table) {
    const field = row.querySelector("select.condition-key");
    const op = row.querySelector("select.condition-op");
    if (!field || !op || !table) return;
    const allowed = table.ops[field.value];
    if (!allowed) return; // no field chosen yet: the row is left out, its operators hidden
    Array.from(op.options).forEach((o) => {
      const fits = allowed.includes(o.value);
      o.hidden = !fits; o.disabled = !fits;
    });
    if (!allowed.includes(op.value)) op.value = allowed[0];
  }

  function rowsOf(group) { return Array.from(group.querySelectorAll(":scope > .rows > fieldset")); }

  function renumber(group) {
    const noun = group.dataset.noun || "Row";
    rowsOf(group).forEach((row, i) => {
      const legend = row.querySelector(":scope > legend");
      if (legend) legend.textContent = noun + " " + (i + 1);
    });
    const total = group.querySelector('input[name$="-TOTAL_FORMS"]');
    const most = group.querySelector('input[name$="-MAX_NUM_FORMS"]');
    const add = group.querySelector("[data-add-row]");
    if (add && total && most) add.disabled = parseInt(total.value, 10) >= parseInt(most.value, 10);
  }

  function withRemove(row) {
    if (row.querySelector(":scope > .row-remove")) return;
    const button = document.createElement("button");
    button.type = "button"; button.className = "linklike row-remove"; button.textContent = "Remove";
    const legend = row.querySelector(":scope > legend");
    button.setAttribute("aria-label", "Remove " + (legend ? legend.textContent.trim().toLowerCase() : "this row"));
    row.appendChild(button);
  }

  function addRow(group, table) {
    const total = group.querySelector('input[name$="-TOTAL_FORMS"]');
    const most = group.querySelector('input[name$="-MAX_NUM_FORMS"]');
    const template = group.querySelector(":scope > template");
    if (!total || !template) return;
    const n = parseInt(total.value, 10);
    if (most && n >= parseInt(most.value, 10)) return;
    const holder = document.createElement("div");
    // The template is the server's own empty row; each input's name and id carry its index.
    holder.innerHTML = template.innerHTML.replace(/__prefix__/g, String(n));
    const row = holder.querySelector("fieldset");
    if (!row) return;
    group.querySelector(":scope > .rows").appendChild(row);
    total.value = String(n + 1);
    withRemove(row);
    fitOps(row, table);
    renumber(group);
    const first = row.querySelector("select, input, textarea");
    if (first) first.focus();
  }

  function removeRow(row) {
    // A row that is not posted is left out, like a row whose first choice is empty; the
    // formset's count stays, so the other rows keep their indexes.
    const group = row.closest("[data-rows]");
    const next = group && group.querySelector("[data-add-row]");
    row.remove();
    if (group) renumber(group);
    if (next) next.focus();
  }

  function setUp() {
    const form = document.querySelector("form.rule-form");
    if (!form) return;
    const table = conditionOps();
    form.querySelectorAll("[data-rows]").forEach((group) => {
      rowsOf(group).forEach((row) => { withRemove(row); fitOps(row, table); });
      renumber(group);
    });
    form.addEventListener("click", (e) => {
      const add = e.target.closest("[data-add-row]");
      if (add) { e.preventDefault(); addRow(add.closest("[data-rows]"), table); return; }
      const remove = e.target.closest(".row-remove");
      if (remove) removeRow(remove.closest("fieldset"));
    });
    form.addEventListener("change", (e) => {
      if (e.target.matches("select.condition-key")) fitOps(e.target.closest("fieldset"), table);
    });
  }

  document.addEventListener("DOMContentLoaded", setUp);
})();
