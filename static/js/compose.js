// The reply box's rich text and Forward (issue 10): Preview asks the server to render the
// Markdown (the same function the mail uses); an image pasted or dropped into the reply box
// joins the form's attachments and the text gets `![name](cid:name)`, which the server ties to
// that attachment; a message's Forward opens the forward box for that one message.
(function () {
  "use strict";
  const IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];
  let pasted = 0;

  // -- Preview --------------------------------------------------------------------------------
  function closePreview(button) {
    const preview = document.getElementById("reply-preview");
    const body = document.getElementById("id_body");
    if (preview) { preview.hidden = true; preview.innerHTML = ""; }
    if (body) body.hidden = false;
    if (button) { button.textContent = "Preview"; button.setAttribute("aria-pressed", "false"); }
  }

  function openPreview(button) {
    const preview = document.getElementById("reply-preview");
    const body = document.getElementById("id_body");
    if (!preview || !body || !window.htmx) return;
    window.htmx.ajax("POST", button.dataset.url, {
      target: "#reply-preview", swap: "innerHTML", values: { body: body.value },
    }).then(() => {
      preview.hidden = false; body.hidden = true;
      button.textContent = "Edit"; button.setAttribute("aria-pressed", "true");
    });
  }

  document.addEventListener("click", (e) => {
    const button = e.target.closest && e.target.closest("#preview-toggle");
    if (button) {
      e.preventDefault();
      if (button.getAttribute("aria-pressed") === "true") closePreview(button); else openPreview(button);
    }
  });

  // -- images pasted or dropped into the reply box --------------------------------------------
  function safeName(file) {
    pasted += 1;
    const ext = (file.type.split("/")[1] || "png").replace("jpeg", "jpg");
    const stem = (file.name || "").replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9_-]+/g, "-").slice(0, 40) || "image";
    return `${stem}-${Date.now().toString(36)}-${pasted}.${ext}`;
  }

  function addImages(files, body) {
    const input = body.form && body.form.querySelector("input[type=file][name=attachments]");
    const images = Array.from(files).filter((f) => IMAGE_TYPES.includes(f.type));
    if (!input || !images.length || typeof DataTransfer === "undefined") return false;
    const all = new DataTransfer();
    Array.from(input.files).forEach((f) => all.items.add(f));
    const refs = images.map((file) => {
      const named = new File([file], safeName(file), { type: file.type });
      all.items.add(named);
      return `![${named.name}](cid:${named.name})`;
    });
    input.files = all.files;
    const at = body.selectionStart ?? body.value.length;
    const text = refs.join("\n");
    body.value = body.value.slice(0, at) + text + body.value.slice(body.selectionEnd ?? at);
    body.selectionStart = body.selectionEnd = at + text.length;
    return true;
  }

  document.addEventListener("paste", (e) => {
    if (e.target.id !== "id_body" || !e.clipboardData) return;
    if (addImages(e.clipboardData.files, e.target)) e.preventDefault();
  });
  document.addEventListener("dragover", (e) => {
    if (e.target.id === "id_body" && e.dataTransfer && Array.from(e.dataTransfer.types).includes("Files")) e.preventDefault();
  });
  document.addEventListener("drop", (e) => {
    if (e.target.id !== "id_body" || !e.dataTransfer) return;
    if (addImages(e.dataTransfer.files, e.target)) e.preventDefault();
  });

  // -- Forward one message, or the conversation -------------------------------------------------
  function forwardOne(comment, what) {
    const box = document.getElementById("forward-box"); if (!box) return;
    document.getElementById("forward-comment").value = comment;
    const label = document.getElementById("forward-what");
    label.textContent = what || label.dataset.all;
    document.getElementById("forward-all").hidden = !comment;
    box.open = true; box.scrollIntoView({ block: "nearest" });
    document.getElementById("forward-to").focus();
  }

  document.addEventListener("click", (e) => {
    const one = e.target.closest && e.target.closest(".forward-message");
    if (one) { e.preventDefault(); forwardOne(one.dataset.comment, one.dataset.what); return; }
    if (e.target.id === "forward-all") { e.preventDefault(); forwardOne("", ""); }
  });
})();
