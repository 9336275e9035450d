import {
  h
} from "./chunk-HKOKOT5A.js";

// forms.js
function field(formId, o) {
  const id = `${formId}-${o.name}`;
  const attrs = {
    id,
    name: o.name,
    class: "input",
    required: o.required,
    placeholder: o.placeholder,
    autocomplete: o.autocomplete || "off",
    autocapitalize: o.autocapitalize || "off",
    spellcheck: o.spellcheck ? "true" : "false",
    inputmode: o.inputmode,
    "aria-describedby": `${id}-error${o.hint ? ` ${id}-hint` : ""}`,
    testid: `input-${formId}-${o.name}`,
    value: o.value
  };
  const input = o.textarea ? h("textarea", { ...attrs, rows: o.rows || 3 }) : h("input", { ...attrs, type: o.type || "text", list: o.list });
  return h(
    "div",
    { class: "field" + (o.wide ? " field-wide" : "") },
    h("label", { for: id, text: o.label + (o.optional ? " (optional)" : "") }),
    input,
    o.hint && h("p", { class: "hint", id: `${id}-hint`, text: o.hint }),
    h("p", { class: "field-error", id: `${id}-error`, "data-error-for": o.name, testid: `error-${formId}-${o.name}`, "aria-live": "polite" })
  );
}
function checkbox(formId, o) {
  const id = `${formId}-${o.name}`;
  return h(
    "div",
    { class: "field field-check" },
    h(
      "label",
      { class: "check", for: id },
      h("input", { type: "checkbox", id, name: o.name, checked: o.checked, testid: `input-${formId}-${o.name}` }),
      h("span", { text: o.label })
    ),
    o.hint && h("p", { class: "hint", text: o.hint }),
    h("p", { class: "field-error", "data-error-for": o.name, testid: `error-${formId}-${o.name}`, "aria-live": "polite" })
  );
}
function messageLine(formId) {
  return h("p", { class: "form-msg", testid: `msg-${formId}`, role: "status", "aria-live": "polite" });
}
function clearMessages(form) {
  for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const msg = form.querySelector(".form-msg");
  if (msg) {
    msg.textContent = "";
    msg.className = "form-msg";
  }
}
function showError(form, error, fieldName) {
  clearMessages(form);
  const slot = fieldName && form.querySelector(`.field-error[data-error-for="${CSS.escape(fieldName)}"]`);
  if (slot) {
    slot.textContent = error;
    const input = form.elements.namedItem(fieldName);
    if (input && input.setAttribute) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
    return;
  }
  const msg = form.querySelector(".form-msg");
  if (msg) {
    msg.textContent = error;
    msg.className = "form-msg is-error";
    msg.setAttribute("role", "alert");
  }
}
function showOk(form, text) {
  clearMessages(form);
  const msg = form.querySelector(".form-msg");
  if (msg) {
    msg.textContent = text;
    msg.className = "form-msg is-ok";
    msg.setAttribute("role", "status");
  }
}
function setBusy(form, busy) {
  form.busy = busy;
  form.setAttribute("aria-busy", busy ? "true" : "false");
  for (const b of form.querySelectorAll("button")) b.disabled = busy;
}
function value(form, name) {
  const el = form.elements.namedItem(name);
  return el ? el.value : "";
}
function clearSecrets(form) {
  for (const el of form.querySelectorAll("input[type=password]")) el.value = "";
}
function onSubmit(form, handler, after) {
  form.noValidate = true;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (form.busy) return;
    setBusy(form, true);
    try {
      await handler(form, e.submitter);
    } finally {
      setBusy(form, false);
      if (after) after();
    }
  });
  return form;
}
function requireFields(form, names) {
  for (const name of names) {
    if (!value(form, name).trim()) {
      const label = form.querySelector(`label[for="${CSS.escape(form.id + "-" + name)}"]`);
      const what = label ? label.textContent.replace(/\s*\(optional\)$/, "") : name;
      showError(form, `${what} is needed.`, name);
      return false;
    }
  }
  return true;
}
function confirmButton({ label, question, yes, testid, danger = true, action }) {
  const box = h("span", { class: "confirm" });
  const start = h("button", { type: "button", class: "btn btn-small" + (danger ? " btn-danger-quiet" : ""), text: label, testid });
  const err = h("span", { class: "inline-error", role: "alert", testid: `error-${testid}` });
  function idle() {
    box.replaceChildren(start, err);
  }
  start.addEventListener("click", () => {
    err.textContent = "";
    const yesBtn = h("button", { type: "button", class: "btn btn-small btn-danger", text: yes, testid: `confirm-${testid}` });
    const noBtn = h("button", { type: "button", class: "btn btn-small btn-quiet", text: "Cancel", testid: `cancel-${testid}` });
    noBtn.addEventListener("click", idle);
    yesBtn.addEventListener("click", async () => {
      yesBtn.disabled = true;
      noBtn.disabled = true;
      const error = await action();
      if (!box.isConnected) return;
      idle();
      if (error) err.textContent = error;
    });
    box.replaceChildren(h("span", { class: "confirm-question", text: question }), yesBtn, noBtn);
    noBtn.focus();
  });
  idle();
  return box;
}

export {
  field,
  checkbox,
  messageLine,
  clearMessages,
  showError,
  showOk,
  value,
  clearSecrets,
  onSubmit,
  requireFields,
  confirmButton
};
