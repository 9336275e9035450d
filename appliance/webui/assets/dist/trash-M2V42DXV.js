import {
  filesHash,
  parentOf,
  pathOfRest,
  segments,
  trashHash
} from "./chunk-L4SIYSMP.js";
import {
  reportText,
  versionUrl
} from "./chunk-F22VF3A6.js";
import {
  exactTime,
  humanBytes
} from "./chunk-I4NXG573.js";
import {
  api,
  errorBox,
  h,
  main,
  pageHead
} from "./chunk-HKOKOT5A.js";

// trash.js
function renderTrash(rest, alive) {
  const base = pathOfRest(rest);
  const whole = base === "/";
  const msg = h("p", { class: "form-msg", role: "status", "aria-live": "polite", testid: "trash-msg" });
  const list = h("div", { class: "trash", testid: "trash-list" }, h("p", { class: "loading", text: "Loading…" }));
  const back = h("a", { class: "btn btn-small", href: filesHash(base), testid: "trash-back", text: whole ? "Back to my files" : `Back to “${base}”` });
  main.append(h(
    "section",
    { testid: "page-trash" },
    pageHead("Trash", back),
    h("p", { class: "lead", text: whole ? "Files you deleted, most recent first. Restore puts a file back where it was, with the exact content it had; a folder’s Restore brings back everything deleted in it." : `Files deleted in “${base}”.` }),
    whole ? null : h("p", {}, h("a", { href: trashHash("/"), testid: "trash-all", text: "Show everything deleted" })),
    msg,
    list
  ));
  function say(text, kind) {
    msg.textContent = text;
    msg.className = "form-msg" + (kind ? ` is-${kind}` : "");
    msg.setAttribute("role", kind === "error" ? "alert" : "status");
  }
  let busy = false;
  async function restore(path, button, what) {
    if (busy) return;
    busy = true;
    button.disabled = true;
    say("Restoring…", "busy");
    const r = await api("POST", "/api/trash/restore", { path });
    busy = false;
    if (!alive()) return;
    button.disabled = false;
    if (!r.ok) {
      say(r.error, "error");
      return;
    }
    say(`Restored ${what}: ${reportText(r.data && r.data.report)}`, "ok");
    load();
  }
  async function load() {
    const r = await api("GET", "/api/trash?path=" + encodeURIComponent(base));
    if (!alive()) return;
    if (!r.ok) {
      list.replaceChildren(errorBox(r.error, "trash-error"));
      return;
    }
    const entries = Array.isArray(r.data && r.data.entries) ? r.data.entries : [];
    if (entries.length === 0) {
      list.replaceChildren(h("p", { class: "empty", testid: "trash-empty", text: "Nothing deleted here is kept (deleted files are kept as long as versions are)." }));
      return;
    }
    const groups = /* @__PURE__ */ new Map();
    for (const e of entries) {
      const folder = parentOf(String(e.path));
      if (!groups.has(folder)) groups.set(folder, []);
      groups.get(folder).push(e);
    }
    list.replaceChildren(h(
      "div",
      {},
      Array.from(groups, ([folder, items]) => group(folder, items)),
      r.data.truncated ? h("p", { class: "muted", text: `The ${entries.length} most recently deleted of ${r.data.total} files are shown.` }) : null
    ));
  }
  function group(folder, items) {
    const label = folder === "/" ? "Home" : folder;
    const all = h("button", { type: "button", class: "btn btn-small", testid: `trash-restore-folder-${folder}`, text: folder === "/" ? "Restore everything" : "Restore folder", "aria-label": `Restore everything deleted in ${label}` });
    all.addEventListener("click", () => restore(folder, all, `everything deleted in “${label}”`));
    return h(
      "section",
      { class: "trash-group card", testid: `trash-group-${folder}` },
      h(
        "div",
        { class: "card-head" },
        h("h3", { class: "wrap" }, h("span", { class: "icon icon-dir", "aria-hidden": "true" }), " ", label),
        all
      ),
      h("ul", { class: "trash-items" }, items.map(row))
    );
  }
  function row(e) {
    const path = String(e.path);
    const name = String(e.name || segments(path).pop() || "");
    const again = h("button", { type: "button", class: "btn btn-small btn-primary", testid: `trash-restore-${path}`, "aria-label": `Restore ${name}`, text: "Restore" });
    again.addEventListener("click", () => restore(path, again, `“${name}”`));
    return h(
      "li",
      { class: "version", testid: `trash-row-${path}` },
      h(
        "div",
        { class: "version-what" },
        h("span", { class: "entry-name" }, h("span", { class: "icon icon-file", "aria-hidden": "true" }), name),
        h(
          "span",
          { class: "version-facts muted" },
          h("span", { text: `Deleted ${exactTime(e.until)}` }),
          " · ",
          h("span", { text: humanBytes(e.size) }),
          " · ",
          h("span", { text: e.device == null ? "unknown device" : String(e.device) })
        )
      ),
      h(
        "div",
        { class: "row-actions" },
        again,
        h("a", { class: "btn btn-small", href: versionUrl(e.id), download: name, testid: `trash-download-${path}`, "aria-label": `Download ${name}`, text: "Download" })
      )
    );
  }
  load();
  return null;
}
export {
  renderTrash
};
