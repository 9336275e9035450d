import {
  checkbox,
  clearMessages,
  clearSecrets,
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
  loadState,
  main,
  pageHead,
  state
} from "./chunk-HKOKOT5A.js";

// users.js
function renderUsers(rest, alive) {
  const list = h("div", { class: "list", testid: "user-list" }, h("p", { class: "loading", text: "Loading…" }));
  let open = null;
  async function load() {
    const r = await api("GET", "/api/users");
    if (!alive()) return;
    if (!r.ok) {
      list.replaceChildren(errorBox(r.error, "users-error"));
      return;
    }
    const users = Array.isArray(r.data) ? r.data : [];
    list.replaceChildren(h(
      "table",
      { class: "table" },
      h("thead", {}, h("tr", {}, h("th", { text: "Name" }), h("th", { text: "Role" }), h("th", { text: "WebDAV" }), h("th", { class: "col-actions" }, h("span", { class: "sr-only", text: "Actions" })))),
      h("tbody", {}, users.map((u) => userRow(u)))
    ));
  }
  function userRow(u) {
    const name = String(u.name);
    const me = state && state.user && state.user.name === name;
    const cell = h("td", { class: "col-actions" });
    const showButton = () => {
      const b = h("button", { type: "button", class: "btn btn-small", text: "Set password", testid: `set-password-${name}` });
      b.addEventListener("click", () => {
        open = name;
        showForm();
      });
      cell.replaceChildren(b);
    };
    const showForm = () => {
      const fid = `pw-${name.replace(/[^a-zA-Z0-9_-]/g, "_")}`;
      const f = h(
        "form",
        { id: fid, class: "inline-form", testid: `form-password-${name}` },
        h("label", { for: `${fid}-password`, class: "sr-only", text: `New password for ${name}` }),
        h("input", { type: "password", id: `${fid}-password`, name: "password", class: "input", autocomplete: "new-password", placeholder: "New password", testid: `input-password-${name}` }),
        h("button", { type: "submit", class: "btn btn-small btn-primary", text: "Save", testid: `save-password-${name}` }),
        h("button", { type: "button", class: "btn btn-small btn-quiet", text: "Cancel", onclick: () => {
          open = null;
          showButton();
        } }),
        h("p", { class: "field-error", "data-error-for": "password", testid: `error-password-${name}` }),
        messageLine(fid)
      );
      onSubmit(f, async () => {
        clearMessages(f);
        const password = value(f, "password");
        if (!password) {
          showError(f, "Type the new password.", "password");
          return;
        }
        const r = await api("PUT", `/api/users/${encodeURIComponent(name)}/password`, { password });
        clearSecrets(f);
        if (!alive()) return;
        if (!r.ok) {
          showError(f, r.error, r.field === "password" ? "password" : null);
          return;
        }
        open = null;
        if (me) await loadState();
        showButton();
        cell.append(h("span", { class: "inline-ok", role: "status", testid: `password-set-${name}`, text: "Password changed." }));
      });
      cell.replaceChildren(f);
      f.elements.namedItem("password").focus();
    };
    if (open === name) showForm();
    else showButton();
    return h(
      "tr",
      { testid: `user-row-${name}` },
      h("td", {}, name, me ? h("span", { class: "muted", text: " (you)" }) : null),
      h("td", {}, u.admin ? h("span", { class: "badge", text: "admin" }) : h("span", { class: "muted", text: "user" })),
      h("td", {}, devicesOnly(name, !!u.devices_only)),
      cell
    );
  }
  function devicesOnly(name, on) {
    const b = h("button", {
      type: "button",
      class: "btn btn-small btn-quiet",
      testid: `devices-only-${name}`,
      text: on ? "Device passwords only" : "Account or device password",
      title: on ? "Allow the account password on WebDAV again" : "Require a device password on WebDAV"
    });
    b.setAttribute("aria-pressed", on ? "true" : "false");
    b.addEventListener("click", async () => {
      b.disabled = true;
      const r = await api("PUT", `/api/users/${encodeURIComponent(name)}/devices-only`, { on: !on });
      if (!alive()) return;
      if (!r.ok) {
        b.disabled = false;
        b.after(errorBox(r.error, `devices-only-error-${name}`));
        return;
      }
      load();
    });
    return b;
  }
  const id = "user";
  const form = h(
    "form",
    { id, class: "form card", testid: "form-user" },
    h(
      "div",
      { class: "grid" },
      field(id, { name: "name", label: "Name", required: true, autocomplete: "off" }),
      field(id, { name: "password", label: "Password", type: "password", required: true, autocomplete: "new-password" }),
      checkbox(id, { name: "admin", label: "Administrator (can change settings and other users)" })
    ),
    messageLine(id),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn btn-primary", text: "Add user", testid: "user-submit" }))
  );
  onSubmit(form, async (f) => {
    clearMessages(f);
    if (!requireFields(f, ["name", "password"])) return;
    const body = { name: value(f, "name").trim(), password: value(f, "password"), admin: f.elements.namedItem("admin").checked };
    const r = await api("POST", "/api/users", body);
    body.password = "";
    clearSecrets(f);
    if (!alive()) return;
    if (!r.ok) {
      showError(f, r.error, r.field);
      return;
    }
    f.reset();
    showOk(f, `Added “${body.name}”. They can sign in here and use WebDAV with that name and password.`);
    load();
  });
  main.append(h(
    "section",
    { testid: "page-users" },
    pageHead("Users"),
    list,
    h("h2", { text: "Add a user" }),
    form
  ));
  load();
}
export {
  renderUsers
};
