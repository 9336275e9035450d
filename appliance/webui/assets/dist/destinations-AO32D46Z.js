import {
  checkbox,
  clearMessages,
  clearSecrets,
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

// destinations.js
function renderDestinations(rest, alive) {
  const list = h("div", { class: "list", testid: "destination-list" }, h("p", { class: "loading", text: "Loading…" }));
  async function load() {
    const r = await api("GET", "/api/destinations");
    if (!alive()) return;
    if (!r.ok) {
      list.replaceChildren(errorBox(r.error, "destinations-error"));
      return;
    }
    const dests = Array.isArray(r.data) ? r.data : [];
    if (dests.length === 0) {
      list.replaceChildren(h("p", { class: "empty", testid: "destinations-empty", text: "No destinations yet. Files stay only on this box until you add one below." }));
      return;
    }
    list.replaceChildren(h("div", { class: "cards" }, dests.map((d) => {
      const name = String(d.name);
      const facts = d.kind === "s3" ? [["Kind", "S3-compatible"], ["Endpoint", d.endpoint], ["Region", d.region], ["Bucket", d.bucket], ["Prefix", d.prefix || "–"], ["Addressing", d.path_style ? "path-style" : "virtual-host"]] : [["Kind", "Directory"], ["Path", d.path]];
      return h(
        "article",
        { class: "card", testid: `dest-row-${name}` },
        h("div", { class: "card-head" }, h("h3", { text: name })),
        h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", { text: k }), h("dd", { text: String(v ?? "–") })])),
        h("div", { class: "card-actions" }, confirmButton({
          label: "Remove",
          question: `Remove “${name}”? Copies already there are left as they are.`,
          yes: "Yes, remove",
          testid: `remove-dest-${name}`,
          action: async () => {
            const r2 = await api("DELETE", "/api/destinations/" + encodeURIComponent(name));
            if (!r2.ok) return r2.error;
            load();
            return null;
          }
        }))
      );
    })));
  }
  const id = "dest";
  const kindS3 = h("input", { type: "radio", name: "kind", value: "s3", id: "dest-kind-s3", checked: true, testid: "dest-kind-s3" });
  const kindDir = h("input", { type: "radio", name: "kind", value: "dir", id: "dest-kind-dir", testid: "dest-kind-dir" });
  const s3Fields = h(
    "div",
    { class: "grid", testid: "dest-s3-fields" },
    field(id, { name: "endpoint", label: "Endpoint URL", placeholder: "https://s3.example.com", inputmode: "url", required: true }),
    field(id, { name: "region", label: "Region", value: "us-east-1" }),
    field(id, { name: "bucket", label: "Bucket", required: true }),
    field(id, { name: "prefix", label: "Prefix", optional: true, placeholder: "e.g. microcloud/" }),
    checkbox(id, { name: "path_style", label: "Path-style addressing (most self-hosted servers need this)" }),
    field(id, { name: "access_key_id", label: "Access key ID", required: true }),
    field(id, { name: "secret_access_key", label: "Secret access key", type: "password", autocomplete: "new-password", required: true, hint: "Kept on the box only; never shown again." })
  );
  const dirFields = h(
    "div",
    { class: "grid", testid: "dest-dir-fields", hidden: true },
    field(id, { name: "path", label: "Directory on the box", placeholder: "/mnt/backup/microcloud", required: true, wide: true, hint: "For example a mounted USB disk or network share." })
  );
  const testBtn = h("button", { type: "submit", class: "btn", value: "test", text: "Test", testid: "dest-test" });
  const addBtn = h("button", { type: "submit", class: "btn btn-primary", value: "add", text: "Add", testid: "dest-add" });
  const form = h(
    "form",
    { id, class: "form card", testid: "form-dest" },
    h(
      "fieldset",
      { class: "kind" },
      h("legend", { text: "Kind" }),
      h("label", { class: "check", for: "dest-kind-s3" }, kindS3, h("span", { text: "S3-compatible storage" })),
      h("label", { class: "check", for: "dest-kind-dir" }, kindDir, h("span", { text: "Directory" }))
    ),
    field(id, { name: "name", label: "Name", required: true, placeholder: "e.g. offsite", hint: "A short name for this destination." }),
    s3Fields,
    dirFields,
    messageLine(id),
    h("div", { class: "actions" }, testBtn, addBtn)
  );
  const kind = () => kindDir.checked ? "dir" : "s3";
  const syncKind = () => {
    s3Fields.hidden = kind() !== "s3";
    dirFields.hidden = kind() !== "dir";
    clearMessages(form);
  };
  kindS3.addEventListener("change", syncKind);
  kindDir.addEventListener("change", syncKind);
  onSubmit(form, async (f, submitter) => {
    const action = submitter && submitter.value === "test" ? "test" : "add";
    clearMessages(f);
    const k = kind();
    const need = k === "s3" ? ["name", "endpoint", "bucket", "access_key_id", "secret_access_key"] : ["name", "path"];
    if (!requireFields(f, need)) return;
    const body = {
      name: value(f, "name").trim(),
      kind: k,
      endpoint: k === "s3" ? value(f, "endpoint").trim() : "",
      region: k === "s3" ? value(f, "region").trim() || "us-east-1" : "",
      bucket: k === "s3" ? value(f, "bucket").trim() : "",
      prefix: k === "s3" ? value(f, "prefix").trim() : "",
      path_style: k === "s3" ? f.elements.namedItem("path_style").checked : false,
      access_key_id: k === "s3" ? value(f, "access_key_id").trim() : "",
      secret_access_key: k === "s3" ? value(f, "secret_access_key") : "",
      path: k === "dir" ? value(f, "path").trim() : ""
    };
    const msg = f.querySelector(".form-msg");
    msg.textContent = action === "test" ? "Testing: writing, reading back and deleting a small object…" : "Testing and adding…";
    msg.className = "form-msg is-busy";
    const r = await api("POST", action === "test" ? "/api/destinations/test" : "/api/destinations", body);
    body.secret_access_key = "";
    if (!alive()) return;
    if (action === "add" || !r.ok) clearSecrets(f);
    if (!r.ok) {
      const failed = action === "test" ? "Test failed" : "Not added";
      const slot = r.field && f.querySelector(`.field-error[data-error-for="${CSS.escape(r.field)}"]`);
      if (slot && !slot.closest("[hidden]")) {
        showError(f, r.error, r.field);
        const label = f.querySelector(`label[for="${CSS.escape(`${id}-${r.field}`)}"]`);
        const m = f.querySelector(".form-msg");
        m.textContent = `${failed}: see ${label ? `“${label.textContent.replace(/\s*\(optional\)$/, "")}”` : "above"}.`;
        m.className = "form-msg is-error";
      } else {
        showError(f, `${failed}: ${r.error}`);
      }
      return;
    }
    if (action === "test") {
      showOk(f, `Test passed${r.data && r.data.message ? ": " + r.data.message : "."}`);
    } else {
      const name = body.name;
      f.reset();
      syncKind();
      showOk(f, `Added “${name}”. Files will be copied there from now on.`);
      load();
    }
  });
  main.append(h(
    "section",
    { testid: "page-destinations" },
    pageHead("Destinations"),
    h("p", { class: "lead", text: "Where this box copies your files. Each file is kept here and copied to every destination." }),
    list,
    h("h2", { text: "Add a destination" }),
    form
  ));
  load();
}
export {
  renderDestinations
};
