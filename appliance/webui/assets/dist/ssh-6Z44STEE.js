import {
  clearMessages,
  confirmButton,
  field,
  messageLine,
  onSubmit,
  requireFields,
  showError,
  showOk,
  value
} from "./chunk-XFF4UI46.js";
import {
  api,
  errorBox,
  h,
  main,
  pageHead
} from "./chunk-HKOKOT5A.js";

// ssh.js
function renderSsh(rest, alive) {
  const list = h("div", { class: "list", testid: "ssh-list" }, h("p", { class: "loading", text: "Loading…" }));
  async function load() {
    const r = await api("GET", "/api/ssh-keys");
    if (!alive()) return;
    if (!r.ok) {
      list.replaceChildren(errorBox(r.error, "ssh-error"));
      return;
    }
    const keys = Array.isArray(r.data) ? r.data : [];
    if (keys.length === 0) {
      list.replaceChildren(h("p", { class: "empty", testid: "ssh-empty", text: "No SSH keys yet." }));
      return;
    }
    list.replaceChildren(h(
      "table",
      { class: "table stack" },
      h("thead", {}, h("tr", {}, h("th", { text: "Type" }), h("th", { text: "Comment" }), h("th", { text: "Fingerprint" }), h("th", { class: "col-actions" }, h("span", { class: "sr-only", text: "Actions" })))),
      h("tbody", {}, keys.map((k) => {
        const kid = String(k.id);
        return h(
          "tr",
          { testid: `ssh-row-${kid}` },
          h("td", { class: "col-type", text: String(k.type ?? "") }),
          h("td", { class: "col-comment wrap", text: String(k.comment ?? "") }),
          h("td", { class: "col-fp mono wrap", testid: `ssh-fingerprint-${kid}`, text: String(k.fingerprint ?? "") }),
          h("td", { class: "col-actions" }, confirmButton({
            label: "Remove",
            question: "Remove this key?",
            yes: "Yes, remove",
            testid: `remove-ssh-${kid}`,
            action: async () => {
              const r2 = await api("DELETE", "/api/ssh-keys/" + encodeURIComponent(kid));
              if (!r2.ok) return r2.error;
              load();
              return null;
            }
          }))
        );
      }))
    ));
  }
  const id = "ssh";
  const form = h(
    "form",
    { id, class: "form card", testid: "form-ssh" },
    field(id, { name: "key", label: "Public key", textarea: true, rows: 4, wide: true, required: true, placeholder: "ssh-ed25519 AAAA… you@laptop", hint: "Paste one line from your ~/.ssh/id_ed25519.pub (never the private key)." }),
    messageLine(id),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn btn-primary", text: "Add key", testid: "ssh-submit" }))
  );
  onSubmit(form, async (f) => {
    clearMessages(f);
    if (!requireFields(f, ["key"])) return;
    const key = value(f, "key").trim();
    if (/PRIVATE KEY/.test(key)) {
      f.elements.namedItem("key").value = "";
      showError(f, "That is a private key: keep it secret. Paste the public key (the .pub file) instead.", "key");
      return;
    }
    const r = await api("POST", "/api/ssh-keys", { key });
    if (!alive()) return;
    if (!r.ok) {
      showError(f, r.error, r.field);
      return;
    }
    f.reset();
    showOk(f, "Key added.");
    load();
  });
  main.append(h(
    "section",
    { testid: "page-ssh" },
    pageHead("SSH keys"),
    h("p", { class: "lead", text: "Keys that may sign in to the box over ssh as the administrator." }),
    list,
    h("h2", { text: "Add a key" }),
    form
  ));
  load();
}
export {
  renderSsh
};
