import {
  homeRoute,
  onChrome,
  redirect,
  setPages,
  show,
  stopView
} from "./chunk-U2UVTWFW.js";
import {
  baseName,
  cleanFolder,
  davUrl,
  filesHash,
  joinPath,
  nameProblem,
  parentOf,
  pathOfRest,
  segments,
  trashHash
} from "./chunk-L4SIYSMP.js";
import {
  folderRollback,
  openVersions
} from "./chunk-F22VF3A6.js";
import {
  exactTime,
  groupedNumber,
  humanBytes,
  humanTime
} from "./chunk-I4NXG573.js";
import {
  clearMessages,
  clearSecrets,
  field,
  messageLine,
  onSubmit,
  requireFields,
  showError,
  value
} from "./chunk-XFF4UI46.js";
import {
  OFFLINE,
  api,
  clearLostReason,
  errorBox,
  h,
  loadState,
  lostReason,
  main,
  onSessionLost,
  pageHead,
  pageScrolled,
  say,
  sessionLost,
  state,
  statusLine
} from "./chunk-HKOKOT5A.js";

// signin.js
function takeCarriedCode() {
  const m = location.hash.match(/^#setup=([A-Za-z0-9-]{4,32})$/);
  if (!m) return null;
  history.replaceState(null, "", location.pathname + "#/setup");
  return m[1];
}
var carriedCode = takeCarriedCode();
window.addEventListener("hashchange", () => {
  const code = takeCarriedCode();
  if (!code) return;
  carriedCode = code;
  const input = document.querySelector('#setup [name="code"]');
  if (input) input.value = code;
});
function renderSetup() {
  const id = "setup";
  const form = h(
    "form",
    { id, class: "form card", testid: "form-setup", autocomplete: "off" },
    field(id, { name: "code", label: "Setup code", required: true, autocomplete: "one-time-code", hint: "Upper or lower case, with or without the dashes." }),
    field(id, { name: "name", label: "Administrator name", required: true, autocomplete: "username", placeholder: "e.g. ann" }),
    field(id, { name: "password", label: "Password", type: "password", required: true, autocomplete: "new-password" }),
    field(id, { name: "password2", label: "Password again", type: "password", required: true, autocomplete: "new-password" }),
    field(id, { name: "ssh_key", label: "SSH public key", optional: true, textarea: true, rows: 3, wide: true, placeholder: "ssh-ed25519 AAAA… you@laptop", hint: "Lets you sign in over ssh with your key. You can add keys later too." }),
    messageLine(id),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn btn-primary", text: "Finish setup", testid: "setup-submit" }))
  );
  onSubmit(form, async () => {
    clearMessages(form);
    if (!requireFields(form, ["code", "name", "password", "password2"])) {
      clearSecrets(form);
      return;
    }
    if (value(form, "password") !== value(form, "password2")) {
      clearSecrets(form);
      showError(form, "The two passwords differ. Type them again.", "password2");
      return;
    }
    const body = { code: value(form, "code").trim(), name: value(form, "name").trim(), password: value(form, "password"), ssh_key: value(form, "ssh_key").trim() };
    const r = await api("POST", "/api/onboarding", body, { quiet401: true });
    body.password = "";
    clearSecrets(form);
    if (!r.ok) {
      if (r.status === 403) {
        await loadState();
        if (state && !state.onboarding) {
          showError(form, r.error);
          setTimeout(() => show(), 1500);
          return;
        }
      }
      showError(form, r.error, r.field);
      return;
    }
    form.reset();
    await loadState();
    redirect(homeRoute());
  });
  main.append(h(
    "section",
    { class: "narrow", testid: "page-setup" },
    h("h1", { text: "Set up your microcloud" }),
    h("p", { class: "lead", text: "Make the first administrator of this box. The setup code proves you are at the box: it is shown" }),
    h(
      "ul",
      { class: "where", testid: "setup-code-where" },
      h("li", { text: "on the box’s own console (a screen plugged into it)," }),
      h("li", {}, "in the system journal (", h("code", { text: "journalctl -u microcloud-gateway" }), "),"),
      h("li", {}, "by running ", h("code", { text: "microcloud setup-code" }), " in an ssh shell on the box,"),
      h("li", {}, "or in the terminal running ", h("code", { text: "microcloud gateway" }), ".")
    ),
    form,
    fingerprint()
  ));
  if (carriedCode) {
    form.elements.namedItem("code").value = carriedCode;
    form.elements.namedItem("name").focus();
  } else {
    form.elements.namedItem("code").focus();
  }
}
function renderSignin() {
  const id = "signin";
  const form = h(
    "form",
    { id, class: "form card", testid: "form-signin" },
    field(id, { name: "name", label: "Name", required: true, autocomplete: "username" }),
    field(id, { name: "password", label: "Password", type: "password", required: true, autocomplete: "off" }),
    messageLine(id),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn btn-primary", text: "Sign in", testid: "signin-submit" }))
  );
  onSubmit(form, async () => {
    clearMessages(form);
    if (!requireFields(form, ["name", "password"])) return;
    const body = { name: value(form, "name").trim(), password: value(form, "password") };
    const r = await api("POST", "/api/session", body, { quiet401: true });
    body.password = "";
    clearSecrets(form);
    if (!r.ok) {
      showError(form, r.status === 401 && !(r.data && r.data.error) ? "Wrong name or password." : r.error, r.field);
      return;
    }
    await loadState();
    if (!state || !state.user) {
      showError(form, "Signed in, but the box did not keep the session. Are cookies allowed for this page?");
      return;
    }
    redirect(homeRoute());
  });
  const reason = lostReason;
  clearLostReason();
  main.append(h(
    "section",
    { class: "narrow", testid: "page-signin" },
    reason ? errorBox(reason, "signed-out-reason") : null,
    h("h1", { text: "Sign in" }),
    h("p", { class: "lead", text: `Sign in to ${state && state.hostname ? state.hostname : "your microcloud"}.` }),
    form,
    fingerprint()
  ));
  form.elements.namedItem("name").focus();
}
function fingerprint() {
  if (!state || !state.ca_fingerprint) return null;
  return h(
    "p",
    { class: "muted small", testid: "ca-fingerprint" },
    "This box’s certificate authority (SHA-256): ",
    h("span", { class: "mono", text: String(state.ca_fingerprint) })
  );
}

// filelist.js
var PAGE = 200;
var MARGIN = 15;
var POLL_MS = 2500;
var SORTS = { name: "asc", size: "desc", modified: "desc" };
var SORT_KEY = "microcloud.files.sort";
function savedSort() {
  try {
    const [sort, order] = String(localStorage.getItem(SORT_KEY) || "").split(" ");
    if (sort in SORTS && (order === "asc" || order === "desc")) return { sort, order };
  } catch (e) {
  }
  return { sort: "name", order: "asc" };
}
function fileList(opts) {
  const { path, alive } = opts;
  let { sort, order } = savedSort();
  let q = "";
  let key2 = "";
  let total = null;
  let pages = /* @__PURE__ */ new Map();
  let stale = /* @__PURE__ */ new Map();
  const asking = /* @__PURE__ */ new Set();
  let rowH = 0;
  let shown = [];
  let frame = 0;
  let timer2 = null;
  let failed = null;
  const topSpacer = h("tr", { class: "spacer", "aria-hidden": "true" }, h("td", { colspan: 6 }));
  const bottomSpacer = h("tr", { class: "spacer", "aria-hidden": "true" }, h("td", { colspan: 6 }));
  const tbody = h("tbody", {}, topSpacer, bottomSpacer);
  const selectAll = h("input", { type: "checkbox", class: "row-check", testid: "select-all", "aria-label": "Select everything in this folder" });
  const sortButtons = {};
  const header = (label2, s, cls) => {
    const b = h("button", { type: "button", class: "sort", testid: `sort-${s}` }, label2, h("span", { class: "sort-mark", "aria-hidden": "true" }));
    b.addEventListener("click", () => {
      if (sort === s) order = order === "asc" ? "desc" : "asc";
      else {
        sort = s;
        order = SORTS[s];
      }
      try {
        localStorage.setItem(SORT_KEY, `${sort} ${order}`);
      } catch (e) {
      }
      restart();
    });
    const th = h("th", { scope: "col", class: cls }, b);
    sortButtons[s] = th;
    return th;
  };
  const table = h(
    "table",
    { class: "files vlist" },
    h(
      "colgroup",
      {},
      h("col", { class: "c-check" }),
      h("col", { class: "c-name" }),
      h("col", { class: "c-size" }),
      h("col", { class: "c-modified" }),
      h("col", { class: "c-dur" }),
      h("col", { class: "c-actions" })
    ),
    h("thead", {}, h(
      "tr",
      {},
      h("th", { scope: "col", class: "col-check" }, selectAll),
      header("Name", "name", "col-name"),
      header("Size", "size", "num"),
      header("Modified", "modified", "col-modified"),
      h("th", { scope: "col", class: "col-dur", text: "Kept" }),
      h("th", { scope: "col", class: "col-actions" }, h("span", { class: "sr-only", text: "Actions" }))
    )),
    tbody
  );
  const el = h("div", { class: "listing", testid: "file-list" }, h("p", { class: "loading", text: "Loading…" }));
  function keyOf() {
    return `${sort}
${order}
${q}`;
  }
  function markSort() {
    for (const [s, th] of Object.entries(sortButtons)) {
      th.setAttribute("aria-sort", s === sort ? order === "asc" ? "ascending" : "descending" : "none");
      th.querySelector(".sort-mark").textContent = s === sort ? order === "asc" ? " ▲" : " ▼" : "";
    }
  }
  function restart() {
    key2 = keyOf();
    markSort();
    stale = new Map([...stale, ...pages]);
    pages = /* @__PURE__ */ new Map();
    asking.clear();
    ask(0, true).then(() => {
      if (key2 !== keyOf()) return;
      stale = /* @__PURE__ */ new Map();
      const top = el.getBoundingClientRect().top + window.scrollY;
      if (window.scrollY > top) window.scrollTo(0, Math.max(0, top - 60));
      layout();
    });
  }
  async function ask(n, fresh) {
    if (!fresh && (pages.has(n) || asking.has(n))) return;
    const k = key2;
    asking.add(n);
    const params = new URLSearchParams({ path, offset: String(n * PAGE), limit: String(PAGE), sort, order });
    if (q) params.set("q", q);
    const r = await api("GET", "/api/files?" + params.toString());
    if (k === key2) asking.delete(n);
    if (!alive() || k !== key2) return;
    if (!r.ok) {
      if (r.status === 401) return;
      if (shown.length && (r.status === 0 || r.status >= 500)) return;
      failed = r.status === 404 ? "This folder does not exist (any more)." : r.error;
      draw();
      return;
    }
    failed = null;
    const d = r.data || {};
    if (opts.onAnswer) opts.onAnswer(d);
    const entries = (Array.isArray(d.entries) ? d.entries : []).map((e) => ({ ...e, sig: JSON.stringify(e) }));
    if (typeof d.total !== "number") {
      pages = /* @__PURE__ */ new Map();
      for (let i = 0; i * PAGE < entries.length; i++) pages.set(i, entries.slice(i * PAGE, (i + 1) * PAGE));
      setTotal(entries.length);
    } else {
      if (total !== null && d.total !== total && stale.size === 0) {
        stale = new Map([...pages]);
        pages = /* @__PURE__ */ new Map();
      }
      pages.set(n, entries);
      setTotal(d.total);
    }
    if (shown.length === 0) draw();
    else schedule2();
  }
  function setTotal(t) {
    total = t;
    el.setAttribute("data-total", String(t));
    if (opts.onTotal) opts.onTotal(t, q);
  }
  function entryAt(i) {
    const n = Math.floor(i / PAGE);
    const p = pages.get(n) || stale.get(n);
    return p ? p[i - n * PAGE] : void 0;
  }
  function schedule2() {
    if (!frame) frame = requestAnimationFrame(() => {
      frame = 0;
      draw();
    });
  }
  function clearRows() {
    for (const s of shown) s.tr.remove();
    shown = [];
  }
  function draw() {
    if (!alive()) return;
    if (failed) {
      clearRows();
      el.replaceChildren(errorBox(failed, "files-error"), h("a", { href: filesHash("/"), text: "Back to Home" }));
      return;
    }
    if (total === null) return;
    if (total === 0) {
      clearRows();
      const says = el.firstElementChild && el.firstElementChild.getAttribute("data-said");
      if (says === `empty
${q}`) return;
      el.replaceChildren(q ? h("p", { class: "empty", testid: "files-no-match", text: `No name in this folder contains “${q}”.` }) : h("p", { class: "empty", testid: "files-empty", text: "This folder is empty. Upload files with the button above or drop them here." }));
      el.firstElementChild.setAttribute("data-said", `empty
${q}`);
      return;
    }
    if (table.parentNode !== el) el.replaceChildren(table);
    layout();
  }
  function rowHeight() {
    if (!rowH) rowH = parseFloat(getComputedStyle(table).getPropertyValue("--row-h")) || 52;
    return rowH;
  }
  function layout() {
    if (!alive() || total === null || total === 0 || table.parentNode !== el) return;
    const rh = rowHeight();
    const y0 = shown.length === 0 && !pageScrolled() ? 0 : topSpacer.getBoundingClientRect().top;
    const view = window.innerHeight;
    const margin = shown.length === 0 ? 0 : MARGIN;
    let first = Math.max(0, Math.floor(-y0 / rh) - margin);
    let last = Math.min(total - 1, Math.ceil((view - y0) / rh) + margin);
    if (last < first) {
      first = Math.min(first, total - 1);
      last = Math.min(total - 1, first + MARGIN);
    }
    for (let n = Math.floor(first / PAGE); n <= Math.floor(last / PAGE); n++) {
      if (!pages.has(n)) ask(n, false);
    }
    const firstDraw = shown.length === 0;
    place(first, last);
    if (firstDraw && shown.length) requestAnimationFrame(() => schedule2());
    topSpacer.style.height = `${first * rh}px`;
    bottomSpacer.style.height = `${(total - 1 - last) * rh}px`;
    const probe = shown.find((s) => s.tr.classList.contains("row"));
    if (probe && probe.tr !== measured) {
      if (measured) sizer.unobserve(measured);
      measured = probe.tr;
      sizer.observe(measured);
    }
  }
  let measured = null;
  const sizer = new ResizeObserver((seen2) => {
    if (!alive()) {
      sizer.disconnect();
      return;
    }
    for (const e of seen2) {
      const real = e.target.getBoundingClientRect().height;
      if (real > 0 && Math.abs(real - rowHeight()) > 0.5) {
        rowH = real;
        schedule2();
      }
    }
  });
  function sigOf(i) {
    const e = entryAt(i);
    return e ? `${e.sig}
${opts.rowState ? opts.rowState(e) : ""}` : "";
  }
  function make(i) {
    const e = entryAt(i);
    let tr;
    if (e) {
      tr = opts.row(e, i);
      tr.classList.add("row");
    } else {
      tr = h("tr", { class: "row is-loading", "aria-busy": "true" }, h("td", { colspan: 6 }, h("span", { class: "muted", text: "Loading…" })));
    }
    tr.setAttribute("data-index", String(i));
    return { i, sig: sigOf(i), tr };
  }
  function place(first, last) {
    const keep = shown.filter((s) => s.i >= first && s.i <= last);
    for (const s of shown) if (s.i < first || s.i > last) s.tr.remove();
    for (let k = 0; k < keep.length; k++) {
      if (keep[k].sig !== sigOf(keep[k].i)) {
        const fresh = make(keep[k].i);
        keep[k].tr.replaceWith(fresh.tr);
        keep[k] = fresh;
      }
    }
    if (keep.length === 0) {
      const rows = [];
      for (let i = first; i <= last; i++) rows.push(make(i));
      topSpacer.after(...rows.map((r) => r.tr));
      shown = rows;
      return;
    }
    const before = [];
    for (let i = first; i < keep[0].i; i++) before.push(make(i));
    const after = [];
    for (let i = keep[keep.length - 1].i + 1; i <= last; i++) after.push(make(i));
    if (before.length) topSpacer.after(...before.map((r) => r.tr));
    if (after.length) bottomSpacer.before(...after.map((r) => r.tr));
    shown = [...before, ...keep, ...after];
  }
  const onScroll = () => schedule2();
  const onResize = () => {
    rowH = 0;
    schedule2();
  };
  window.addEventListener("scroll", onScroll, { passive: true });
  window.addEventListener("resize", onResize);
  async function poll() {
    timer2 = null;
    if (!alive()) return;
    if (document.visibilityState === "visible" && asking.size === 0) {
      if (shown.length) {
        const firstPage = Math.floor(shown[0].i / PAGE);
        const lastPage = Math.floor(shown[shown.length - 1].i / PAGE);
        for (let n = firstPage; n <= lastPage; n++) await ask(n, true);
      } else {
        await ask(0, true);
      }
    }
    if (alive()) timer2 = setTimeout(poll, POLL_MS);
  }
  key2 = keyOf();
  markSort();
  ask(0, true);
  timer2 = setTimeout(poll, POLL_MS);
  return {
    el,
    selectAll,
    /** Names in this folder containing `text` (any case). */
    setQuery(text) {
      if (text === q) return;
      q = text;
      restart();
    },
    query: () => q,
    total: () => total,
    /** After a change here: every page is asked again; what shows stays until then. */
    reload() {
      stale = new Map([...stale, ...pages]);
      pages = /* @__PURE__ */ new Map();
      asking.clear();
      key2 = keyOf() + "\n" + Date.now();
      const k = key2;
      ask(0, true).then(() => {
        if (key2 === k) {
          stale = /* @__PURE__ */ new Map();
          schedule2();
        }
      });
    },
    /** Draws again the rows whose rowState changed. */
    redraw: schedule2,
    /** Every name in the folder (up to `max`), for "select all": asked in pages of 1,000. */
    async allNames(max) {
      if (total === null || total > max) return null;
      const names = [];
      for (let offset = 0; offset < total; offset += 1e3) {
        const params = new URLSearchParams({ path, offset: String(offset), limit: "1000", sort, order });
        if (q) params.set("q", q);
        const r = await api("GET", "/api/files?" + params.toString());
        if (!r.ok || !r.data) return null;
        const entries = Array.isArray(r.data.entries) ? r.data.entries : [];
        names.push(...entries.map((e) => String(e.name)));
        if (typeof r.data.total !== "number" || entries.length === 0) break;
      }
      return names;
    },
    stop() {
      if (timer2) clearTimeout(timer2);
      if (frame) cancelAnimationFrame(frame);
      window.removeEventListener("scroll", onScroll);
      window.removeEventListener("resize", onResize);
    }
  };
}

// dialog.js
function openDialog(title, testid, onClose) {
  const body = h("div", { class: "dialog-body" });
  const shut = h("button", { type: "button", class: "btn btn-small btn-quiet", testid: `${testid}-close`, "aria-label": "Close", text: "Close" });
  const dialog = h(
    "dialog",
    { class: "dialog", testid, "aria-label": title },
    h("div", { class: "dialog-head" }, h("h2", { class: "wrap", text: title }), shut),
    body
  );
  document.body.append(dialog);
  const close = () => {
    if (dialog.open) dialog.close();
  };
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (onClose) onClose();
  });
  shut.addEventListener("click", close);
  dialog.addEventListener("click", (e) => {
    if (e.target !== dialog) return;
    const r = dialog.getBoundingClientRect();
    if (e.clientX < r.left || e.clientX > r.right || e.clientY < r.top || e.clientY > r.bottom) close();
  });
  dialog.showModal();
  return { dialog, body, close, isOpen: () => dialog.open };
}

// kinds.js
var BY_EXTENSION = new Map([
  ...["pdf"].map((e) => [e, "pdf"]),
  ...["png", "jpg", "jpeg", "gif", "webp", "avif", "bmp", "ico", "svg"].map((e) => [e, "image"]),
  ...["mp4", "m4v", "webm", "mov", "ogv", "mkv"].map((e) => [e, "video"]),
  ...["mp3", "m4a", "aac", "wav", "ogg", "oga", "opus", "flac"].map((e) => [e, "audio"]),
  ...["md", "markdown"].map((e) => [e, "markdown"]),
  ...[
    "txt",
    "text",
    "log",
    "csv",
    "tsv",
    "json",
    "xml",
    "yaml",
    "yml",
    "toml",
    "ini",
    "conf",
    "cfg",
    "sh",
    "py",
    "js",
    "mjs",
    "ts",
    "rs",
    "c",
    "h",
    "cc",
    "cpp",
    "hpp",
    "go",
    "java",
    "kt",
    "swift",
    "rb",
    "pl",
    "php",
    "sql",
    "css",
    "html",
    "htm",
    "tex",
    "srt",
    "vtt",
    "diff",
    "patch"
  ].map((e) => [e, "text"])
]);
function kindOf(name, dir) {
  if (dir) return "folder";
  const m = /\.([^./]+)$/.exec(String(name).toLowerCase());
  return m && BY_EXTENSION.get(m[1]) || "other";
}
function clock(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor(s % 3600 / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}
function whereText(kind, view) {
  if (!view || typeof view !== "object") return "";
  if (kind === "pdf" && Number.isFinite(view.page)) return `page ${view.page}`;
  if ((kind === "video" || kind === "audio") && Number.isFinite(view.time)) return `at ${clock(view.time)}`;
  if ((kind === "text" || kind === "markdown") && Number.isFinite(view.scroll) && view.scroll > 0) return `${Math.round(view.scroll * 100)} % in`;
  return "";
}
function sameView(a, b) {
  if (!a || !b) return !a && !b;
  const keys = /* @__PURE__ */ new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    const x = a[k];
    const y = b[k];
    if (typeof x === "number" && typeof y === "number") {
      const tolerance = k === "time" ? 0.5 : k === "scroll" ? 5e-3 : 1e-6;
      if (Math.abs(x - y) > tolerance) return false;
    } else if (x !== y) return false;
  }
  return true;
}

// workspace.js
var MAX_ITEMS = 30;
var server = null;
var pending = [];
var timer = null;
var sending = false;
var listeners = /* @__PURE__ */ new Set();
function onWorkspace(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
function notify(remote) {
  const ws = workspace();
  for (const fn of listeners) {
    try {
      fn(ws, remote);
    } catch (e) {
      console.error("workspace listener:", e);
    }
  }
}
function workspace() {
  if (!server) return null;
  return { ...server, doc: pending.reduce((doc, op) => op(doc), copy(server.doc)) };
}
function frontItem(ws) {
  const doc = ws && ws.doc;
  if (!doc || !Array.isArray(doc.items) || typeof doc.front !== "number") return null;
  return doc.items[doc.front] || null;
}
function copy(doc) {
  const items = doc && Array.isArray(doc.items) ? doc.items.filter((i) => i && typeof i.path === "string") : [];
  const front = doc && typeof doc.front === "number" && doc.front >= 0 && doc.front < items.length ? doc.front : null;
  return { items: items.map((i) => ({ path: i.path, kind: i.kind || "other", view: i.view && typeof i.view === "object" ? { ...i.view } : {} })), front };
}
function resetWorkspace() {
  server = null;
  pending = [];
  if (timer) {
    clearTimeout(timer);
    timer = null;
  }
}
async function loadWorkspace() {
  const r = await api("GET", "/api/workspace");
  if (!r.ok || !r.data) return null;
  const first = !server;
  server = normal(r.data);
  notify(!first && isRemote(server));
  if (pending.length) schedule(50);
  return workspace();
}
function normal(data) {
  return { version: Number(data.version) || 0, doc: copy(data.doc), device: data.device ?? null, updated: data.updated ?? null, event: Number(data.event) };
}
function isRemote(ws) {
  return (ws.device ?? null) !== ((state && state.device) ?? null);
}
function workspaceEvent(data) {
  if (!data || typeof data.version !== "number") return;
  if (server && data.version <= server.version) return;
  server = normal(data);
  notify(isRemote(server));
}
function change(op, delay) {
  pending.push(op);
  if (!server) return;
  notify(false);
  schedule(delay);
}
function schedule(delay) {
  if (timer) clearTimeout(timer);
  timer = setTimeout(flush, delay);
}
async function flush(keepalive) {
  timer = null;
  if (!server || pending.length === 0) return;
  if (sending) {
    schedule(100);
    return;
  }
  sending = true;
  try {
    for (let attempt = 0; attempt < 5 && pending.length; attempt++) {
      const ops = pending.slice();
      const doc = ops.reduce((d, op) => op(d), copy(server.doc));
      if (JSON.stringify(doc) === JSON.stringify(copy(server.doc))) {
        pending.splice(0, ops.length);
        return;
      }
      const r = await api("PUT", "/api/workspace", doc, { headers: { "If-Match": `"${server.version}"` }, keepalive: !!keepalive });
      if (r.ok) {
        const version = Number(r.data && r.data.version);
        if (!server || Number.isNaN(version)) return;
        if (version > server.version) server = { version, doc, device: (state && state.device) ?? null, updated: Math.floor(Date.now() / 1e3) };
        pending.splice(0, ops.length);
        return;
      }
      if (r.status === 412 && r.data && r.data.current) {
        server = normal(r.data.current);
        notify(isRemote(server));
        continue;
      }
      if (r.status >= 400 && r.status < 500 && r.status !== 401 && r.status !== 429) pending.splice(0, ops.length);
      else schedule(3e3);
      return;
    }
  } finally {
    sending = false;
  }
}
function flushWorkspace() {
  if (pending.length && !sending) flush(true);
}
function touch(item) {
  change((doc) => {
    const items = doc.items.filter((i) => i.path !== item.path);
    items.unshift({ path: item.path, kind: item.kind, view: item.view || {} });
    return { items: items.slice(0, MAX_ITEMS), front: 0 };
  }, 50);
}
function setView(path, view, delay = 300) {
  const now = workspace();
  const item = now && now.doc.items.find((i) => i.path === path);
  if (item && sameView(item.view, view)) return;
  change((doc) => {
    const it = doc.items.find((i) => i.path === path);
    if (it) it.view = { ...view };
    return doc;
  }, delay);
}
function closeFront(path) {
  change((doc) => {
    const f = doc.front === null ? null : doc.items[doc.front];
    if (f && f.path === path) doc.front = null;
    return doc;
  }, 300);
}
function moved(from, to) {
  const now = workspace();
  if (!now || !now.doc.items.some((i) => i.path === from || i.path.startsWith(from + "/"))) return;
  change((doc) => {
    for (const i of doc.items) {
      if (i.path === from) i.path = to;
      else if (i.path.startsWith(from + "/")) i.path = to + i.path.slice(from.length);
    }
    return doc;
  }, 300);
}

// fileops.js
async function davMove(from, to) {
  const r = await api("MOVE", davUrl(from), void 0, { headers: { Destination: davUrl(to), Overwrite: "F" } });
  if (r.ok) {
    moved(from, to);
    return r;
  }
  if (r.status === 412) r.error = `Something named “${baseName(to)}” is in “${parentOf(to)}” already.`;
  else if (r.status === 409) r.error = `There is no folder “${parentOf(to)}”.`;
  else if (r.status === 403 && to.startsWith(from + "/")) r.error = "A folder cannot go into itself.";
  else if (r.status === 404) r.error = `“${baseName(from)}” is not there any more.`;
  return r;
}
async function each(items, job, progress) {
  const failures = [];
  let next = 0;
  let done = 0;
  async function worker() {
    while (next < items.length) {
      const it = items[next++];
      const r = await job(it);
      if (!r.ok) failures.push([it, r.error]);
      done++;
      if (progress) progress(done);
    }
  }
  await Promise.all([worker(), worker(), worker(), worker()]);
  return failures;
}
function failureText(failures) {
  const [first, error] = failures[0];
  return failures.length === 1 ? `“${first}”: ${error}` : `${failures.length} could not: “${first}”: ${error}`;
}
function renameDialog(dir, name, done) {
  const d = openDialog(`Rename “${name}”`, "rename-dialog");
  const input = h("input", { id: "rename-name", class: "input", value: name, autocomplete: "off", spellcheck: "false", testid: "rename-name", required: true });
  const submit = h("button", { type: "submit", class: "btn btn-primary", testid: "rename-submit", text: "Rename" });
  const msg = statusLine("rename-msg");
  const form = h(
    "form",
    { class: "form" },
    h("div", { class: "field" }, h("label", { for: "rename-name", text: "New name" }), input),
    h("div", { class: "actions" }, submit),
    msg
  );
  d.body.append(form);
  input.focus();
  const dot = name.lastIndexOf(".");
  input.setSelectionRange(0, dot > 0 ? dot : name.length);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const to = input.value.trim();
    const problem = nameProblem(to);
    if (problem) {
      say(msg, problem, "error");
      input.focus();
      return;
    }
    if (to === name) {
      d.close();
      return;
    }
    submit.disabled = true;
    say(msg, "Renaming…", "busy");
    const r = await davMove(joinPath(dir, name), joinPath(dir, to));
    submit.disabled = false;
    if (!r.ok) {
      say(msg, r.error, "error");
      return;
    }
    d.close();
    done(`Renamed “${name}” to “${to}”.`);
  });
}
function moveDialog(dir, names, folders, done) {
  const title = names.length === 1 ? `Move “${names[0]}”` : `Move ${names.length} items`;
  const d = openDialog(title, "move-dialog");
  const suggestions = h(
    "datalist",
    { id: "move-folders" },
    [.../* @__PURE__ */ new Set(["/", parentOf(dir), ...folders.map((f) => joinPath(dir, f))])].filter((f) => f !== dir).map((f) => h("option", { value: f }))
  );
  const input = h("input", { id: "move-to", class: "input", value: dir === "/" ? "/" : dir + "/", list: "move-folders", autocomplete: "off", spellcheck: "false", testid: "move-to", required: true });
  const submit = h("button", { type: "submit", class: "btn btn-primary", testid: "move-submit", text: "Move" });
  const msg = statusLine("move-msg");
  const form = h(
    "form",
    { class: "form" },
    h(
      "div",
      { class: "field" },
      h("label", { for: "move-to", text: "To the folder" }),
      input,
      suggestions,
      h("p", { class: "hint", text: "A path from Home, like /Projects/2026. The folder must exist." })
    ),
    h("div", { class: "actions" }, submit),
    msg
  );
  d.body.append(form);
  input.focus();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const to = cleanFolder(input.value);
    if (to === cleanFolder(dir)) {
      say(msg, "That is the folder they are in.", "error");
      return;
    }
    submit.disabled = true;
    say(msg, "Moving…", "busy");
    const failures = await each(
      names,
      (n) => davMove(joinPath(dir, n), joinPath(to, n)),
      (k) => say(msg, `Moving… ${k} of ${names.length}`, "busy")
    );
    submit.disabled = false;
    const ok = names.length - failures.length;
    if (failures.length) {
      say(msg, (ok ? `${ok} moved. ` : "") + failureText(failures), "error");
      if (ok) done(null, failures.map((f) => f[0]));
      return;
    }
    d.close();
    done(names.length === 1 ? `Moved “${names[0]}” to “${to}”.` : `Moved ${names.length} items to “${to}”.`, []);
  });
}
function deleteDialog(dir, names, keepDays, done) {
  const title = names.length === 1 ? `Delete “${names[0]}”?` : `Delete ${names.length} items?`;
  const d = openDialog(title, "delete-dialog");
  const yes = h("button", { type: "button", class: "btn btn-danger", testid: "delete-selected-yes", text: "Yes, delete" });
  const no = h("button", { type: "button", class: "btn btn-quiet", testid: "delete-selected-no", text: "Cancel" });
  const msg = statusLine("delete-msg");
  const days = typeof keepDays === "number" && keepDays > 0 ? keepDays : 30;
  d.body.append(
    h("p", { class: "wrap", text: names.length <= 5 ? names.map((n) => `“${n}”`).join(", ") : `${names.slice(0, 4).map((n) => `“${n}”`).join(", ")} and ${names.length - 4} more` }),
    h("p", { class: "muted", text: `Folders go with everything in them. Deleted files stay in the trash for ${days} day${days === 1 ? "" : "s"}.` }),
    h("div", { class: "actions" }, yes, no),
    msg
  );
  no.addEventListener("click", () => d.close());
  yes.focus();
  yes.addEventListener("click", async () => {
    yes.disabled = true;
    no.disabled = true;
    const failures = await each(
      names,
      (n) => api("DELETE", davUrl(joinPath(dir, n))),
      (k) => say(msg, `Deleting… ${k} of ${names.length}`, "busy")
    );
    no.disabled = false;
    const ok = names.length - failures.length;
    if (failures.length) {
      say(msg, (ok ? `${ok} deleted. ` : "") + failureText(failures), "error");
      if (ok) done(null, failures.map((f) => f[0]));
      return;
    }
    d.close();
    done(names.length === 1 ? `Deleted “${names[0]}”.` : `Deleted ${names.length} items.`, []);
  });
}

// viewkinds.js
var TEXT_MAX = 2 * 1024 * 1024;
var round = (n, digits) => Math.round(n * 10 ** digits) / 10 ** digits;
function nothing() {
  return { view: () => ({}), apply: () => {
  }, stop: () => {
  } };
}
function mountImage(body, path) {
  body.append(h(
    "div",
    { class: "viewer-center" },
    h("img", { class: "viewer-image", src: davUrl(path), alt: baseName(path), testid: "viewer-image" })
  ));
  return nothing();
}
function mountOther(body, path) {
  const name = baseName(path);
  body.append(h(
    "div",
    { class: "viewer-center" },
    h(
      "div",
      { class: "viewer-note", testid: "viewer-other" },
      h("p", { text: `“${name}” cannot be shown here.` }),
      h("a", { class: "btn btn-primary", href: davUrl(path) + "?download=1", download: name, text: "Download it" })
    )
  ));
  return nothing();
}
function mountMedia(body, path, kind, view, changed2) {
  const media = h(kind === "audio" ? "audio" : "video", {
    class: `viewer-${kind}`,
    controls: true,
    preload: "metadata",
    playsinline: true,
    src: davUrl(path),
    testid: `viewer-${kind}`
  });
  const problem = h("p", { class: "inline-error", role: "alert", testid: "viewer-error" });
  body.append(h("div", { class: "viewer-center" }, media, problem));
  let want = Number.isFinite(view.time) ? view.time : null;
  const seek = () => {
    if (want === null || media.readyState < 1) return;
    const t = Number.isFinite(media.duration) ? Math.min(want, media.duration) : want;
    want = null;
    media.currentTime = t;
  };
  const now = () => ({ time: round(want ?? media.currentTime ?? 0, 1) });
  let reported = 0;
  const report = () => {
    reported = Date.now();
    changed2(now());
  };
  media.addEventListener("loadedmetadata", seek);
  media.addEventListener("pause", report);
  media.addEventListener("seeked", report);
  media.addEventListener("timeupdate", () => {
    if (!media.paused && Date.now() - reported > 5e3) report();
  });
  media.addEventListener("error", () => {
    problem.textContent = "This file could not be played here (the browser may not know its format). Download it instead.";
  });
  seek();
  return {
    view: now,
    apply(v) {
      if (Number.isFinite(v.time)) {
        want = v.time;
        seek();
      }
    },
    stop() {
      media.pause();
      media.removeAttribute("src");
      media.load();
    }
  };
}
function scrollPlace(scroller, changed2) {
  let want = null;
  const max = () => scroller.scrollHeight - scroller.clientHeight;
  const place = () => max() > 0 ? round(Math.min(1, Math.max(0, scroller.scrollTop / max())), 4) : 0;
  const go = () => {
    if (want === null || max() <= 0) return;
    scroller.scrollTop = want * max();
    want = null;
  };
  let timer2 = null;
  scroller.addEventListener("scroll", () => {
    if (want !== null) return;
    if (timer2) clearTimeout(timer2);
    timer2 = setTimeout(() => changed2({ scroll: place() }), 150);
  }, { passive: true });
  return {
    want(v) {
      if (v && Number.isFinite(v.scroll)) {
        want = v.scroll;
        go();
      }
    },
    ready: go,
    view: () => ({ scroll: want ?? place() }),
    stop() {
      if (timer2) clearTimeout(timer2);
    }
  };
}
function mountText(body, path, view, changed2) {
  const pre = h("pre", { class: "viewer-text", testid: "viewer-text" });
  const note = h("p", { class: "viewer-note-line muted", testid: "viewer-text-note" });
  const scroller = h("div", { class: "viewer-scroll", testid: "viewer-scroll", tabindex: 0 }, pre);
  body.append(note, scroller);
  pre.textContent = "Loading…";
  const place = scrollPlace(scroller, changed2);
  place.want(view);
  const ctl = new AbortController();
  (async () => {
    try {
      const res = await fetch(davUrl(path), { credentials: "same-origin", cache: "no-store", signal: ctl.signal, headers: { Range: `bytes=0-${TEXT_MAX - 1}` } });
      if (!res.ok) {
        pre.textContent = "";
        note.textContent = res.status === 404 ? "This file is not there any more." : `The box answered ${res.status}.`;
        return;
      }
      const range = /\/(\d+)$/.exec(res.headers.get("Content-Range") || "");
      const total = range ? Number(range[1]) : Number(res.headers.get("Content-Length")) || null;
      const bytes = await firstBytes(res, TEXT_MAX);
      pre.textContent = new TextDecoder("utf-8").decode(bytes);
      if (total !== null && total > bytes.length) note.textContent = `The first ${humanBytes(bytes.length)} of ${humanBytes(total)} are shown: download the file for the rest.`;
      place.ready();
    } catch (e) {
      if (e.name !== "AbortError") {
        pre.textContent = "";
        note.textContent = "The box did not answer.";
      }
    }
  })();
  return { view: place.view, apply: place.want, stop() {
    ctl.abort();
    place.stop();
  } };
}
async function firstBytes(res, max) {
  const reader = res.body.getReader();
  const parts = [];
  let n = 0;
  while (n < max) {
    const { done, value: value2 } = await reader.read();
    if (done) break;
    parts.push(value2);
    n += value2.length;
  }
  reader.cancel().catch(() => {
  });
  const out = new Uint8Array(Math.min(n, max));
  let at = 0;
  for (const p of parts) {
    const take = Math.min(p.length, out.length - at);
    out.set(p.subarray(0, take), at);
    at += take;
    if (at === out.length) break;
  }
  return out;
}
function mountMarkdown(body, path, view, changed2) {
  const frame = h("iframe", { class: "viewer-frame", sandbox: "allow-same-origin", referrerpolicy: "no-referrer", title: baseName(path), testid: "viewer-markdown", src: "/api/preview?path=" + encodeURIComponent(path) });
  body.append(frame);
  let place = null;
  let want = view;
  frame.addEventListener("load", () => {
    let doc = null;
    try {
      doc = frame.contentDocument;
    } catch (e) {
      doc = null;
    }
    if (!doc || !doc.scrollingElement) return;
    const scroller = doc.scrollingElement;
    const proxy = {
      get scrollTop() {
        return scroller.scrollTop;
      },
      set scrollTop(v) {
        scroller.scrollTop = v;
      },
      get scrollHeight() {
        return scroller.scrollHeight;
      },
      get clientHeight() {
        return scroller.clientHeight;
      },
      addEventListener: (type, fn, o) => doc.addEventListener(type, fn, o)
    };
    place = scrollPlace(proxy, changed2);
    place.want(want);
  });
  return {
    view: () => place ? place.view() : { scroll: Number.isFinite(want && want.scroll) ? want.scroll : 0 },
    apply(v) {
      want = v;
      if (place) place.want(v);
    },
    stop() {
      if (place) place.stop();
    }
  };
}

// pdfview.js
var WORKER = "/assets/vendor/pdfjs/pdf.worker.min.mjs";
var ZOOMS = [0.5, 0.75, 1, 1.25, 1.5, 2, 3, 4];
var lib = null;
async function pdfjs() {
  if (!lib) {
    lib = import("/assets/vendor/pdfjs/pdf.min.mjs").then((m) => {
      m.GlobalWorkerOptions.workerSrc = WORKER;
      return m;
    });
    lib.catch(() => {
      lib = null;
    });
  }
  return lib;
}
function clampZoom(z) {
  return Number.isFinite(z) ? Math.min(4, Math.max(0.5, z)) : 1;
}
function mountPdf(body, path, view, changed2) {
  let page = Number.isInteger(view.page) && view.page > 0 ? view.page : 1;
  let zoom = clampZoom(view.zoom);
  let doc = null;
  let task = null;
  let rendering = null;
  let stopped = false;
  const prev = h("button", { type: "button", class: "btn btn-small", testid: "pdf-prev", "aria-label": "Previous page", text: "‹" });
  const next = h("button", { type: "button", class: "btn btn-small", testid: "pdf-next", "aria-label": "Next page", text: "›" });
  const input = h("input", { class: "input pdf-page-input", type: "number", min: 1, step: 1, inputmode: "numeric", "aria-label": "Page", testid: "pdf-page-input", value: String(page) });
  const pages = h("span", { class: "pdf-pages", testid: "pdf-pages", text: "" });
  const out = h("button", { type: "button", class: "btn btn-small", testid: "pdf-zoom-out", "aria-label": "Zoom out", text: "−" });
  const zin = h("button", { type: "button", class: "btn btn-small", testid: "pdf-zoom-in", "aria-label": "Zoom in", text: "+" });
  const fit = h("button", { type: "button", class: "btn btn-small", testid: "pdf-fit", text: "Fit" });
  const zoomText = h("span", { class: "pdf-zoom", testid: "pdf-zoom", text: "" });
  const canvas = h("canvas", { class: "pdf-canvas", testid: "pdf-canvas" });
  const status = h("p", { class: "viewer-note-line muted", role: "status", testid: "pdf-status", text: "Loading…" });
  const sheet = h("div", { class: "pdf-sheet" }, canvas);
  const scroller = h("div", { class: "viewer-scroll pdf-scroll", testid: "pdf-scroll" }, sheet);
  body.append(
    h(
      "div",
      { class: "pdf-bar" },
      h("div", { class: "pdf-nav" }, prev, h("label", { class: "pdf-page" }, h("span", { class: "sr-only", text: "Page" }), input, pages), next),
      h("div", { class: "pdf-zoombar" }, out, zoomText, zin, fit)
    ),
    status,
    scroller
  );
  const now = () => ({ page, zoom });
  const shown = (n) => scroller.setAttribute("data-page", String(n));
  function go(n, z, tell) {
    const count = doc ? doc.numPages : null;
    let p = Math.max(1, Math.floor(Number(n)) || 1);
    if (count) p = Math.min(p, count);
    const zz = clampZoom(z);
    const moved2 = p !== page || zz !== zoom;
    page = p;
    zoom = zz;
    input.value = String(page);
    if (moved2 && tell) changed2(now());
    if (doc) draw();
  }
  async function draw() {
    if (!doc || stopped) return;
    const n = page;
    const z = zoom;
    prev.disabled = n <= 1;
    next.disabled = n >= doc.numPages;
    out.disabled = z <= ZOOMS[0];
    zin.disabled = z >= ZOOMS[ZOOMS.length - 1];
    zoomText.textContent = `${Math.round(z * 100)} %`;
    let p;
    try {
      p = await doc.getPage(n);
    } catch (e) {
      if (!stopped) status.textContent = `Page ${n} could not be read.`;
      return;
    }
    if (stopped || n !== page || z !== zoom) return;
    const base = p.getViewport({ scale: 1 });
    const width = Math.max(200, scroller.clientWidth - 16);
    const scale = width / base.width * z;
    const dpr = Math.min(window.devicePixelRatio || 1, 3);
    const vp = p.getViewport({ scale: scale * dpr });
    if (rendering) {
      rendering.cancel();
      rendering = null;
    }
    const fresh = document.createElement("canvas");
    fresh.width = Math.floor(vp.width);
    fresh.height = Math.floor(vp.height);
    const task2 = p.render({ canvasContext: fresh.getContext("2d"), viewport: vp });
    rendering = task2;
    try {
      await task2.promise;
    } catch (e) {
      if (e && e.name === "RenderingCancelledException") return;
      if (!stopped) status.textContent = `Page ${n} could not be drawn.`;
      return;
    } finally {
      if (rendering === task2) rendering = null;
    }
    if (stopped || n !== page || z !== zoom) return;
    canvas.width = fresh.width;
    canvas.height = fresh.height;
    canvas.getContext("2d").drawImage(fresh, 0, 0);
    canvas.style.width = `${Math.floor(vp.width / dpr)}px`;
    canvas.style.height = `${Math.floor(vp.height / dpr)}px`;
    status.textContent = "";
    shown(n);
  }
  prev.addEventListener("click", () => go(page - 1, zoom, true));
  next.addEventListener("click", () => go(page + 1, zoom, true));
  input.addEventListener("change", () => go(input.value, zoom, true));
  out.addEventListener("click", () => go(page, ZOOMS.filter((x) => x < zoom - 1e-6).pop() ?? zoom, true));
  zin.addEventListener("click", () => go(page, ZOOMS.find((x) => x > zoom + 1e-6) ?? zoom, true));
  fit.addEventListener("click", () => go(page, 1, true));
  let swipe = null;
  scroller.addEventListener("pointerdown", (e) => {
    swipe = zoom <= 1 ? { x: e.clientX, y: e.clientY } : null;
  });
  scroller.addEventListener("pointerup", (e) => {
    if (!swipe) return;
    const dx = e.clientX - swipe.x;
    const dy = e.clientY - swipe.y;
    swipe = null;
    if (Math.abs(dx) > 60 && Math.abs(dx) > 2 * Math.abs(dy)) go(page + (dx < 0 ? 1 : -1), zoom, true);
  });
  let resized = null;
  const onResize = () => {
    if (resized) clearTimeout(resized);
    resized = setTimeout(draw, 150);
  };
  window.addEventListener("resize", onResize);
  (async () => {
    try {
      const m = await pdfjs();
      if (stopped) return;
      task = m.getDocument({
        url: davUrl(path),
        isEvalSupported: false,
        enableXfa: false,
        // Only the pages looked at are fetched (Range requests), not the whole file behind them.
        disableAutoFetch: true,
        rangeChunkSize: 256 * 1024
      });
      doc = await task.promise;
      if (stopped) return;
      pages.textContent = `/ ${doc.numPages}`;
      input.max = String(doc.numPages);
      scroller.setAttribute("data-pages", String(doc.numPages));
      go(page, zoom, false);
    } catch (e) {
      if (stopped) return;
      status.textContent = e && e.name === "PasswordException" ? "This PDF is protected by a password: download it to open it." : "This PDF could not be shown here. Download it instead.";
      status.classList.add("inline-error");
    }
  })();
  return {
    view: now,
    apply(v) {
      go(Number.isInteger(v.page) ? v.page : page, Number.isFinite(v.zoom) ? v.zoom : zoom, false);
    },
    key(e) {
      if (e.target instanceof HTMLInputElement) return;
      if (e.key === "ArrowRight" || e.key === "PageDown") {
        e.preventDefault();
        go(page + 1, zoom, true);
      }
      if (e.key === "ArrowLeft" || e.key === "PageUp") {
        e.preventDefault();
        go(page - 1, zoom, true);
      }
    },
    stop() {
      stopped = true;
      window.removeEventListener("resize", onResize);
      if (rendering) rendering.cancel();
      if (task) task.destroy();
    }
  };
}

// viewer.js
var current = null;
function viewerItem() {
  if (!current) return null;
  return { path: current.path, kind: current.kind, view: current.part.view() };
}
function showViewer(item, opts = {}) {
  if (current && current.path === item.path && current.kind === item.kind) {
    current.opts = opts;
    if (item.view) current.part.apply(item.view);
    return;
  }
  const hadOne = !!current;
  dispose();
  const name = baseName(item.path);
  const body = h("div", { class: "viewer-body" });
  const close = h("button", { type: "button", class: "btn btn-small viewer-close", testid: "viewer-close", "aria-label": "Close", text: "Close" });
  const actions = h(
    "div",
    { class: "viewer-actions" },
    (opts.actions || []).map((a) => {
      const b = h(
        "button",
        { type: "button", class: "btn btn-small", testid: a.testid, "aria-label": a.label },
        h("span", { class: "label-long", text: a.label }),
        h("span", { class: "label-short", "aria-hidden": "true", text: a.short || a.label })
      );
      b.addEventListener("click", () => {
        const it = viewerItem();
        if (it) a.run(it);
      });
      return b;
    }),
    h("a", { class: "btn btn-small", href: davUrl(item.path) + "?download=1", download: name, testid: "viewer-download", text: "Download" })
  );
  const el = h(
    "section",
    { class: `viewer is-${item.kind}`, role: "dialog", "aria-modal": "true", "aria-label": name, testid: "viewer", "data-kind": item.kind, "data-path": item.path },
    h(
      "header",
      { class: "viewer-head" },
      close,
      h("h2", { class: "viewer-name", testid: "viewer-name", title: item.path, text: name }),
      actions
    ),
    body
  );
  close.addEventListener("click", () => closeViewer());
  document.body.append(el);
  document.documentElement.classList.add("viewer-open");
  const me2 = { path: item.path, kind: item.kind, el, part: null, opts };
  current = me2;
  const changed2 = (view) => {
    if (current === me2 && me2.opts.onView) me2.opts.onView(view);
  };
  me2.part = mount(item, body, changed2);
  if (!hadOne && !(history.state && history.state.viewer)) history.pushState({ viewer: true }, "", location.href);
  close.focus({ preventScroll: true });
}
function mount(item, body, changed2) {
  const view = item.view || {};
  switch (item.kind) {
    case "pdf":
      return mountPdf(body, item.path, view, changed2);
    case "image":
      return mountImage(body, item.path);
    case "video":
    case "audio":
      return mountMedia(body, item.path, item.kind, view, changed2);
    case "text":
      return mountText(body, item.path, view, changed2);
    case "markdown":
      return mountMarkdown(body, item.path, view, changed2);
    default:
      return mountOther(body, item.path);
  }
}
function dispose() {
  if (!current) return null;
  const was = current;
  current = null;
  try {
    was.part.stop();
  } catch (e) {
  }
  was.el.remove();
  document.documentElement.classList.remove("viewer-open");
  return was;
}
function closeViewer(fromHistory) {
  const was = dispose();
  if (!was) return;
  if (was.opts.onClose) was.opts.onClose(was.path);
  if (!fromHistory && history.state && history.state.viewer) history.back();
}
window.addEventListener("popstate", () => {
  if (current && !(history.state && history.state.viewer)) closeViewer(true);
});
document.addEventListener("keydown", (e) => {
  if (!current || e.defaultPrevented || document.querySelector("dialog[open]")) return;
  if (e.key === "Escape") {
    e.preventDefault();
    closeViewer();
    return;
  }
  if (current.part.key) current.part.key(e);
});

// send.js
function label(what2) {
  if (what2.workspace) return "your workspace";
  const where = whereText(what2.kind, what2.view);
  return `“${baseName(what2.path) || "Home"}”${where ? `, ${where}` : ""}`;
}
function openSendDialog(what2, onSent) {
  const d = openDialog(what2.workspace ? "Send my workspace to…" : "Send to…", "send-dialog");
  const msg = statusLine("send-msg");
  const list2 = h("ul", { class: "pick-list", testid: "send-devices" }, h("li", { class: "loading", text: "Loading…" }));
  d.body.append(
    h("p", { class: "lead", text: `${label(what2)} opens on the tablet you pick, at the same place. A tablet that is off opens it when it is next on.` }),
    list2,
    msg
  );
  (async () => {
    const r = await api("GET", "/api/devices/mine");
    if (!d.isOpen()) return;
    if (!r.ok) {
      list2.replaceChildren();
      say(msg, r.error, "error");
      return;
    }
    const others = (Array.isArray(r.data) ? r.data : []).filter((x) => !x.this);
    if (others.length === 0) {
      list2.replaceChildren(h("li", { class: "empty", testid: "send-none", text: state && state.device ? "You have no other tablet yet. Pair one in Devices." : "You have no tablet yet. Pair one in Devices." }));
      return;
    }
    list2.replaceChildren(...others.map((x) => deviceChoice(x)));
  })();
  function deviceChoice(x) {
    const name = String(x.name);
    const b = h(
      "button",
      { type: "button", class: "pick", testid: `send-to-${name}` },
      h("span", { class: `dot ${x.online ? "dot-on" : "dot-off"}`, "aria-hidden": "true" }),
      h("span", { class: "pick-name", text: name }),
      h("span", { class: "pick-sub muted", text: x.online ? "online" : x.last_seen ? `last seen ${humanTime(x.last_seen)}` : "not seen yet" })
    );
    b.addEventListener("click", async () => {
      for (const other of d.body.querySelectorAll(".pick")) other.disabled = true;
      say(msg, "Sending…", "busy");
      const body = what2.workspace ? { device: name, workspace: true } : { device: name, path: what2.path, view: what2.view || {} };
      const r = await api("POST", "/api/send", body);
      for (const other of d.body.querySelectorAll(".pick")) other.disabled = false;
      if (!r.ok) {
        say(msg, r.error, "error");
        return;
      }
      say(msg, x.online ? `Sent: it opens on ${name} now.` : `Sent: ${name} opens it when it is next on (it waits 10 days).`, "ok");
      if (onSent) onSent(r.data);
    });
    return h("li", {}, b);
  }
  return d;
}
function openHandoffDialog(what2, onSent) {
  const d = openDialog(what2.workspace ? "Hand my workspace to a person…" : "Hand to a person…", "handoff-dialog");
  const id = "handoff";
  const user = h("input", { id: `${id}-user`, name: "user", class: "input", autocomplete: "off", autocapitalize: "off", spellcheck: "false", required: true, testid: "handoff-user" });
  const move = h("input", { type: "checkbox", id: `${id}-move`, name: "move", testid: "handoff-move" });
  const submit = h("button", { type: "submit", class: "btn btn-primary", testid: "handoff-submit", text: "Hand over" });
  const msg = statusLine("handoff-msg");
  const form = h(
    "form",
    { class: "form", testid: "form-handoff" },
    h("p", { class: "lead", text: `${label(what2)} waits in their inbox until they accept it (10 days at most).` }),
    h("div", { class: "field" }, h("label", { for: `${id}-user`, text: "Their user name on this box" }), user),
    what2.workspace ? null : h(
      "div",
      { class: "field field-check" },
      h("label", { class: "check", for: `${id}-move` }, move, h("span", { text: "Transfer ownership (move): it leaves your files when they accept" }))
    ),
    h("div", { class: "actions" }, submit),
    msg
  );
  d.body.append(form);
  user.focus();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const who2 = user.value.trim();
    if (!who2) {
      say(msg, "Type their user name.", "error");
      user.focus();
      return;
    }
    submit.disabled = true;
    say(msg, "Handing over…", "busy");
    const body = what2.workspace ? { user: who2, workspace: true } : { user: who2, path: what2.path, move: move.checked };
    const r = await api("POST", "/api/handoff", body);
    submit.disabled = false;
    if (!r.ok) {
      say(msg, r.error, "error");
      return;
    }
    say(msg, `Handed to ${who2}: it waits in their inbox until they accept.`, "ok");
    if (onSent) onSent(r.data);
  });
  return d;
}

// open.js
var opened = /* @__PURE__ */ new Set();
function onOpen(fn) {
  opened.add(fn);
  return () => opened.delete(fn);
}
function openItem(item) {
  const path = String(item.path);
  const kind = item.kind || kindOf(path, false);
  const view = item.view && typeof item.view === "object" ? { ...item.view } : {};
  if (kind === "folder") {
    closeViewer();
    location.hash = filesHash(path);
  } else {
    showViewer({ path, kind, view }, {
      onView: (v) => setView(path, v),
      onClose: (p) => closeFront(p),
      actions: [
        { label: "Send to…", short: "Send", testid: "viewer-send", run: (it) => openSendDialog(it) },
        { label: "Hand to a person…", short: "Hand on", testid: "viewer-handoff", run: (it) => openHandoffDialog(it) }
      ]
    });
  }
  touch({ path, kind, view });
  for (const fn of opened) fn({ path, kind, view });
}

// files.js
var uploads = [];
var uploadQueue = [];
var uploading = 0;
var MAX_PARALLEL_UPLOADS = 2;
var filesRefresh = null;
var SELECT_ALL_MAX = 5e3;
window.addEventListener("beforeunload", (e) => {
  if (uploads.some((u) => !u.done && !u.failed)) {
    e.preventDefault();
    e.returnValue = "";
  }
});
function startUploads(dir, files) {
  for (const file of files) {
    const path = joinPath(dir, file.name);
    const u = { name: file.name, path, file, done: false, failed: false };
    u.bar = h("progress", { max: 100, value: 0, testid: `upload-progress-${file.name}` });
    u.status = h("span", { class: "upload-status", testid: `upload-status-${file.name}`, text: "waiting" });
    u.el = h(
      "li",
      { class: "upload", testid: `upload-${file.name}` },
      h("span", { class: "upload-name", text: `${file.name} (${humanBytes(file.size)})` }),
      u.bar,
      u.status
    );
    uploads.push(u);
    uploadQueue.push(u);
    const list2 = document.querySelector('[data-testid="uploads"]');
    if (list2) {
      list2.append(u.el);
      list2.closest(".uploads").hidden = false;
    }
  }
  pumpUploads();
}
function pumpUploads() {
  while (uploading < MAX_PARALLEL_UPLOADS && uploadQueue.length) {
    const u = uploadQueue.shift();
    uploading++;
    upload(u).finally(() => {
      uploading--;
      u.file = null;
      if (filesRefresh) filesRefresh();
      pumpUploads();
    });
  }
}
function upload(u) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", davUrl(u.path));
    if (state && state.csrf) xhr.setRequestHeader("X-CSRF-Token", state.csrf);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    u.status.textContent = "uploading 0 %";
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      const p = Math.floor(e.loaded / e.total * 100);
      u.bar.value = Math.min(p, 99);
      u.status.textContent = `uploading ${Math.min(p, 99)} %`;
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        u.done = true;
        u.bar.value = 100;
        u.status.textContent = "done";
        u.el.classList.add("is-done");
      } else {
        let msg = `HTTP ${xhr.status}`;
        try {
          const d = JSON.parse(xhr.responseText);
          if (d && d.error) msg = String(d.error);
        } catch (e) {
        }
        fail(msg);
        if (xhr.status === 401) sessionLost();
      }
      resolve();
    };
    xhr.onerror = () => {
      fail("the box did not answer");
      resolve();
    };
    xhr.onabort = () => {
      fail("cancelled");
      resolve();
    };
    function fail(msg) {
      u.failed = true;
      u.status.textContent = `failed: ${msg}`;
      u.el.classList.add("is-failed");
    }
    xhr.send(u.file);
  });
}
function renderFiles(rest, alive) {
  const path = pathOfRest(rest);
  const segs = segments(path);
  const crumbs = h(
    "nav",
    { class: "crumbs", "aria-label": "Folder", testid: "breadcrumb" },
    h("a", { href: filesHash("/"), testid: "crumb-home", text: "Home" }),
    segs.map((s, i) => [
      h("span", { class: "sep", "aria-hidden": "true", text: "/" }),
      i === segs.length - 1 ? h("span", { class: "crumb-here", "aria-current": "location", text: s }) : h("a", { href: filesHash("/" + segs.slice(0, i + 1).join("/")), text: s })
    ])
  );
  const fid = "mkdir";
  const mkdir = h(
    "form",
    { id: fid, class: "inline-form", testid: "form-mkdir" },
    h("label", { for: `${fid}-name`, class: "sr-only", text: "New folder name" }),
    h("input", { id: `${fid}-name`, name: "name", class: "input", placeholder: "New folder name", autocomplete: "off", testid: "input-mkdir-name" }),
    h("button", { type: "submit", class: "btn", text: "New folder", testid: "mkdir-submit" }),
    h("p", { class: "field-error", "data-error-for": "name", testid: "error-mkdir-name" }),
    messageLine(fid)
  );
  onSubmit(mkdir, async (form) => {
    clearMessages(form);
    const name = value(form, "name").trim();
    const problem = nameProblem(name);
    if (problem) {
      showError(form, name ? problem : "Type a name for the folder.", "name");
      return;
    }
    const r = await davRequest("MKCOL", joinPath(path, name));
    if (!r.ok) {
      showError(form, r.error, "name");
      return;
    }
    form.reset();
    list2.reload();
  });
  const picker = h("input", { type: "file", multiple: true, id: "upload-input", class: "file-input", testid: "upload-input" });
  picker.addEventListener("change", () => {
    const files = Array.from(picker.files || []);
    if (files.length) startUploads(path, files);
    picker.value = "";
  });
  const pickLabel = h("label", { for: "upload-input", class: "btn btn-primary", testid: "upload-button", text: "Upload files" });
  const uploadList = h("ul", { class: "upload-list", testid: "uploads" }, uploads.map((u) => u.el));
  const clearDone = h("button", { type: "button", class: "btn btn-small btn-quiet", text: "Clear finished", testid: "uploads-clear" });
  const uploadsBox = h(
    "section",
    { class: "uploads", "aria-label": "Uploads", hidden: uploads.length === 0 },
    h("div", { class: "uploads-head" }, h("h2", { text: "Uploads" }), clearDone),
    uploadList
  );
  clearDone.addEventListener("click", () => {
    for (let i = uploads.length - 1; i >= 0; i--) {
      if (uploads[i].done || uploads[i].failed) {
        uploads[i].el.remove();
        uploads.splice(i, 1);
      }
    }
    uploadsBox.hidden = uploads.length === 0;
  });
  let keepDays = null;
  const selected = /* @__PURE__ */ new Set();
  let confirming = null;
  const list2 = fileList({
    path,
    alive,
    row,
    rowState: (e) => `${selected.has(String(e.name)) ? "s" : ""}${confirming === String(e.name) ? "c" : ""}`,
    onAnswer: (d) => {
      if (typeof d.keep_days === "number") keepDays = d.keep_days;
    },
    onTotal: (total, q) => {
      count.textContent = q ? `${total} match${total === 1 ? "" : "es"}` : `${total} item${total === 1 ? "" : "s"}`;
      list2.selectAll.disabled = total === 0 || total > SELECT_ALL_MAX;
      list2.selectAll.title = total > SELECT_ALL_MAX ? `Select all works on folders of up to ${groupedNumber(SELECT_ALL_MAX)} items` : "";
    }
  });
  const search = h("input", { type: "search", class: "input", id: "files-search", placeholder: "Search in this folder", autocomplete: "off", spellcheck: "false", enterkeyhint: "search", testid: "files-search" });
  let searchTimer = null;
  search.addEventListener("input", () => {
    if (searchTimer) clearTimeout(searchTimer);
    searchTimer = setTimeout(() => list2.setQuery(search.value.trim()), 250);
  });
  const count = h("span", { class: "muted list-count", testid: "files-count", "aria-live": "polite" });
  const selCount = h("span", { class: "selection-count", testid: "selection-count" });
  const selMove = h("button", { type: "button", class: "btn btn-small", testid: "selection-move", text: "Move…" });
  const selDelete = h("button", { type: "button", class: "btn btn-small btn-danger", testid: "selection-delete", text: "Delete…" });
  const selClear = h("button", { type: "button", class: "btn btn-small btn-quiet", testid: "selection-clear", text: "Clear" });
  const selBar = h("div", { class: "selection-bar", testid: "selection-bar", hidden: true }, selCount, h("span", { class: "row-actions" }, selMove, selDelete, selClear));
  selMove.addEventListener("click", () => moveDialog(path, [...selected], loadedFolders(), afterChange));
  selDelete.addEventListener("click", () => deleteDialog(path, [...selected], keepDays, afterChange));
  selClear.addEventListener("click", () => {
    selected.clear();
    selectionChanged();
  });
  list2.selectAll.addEventListener("change", async () => {
    const box2 = list2.selectAll;
    if (!box2.checked) {
      selected.clear();
      selectionChanged();
      return;
    }
    box2.disabled = true;
    const names = await list2.allNames(SELECT_ALL_MAX);
    box2.disabled = false;
    if (!alive()) return;
    if (!names) {
      box2.checked = false;
      say(msg, "Everything in this folder could not be listed just now. Try again.", "error");
      return;
    }
    for (const n of names) selected.add(n);
    selectionChanged();
  });
  function selectionChanged() {
    const n = selected.size;
    selBar.hidden = n === 0;
    selCount.textContent = `${n} selected`;
    const total = list2.total() || 0;
    list2.selectAll.checked = n > 0 && n >= total;
    list2.selectAll.indeterminate = n > 0 && n < total;
    list2.redraw();
  }
  function afterChange(text, kept) {
    if (text) say(msg, text, "ok");
    selected.clear();
    for (const k of kept || []) selected.add(k);
    selectionChanged();
    list2.reload();
  }
  const folderNames = /* @__PURE__ */ new Set();
  function loadedFolders() {
    return [...folderNames];
  }
  const msg = statusLine("files-msg");
  const notes = h("div", { class: "notes" });
  const drop = h(
    "div",
    { class: "dropzone", testid: "dropzone" },
    list2.el,
    h("p", { class: "drop-hint", text: "Drop files here to upload them to this folder." })
  );
  let depth = 0;
  drop.addEventListener("dragenter", (e) => {
    if (hasFiles(e)) {
      e.preventDefault();
      depth++;
      drop.classList.add("is-over");
    }
  });
  drop.addEventListener("dragover", (e) => {
    if (hasFiles(e)) {
      e.preventDefault();
      e.dataTransfer.dropEffect = "copy";
    }
  });
  drop.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) drop.classList.remove("is-over");
  });
  const dropNote = h("p", { class: "inline-error", role: "status", testid: "drop-note" });
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    depth = 0;
    drop.classList.remove("is-over");
    dropNote.textContent = "";
    const dt = e.dataTransfer;
    if (!dt) return;
    const files = [];
    let folders = 0;
    const items = Array.from(dt.items || []).filter((it) => it.kind === "file");
    if (items.length) {
      for (const it of items) {
        const entry = it.webkitGetAsEntry ? it.webkitGetAsEntry() : null;
        if (entry && entry.isDirectory) {
          folders++;
          continue;
        }
        const f = it.getAsFile();
        if (f) files.push(f);
      }
    } else {
      files.push(...Array.from(dt.files || []));
    }
    if (folders) dropNote.textContent = "Folders cannot be dropped here: make the folder with “New folder”, open it, and drop its files.";
    if (files.length) startUploads(path, files);
  });
  const drawerSlot = h("div", { class: "drawer-slot" });
  let closeDrawer = null;
  const rollback = folderRollback(path, alive, () => list2.reload(), () => keepDays);
  const trashLink = h("a", { class: "btn", href: trashHash(path), testid: "open-trash", text: segs.length ? "Deleted files here" : "Trash" });
  const sendFolder = segs.length ? h("button", { type: "button", class: "btn", testid: "folder-menu", text: "This folder…" }) : null;
  if (sendFolder) sendFolder.addEventListener("click", () => folderMenu());
  main.append(h(
    "section",
    { testid: "page-files" },
    pageHead("Files", h("div", { class: "actions" }, sendFolder, trashLink)),
    crumbs,
    h("div", { class: "toolbar" }, h("div", { class: "upload-pick" }, pickLabel, picker), mkdir),
    rollback,
    dropNote,
    uploadsBox,
    h(
      "div",
      { class: "list-tools" },
      h("label", { for: "files-search", class: "sr-only", text: "Search in this folder" }),
      search,
      count
    ),
    selBar,
    msg,
    notes,
    drop,
    drawerSlot
  ));
  function folderMenu() {
    const d = openDialog(`“${segs[segs.length - 1]}”`, "folder-menu-dialog");
    d.body.append(h(
      "div",
      { class: "menu" },
      menuButton("Send to…", "menu-send", () => {
        d.close();
        openSendDialog({ path, kind: "folder", view: {} });
      }),
      menuButton("Hand to a person…", "menu-handoff", () => {
        d.close();
        openHandoffDialog({ path, kind: "folder" });
      })
    ));
  }
  function menuButton(label2, testid, run) {
    const b = h("button", { type: "button", class: "btn menu-item", testid, text: label2 });
    b.addEventListener("click", run);
    return b;
  }
  function placeOf(p) {
    const ws = workspace();
    const it = ws && ws.doc.items.find((i) => i.path === p);
    return it ? it.view : {};
  }
  function entryMenu(e) {
    const name = String(e.name);
    const p = joinPath(path, name);
    const kind = kindOf(name, !!e.dir);
    const d = openDialog(`“${name}”`, "entry-menu");
    d.body.append(h(
      "div",
      { class: "menu" },
      e.dir ? menuButton("Open", "menu-open", () => {
        d.close();
        location.hash = filesHash(p);
      }) : menuButton("Open", "menu-open", () => {
        d.close();
        openItem({ path: p, kind, view: placeOf(p) });
      }),
      menuButton("Rename…", "menu-rename", () => {
        d.close();
        renameDialog(path, name, afterChange);
      }),
      menuButton("Move…", "menu-move", () => {
        d.close();
        moveDialog(path, [name], loadedFolders().filter((f) => f !== name), afterChange);
      }),
      menuButton("Send to…", "menu-send", () => {
        d.close();
        openSendDialog({ path: p, kind, view: placeOf(p) });
      }),
      menuButton("Hand to a person…", "menu-handoff", () => {
        d.close();
        openHandoffDialog({ path: p, kind });
      }),
      e.dir ? null : menuButton("Versions", "menu-versions", () => {
        d.close();
        showVersions(p);
      }),
      e.dir ? null : h("a", { class: "btn menu-item", href: davUrl(p) + "?download=1", download: name, testid: "menu-download", text: "Download" })
    ));
  }
  function showVersions(p) {
    if (closeDrawer) closeDrawer();
    closeDrawer = openVersions(drawerSlot, p, alive, () => list2.reload());
  }
  function row(e) {
    const name = String(e.name);
    const p = joinPath(path, name);
    if (e.dir) folderNames.add(name);
    if (confirming === name) return confirmRow(e, name, p);
    const check = h("input", { type: "checkbox", class: "row-check", testid: `select-${name}`, "aria-label": `Select ${name}`, checked: selected.has(name) });
    check.addEventListener("change", () => {
      if (check.checked) selected.add(name);
      else selected.delete(name);
      selectionChanged();
    });
    let nameCell;
    if (e.dir) {
      nameCell = h("a", { href: filesHash(p), class: "entry-name is-dir", testid: `open-${name}`, title: name }, h("span", { class: "icon icon-dir", "aria-hidden": "true" }), h("span", { class: "entry-text", text: name }));
    } else {
      nameCell = h("button", { type: "button", class: "entry-name is-file", testid: `view-${name}`, title: name }, h("span", { class: `icon icon-file kind-${kindOf(name, false)}`, "aria-hidden": "true" }), h("span", { class: "entry-text", text: name }));
      nameCell.addEventListener("click", () => openItem({ path: p, kind: kindOf(name, false), view: placeOf(p) }));
    }
    const dur = e.durability;
    const badge = dur ? h("span", { class: `badge dur-${String(dur).replace(/[^a-z0-9]/gi, "-")}`, testid: `durability-${name}`, title: durabilityTitle(dur), text: String(dur) }) : h("span", { class: "muted", testid: `durability-${name}`, text: e.dir ? "" : "–" });
    const del = h("button", { type: "button", class: "btn btn-small btn-danger-quiet", testid: `delete-${name}`, text: "Delete", "aria-label": `Delete ${name}` });
    del.addEventListener("click", () => {
      confirming = name;
      notes.replaceChildren();
      list2.redraw();
    });
    const more = h("button", { type: "button", class: "btn btn-small", testid: `more-${name}`, "aria-label": `More for ${name}`, text: "⋯" });
    more.addEventListener("click", () => entryMenu(e));
    let versions = null;
    if (!e.dir) {
      versions = h("button", { type: "button", class: "btn btn-small row-extra", testid: `versions-${name}`, "aria-label": `Versions of ${name}`, text: "Versions" });
      versions.addEventListener("click", () => showVersions(p));
    }
    return h(
      "tr",
      { testid: `file-row-${name}`, class: e.dir ? "is-dir" : "" },
      h("td", { class: "col-check" }, check),
      h("td", { class: "col-name" }, nameCell),
      h("td", { class: "num", testid: `size-${name}`, text: e.dir ? "" : humanBytes(e.size) }),
      h("td", { class: "col-modified", text: humanTime(e.modified) }),
      h("td", { class: "col-dur" }, badge),
      h("td", { class: "col-actions" }, h(
        "div",
        { class: "row-actions" },
        versions,
        e.dir ? null : h("a", { class: "btn btn-small row-extra", href: davUrl(p) + "?download=1", download: name, testid: `download-${name}`, "aria-label": `Download ${name}`, text: "Download" }),
        del,
        more
      ))
    );
  }
  function confirmRow(e, name, p) {
    const yes = h("button", { type: "button", class: "btn btn-small btn-danger", testid: `confirm-delete-${name}`, text: "Yes, delete" });
    const no = h("button", { type: "button", class: "btn btn-small btn-quiet", testid: `cancel-delete-${name}`, text: "Cancel" });
    no.addEventListener("click", () => {
      confirming = null;
      list2.redraw();
    });
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      no.disabled = true;
      const r = await davRequest("DELETE", p);
      if (!alive()) return;
      confirming = null;
      selected.delete(name);
      notes.replaceChildren(r.ok ? "" : h("p", { class: "error-box", role: "alert", testid: `error-delete-${name}`, text: `“${name}” was not deleted: ${r.error}` }));
      if (r.ok) say(msg, `Deleted “${name}”. It is in the trash.`, "ok");
      selectionChanged();
      list2.reload();
    });
    return h(
      "tr",
      { testid: `file-row-${name}`, class: "is-confirm" },
      h("td", { colspan: 6 }, h(
        "div",
        { class: "confirm" },
        h("span", { class: "confirm-question", text: e.dir ? `Delete “${name}” and everything in it?` : `Delete “${name}”?` }),
        yes,
        no
      ))
    );
  }
  filesRefresh = () => list2.reload();
  return () => {
    list2.stop();
    if (searchTimer) clearTimeout(searchTimer);
    if (closeDrawer) closeDrawer();
    filesRefresh = null;
  };
}
function hasFiles(e) {
  const types = e.dataTransfer && e.dataTransfer.types;
  return !!types && Array.from(types).includes("Files");
}
function durabilityTitle(d) {
  if (d === "local") return "Only on this box so far";
  if (d === "cloud:1") return "On this box and at one destination";
  if (d === "cloud:all") return "On this box and at every destination";
  return String(d);
}
async function davRequest(method, path) {
  const r = await api(method, davUrl(path));
  if (!r.ok && r.status === 405 && method === "MKCOL") r.error = "Something with that name is already here.";
  return r;
}

// inbox.js
var box = { received: [], sent: [] };
var loaded = false;
var opened2 = /* @__PURE__ */ new Set();
var redraw = null;
var STATE_TEXT = {
  pending: "waiting",
  opened: "opened",
  accepted: "accepted",
  declined: "declined",
  expired: "expired",
  gone: "gone: moved or deleted before it was accepted"
};
function list(x) {
  return Array.isArray(x) ? x.filter((e) => e && e.id != null) : [];
}
function me() {
  return state && state.user ? state.user.name : null;
}
function thisDevice() {
  return (state && state.device) ?? null;
}
function resetInbox() {
  box = { received: [], sent: [] };
  loaded = false;
  opened2.clear();
  changed();
}
function inboxCount() {
  return box.received.filter((e) => e.state === "pending").length;
}
function changed() {
  const badge = document.querySelector('[data-testid="nav-inbox-badge"]');
  if (badge) {
    const n = inboxCount();
    badge.textContent = n ? String(n) : "";
    badge.hidden = n === 0;
  }
  if (redraw) redraw();
}
async function loadInbox() {
  const r = await api("GET", "/api/inbox");
  if (!r.ok || !r.data) return null;
  box = { received: list(r.data.received), sent: list(r.data.sent) };
  loaded = true;
  changed();
  for (const e of box.received.slice().reverse()) openIfForHere(e);
  return { event: Number(r.data.event) };
}
function upsert(entries, e) {
  const i = entries.findIndex((x) => String(x.id) === String(e.id));
  if (i >= 0) entries[i] = e;
  else entries.unshift(e);
}
function inboxEvent(e) {
  if (!e || e.id == null) return;
  const to = e.to || {};
  const from = e.from || {};
  if (to.user === me() && (e.mode !== "open" || (to.device ?? null) === thisDevice())) upsert(box.received, e);
  if (from.user === me()) upsert(box.sent, e);
  changed();
  openIfForHere(e);
}
function openIfForHere(e) {
  const to = e.to || {};
  if (e.mode !== "open" || e.state !== "pending" || !to.device || to.device !== thisDevice() || to.user !== me()) return;
  if (opened2.has(String(e.id))) return;
  opened2.add(String(e.id));
  openEntry(e);
  decide(e, "accept");
}
async function decide(e, what2, body) {
  const r = await api("POST", `/api/inbox/${encodeURIComponent(String(e.id))}/${what2}`, body || {});
  if (r.ok && r.data && r.data.id != null) inboxEvent(r.data);
  return r;
}
function openEntry(e) {
  if (e.kind === "workspace") {
    const doc = e.workspace && Array.isArray(e.workspace.items) ? e.workspace : null;
    const item = doc ? frontItem({ doc }) || doc.items[0] : null;
    if (item) openItem(item);
    return;
  }
  const path = e.state === "accepted" && e.result_path ? e.result_path : e.path;
  if (!path) return;
  if (e.kind === "folder") openItem({ path, kind: "folder" });
  else openItem({ path, kind: kindOf(e.name || baseName(path), false), view: e.mode === "open" ? e.view : null });
}
function what(e) {
  if (e.kind === "workspace") return "a workspace";
  const where = e.mode === "open" ? whereText(kindOf(e.name || "", e.kind === "folder"), e.view) : "";
  return `“${e.name || baseName(e.path || "")}”${where ? `, ${where}` : ""}`;
}
function who(party) {
  if (!party) return "someone";
  if (party.user === me()) return party.device ? String(party.device) : "your browser";
  return party.device ? `${party.user} (${party.device})` : String(party.user);
}
function sentence(e, received) {
  if (received) {
    if (e.mode === "open") return `${who(e.from)} sent ${what(e)} to open here`;
    return `${who(e.from)} handed you ${what(e)}${e.mode === "move" ? " to keep (it moves to you)" : " (a copy)"}`;
  }
  const to = e.to || {};
  if (e.mode === "open") return `To ${to.device ? String(to.device) : "a tablet"}: ${what(e)}`;
  return `To ${to.user}: ${what(e)}${e.mode === "move" ? " (moves to them)" : " (a copy)"}`;
}
function renderInbox(rest, alive) {
  const msg = statusLine("inbox-msg");
  const body = h("div", { testid: "inbox" }, h("p", { class: "loading", text: "Loading…" }));
  const sendWs = h("button", { type: "button", class: "btn", testid: "send-workspace", text: "Send my workspace to…" });
  const handWs = h("button", { type: "button", class: "btn", testid: "handoff-workspace", text: "Hand my workspace to a person…" });
  sendWs.addEventListener("click", () => openSendDialog({ workspace: true }));
  handWs.addEventListener("click", () => openHandoffDialog({ workspace: true }));
  main.append(h(
    "section",
    { testid: "page-inbox" },
    pageHead("Inbox", h("div", { class: "actions" }, sendWs, handWs)),
    h("p", { class: "lead", text: "What your tablets sent each other and what people hand you, kept here for 10 days." }),
    msg,
    body
  ));
  function draw() {
    if (!alive()) {
      redraw = null;
      return;
    }
    if (!loaded) return;
    const received = box.received;
    const sent = box.sent;
    body.replaceChildren(
      h("h2", { text: "Received" }),
      received.length ? h("ul", { class: "entries", testid: "inbox-received" }, received.map((e) => entry(e, true))) : h("p", { class: "empty", testid: "inbox-received-empty", text: "Nothing received." }),
      h("h2", { text: "Sent" }),
      sent.length ? h("ul", { class: "entries", testid: "inbox-sent" }, sent.map((e) => entry(e, false))) : h("p", { class: "empty", testid: "inbox-sent-empty", text: "Nothing sent." })
    );
  }
  function button(label2, testid, kind, run) {
    const b = h("button", { type: "button", class: `btn btn-small${kind ? " " + kind : ""}`, testid, text: label2 });
    b.addEventListener("click", async () => {
      b.disabled = true;
      await run();
      b.disabled = false;
    });
    return b;
  }
  async function act(e, verb, done) {
    say(msg, "", "");
    const r = await decide(e, verb);
    if (!alive()) return;
    if (!r.ok) {
      say(msg, r.error, "error");
      loadInbox();
      return;
    }
    if (done) done(r.data || e);
  }
  function entry(e, received) {
    const id = String(e.id);
    const pending2 = e.state === "pending";
    const buttons = [];
    if (received && e.mode === "open") {
      buttons.push(button("Open", `inbox-open-${id}`, "btn-primary", async () => {
        openEntry(e);
        if (pending2) {
          opened2.add(id);
          await act(e, "accept");
        }
      }));
    } else if (received && pending2) {
      buttons.push(button("Accept", `inbox-accept-${id}`, "btn-primary", () => act(e, "accept", (x) => {
        say(msg, x.result_path ? `Saved in your files as “${x.result_path}”.` : "Accepted.", "ok");
      })));
      buttons.push(button("Decline", `inbox-decline-${id}`, "btn-danger-quiet", () => act(e, "decline")));
    } else if (received && e.state === "accepted" && e.result_path) {
      buttons.push(button("Open", `inbox-open-${id}`, "", async () => openEntry(e)));
    }
    if (!received && pending2) buttons.push(button("Cancel", `inbox-cancel-${id}`, "btn-danger-quiet", () => act(e, "decline")));
    const facts = [
      e.kind === "folder" && Number.isFinite(e.files) ? `${e.files} file${e.files === 1 ? "" : "s"}` : null,
      Number.isFinite(e.size) && e.kind !== "workspace" ? humanBytes(e.size) : null,
      `sent ${exactTime(e.created)}`,
      pending2 && Number.isFinite(e.expires) ? `waits until ${exactTime(e.expires)}` : null,
      !pending2 && Number.isFinite(e.decided) ? `${String(e.state)} ${exactTime(e.decided)}` : null,
      e.state === "accepted" && e.result_path ? `saved as ${e.result_path}` : null
    ].filter(Boolean);
    const stateText = STATE_TEXT[e.state] || String(e.state);
    return h(
      "li",
      { class: `entry state-${String(e.state).replace(/[^a-z]/g, "")}`, testid: `inbox-entry-${id}`, "data-state": String(e.state), "data-mode": String(e.mode) },
      h(
        "div",
        { class: "entry-what" },
        h("span", { class: "entry-line wrap", testid: `inbox-text-${id}`, text: sentence(e, received) }),
        h(
          "span",
          { class: "entry-facts muted" },
          h("span", { class: `badge entry-state`, testid: `inbox-state-${id}`, text: stateText }),
          " ",
          facts.join(" · ")
        )
      ),
      buttons.length ? h("div", { class: "row-actions" }, buttons) : null
    );
  }
  redraw = draw;
  if (loaded) draw();
  loadInbox().then((ok) => {
    if (!alive()) return;
    if (!ok) body.replaceChildren(errorBox("The inbox could not be read. Try again in a moment.", "inbox-error"));
  });
  return () => {
    if (redraw === draw) redraw = null;
  };
}

// events.js
var TYPES = ["workspace", "inbox", "reset"];
var handlers = /* @__PURE__ */ new Map();
var source = null;
var lastId = null;
var retry = null;
var running = false;
function onEvent(type, fn) {
  if (!handlers.has(type)) handlers.set(type, /* @__PURE__ */ new Set());
  handlers.get(type).add(fn);
  return () => handlers.get(type).delete(fn);
}
function deliver(type, data) {
  for (const fn of handlers.get(type) || []) {
    try {
      fn(data);
    } catch (e) {
      console.error(`${type} event:`, e);
    }
  }
}
function startEvents(after) {
  stopEvents();
  lastId = after === void 0 || after === null ? null : String(after);
  running = true;
  connect();
}
function stopEvents() {
  running = false;
  if (retry) {
    clearTimeout(retry);
    retry = null;
  }
  if (source) {
    source.close();
    source = null;
  }
}
function connect() {
  retry = null;
  const es = new EventSource(lastId === null ? "/api/events" : `/api/events?after=${encodeURIComponent(lastId)}`);
  source = es;
  for (const type of TYPES) {
    es.addEventListener(type, (e) => {
      if (source !== es) return;
      if (e.lastEventId) lastId = e.lastEventId;
      let data = null;
      try {
        data = e.data ? JSON.parse(e.data) : null;
      } catch (err) {
        return;
      }
      deliver(type, data);
    });
  }
  es.addEventListener("error", () => {
    if (source !== es || es.readyState !== EventSource.CLOSED) return;
    source = null;
    api("GET", "/api/session").then((r) => {
      if (!running || r.status === 401 || retry || source) return;
      retry = setTimeout(connect, 3e3);
    });
  });
}

// continue.js
var FRESH_SECONDS = 12 * 3600;
var slot = document.getElementById("continue");
var toggle = document.getElementById("follow");
var offered = null;
var seen = null;
var stops = [];
function key(item) {
  return item ? `${item.path}
${JSON.stringify(item.view || {})}` : "";
}
function followKey() {
  const user = state && state.user ? state.user.name : "";
  return `microcloud.follow.${user}.${state && state.device || ""}`;
}
function following() {
  try {
    return localStorage.getItem(followKey()) === "1";
  } catch (e) {
    return false;
  }
}
function setFollowing(on) {
  try {
    if (on) localStorage.setItem(followKey(), "1");
    else localStorage.removeItem(followKey());
  } catch (e) {
  }
  toggle.setAttribute("aria-pressed", on ? "true" : "false");
  toggle.textContent = on ? "Following" : "Follow";
}
toggle.addEventListener("click", () => setFollowing(toggle.getAttribute("aria-pressed") !== "true"));
function startContinue() {
  stopContinue();
  toggle.hidden = false;
  setFollowing(following());
  toggle.title = "Open by itself what your other tablets open";
  stops = [
    onWorkspace((ws, remote) => {
      if (remote) react(ws, false);
    }),
    onOpen((item) => {
      if (offered && offered.path === item.path) hide();
    })
  ];
}
function stopContinue() {
  for (const s of stops) s();
  stops = [];
  seen = null;
  hide();
  toggle.hidden = true;
}
function continueOnStart(ws) {
  if (!ws || (ws.device ?? null) === ((state && state.device) ?? null)) return;
  const age = Date.now() / 1e3 - (Number(ws.updated) || 0);
  if (age > FRESH_SECONDS) return;
  react(ws, true);
}
function react(ws, onStart) {
  const front = frontItem(ws);
  const k = key(front);
  if (k === seen) return;
  seen = k;
  const showing = viewerItem();
  if (following()) {
    if (!front) {
      if (!onStart && showing) closeViewer();
      return;
    }
    if (showing && showing.path === front.path && sameView(showing.view, front.view)) return;
    openItem(front);
    return;
  }
  if (!front) return;
  if (showing && showing.path === front.path) {
    if (sameView(showing.view, front.view) || front.kind === "video" || front.kind === "audio") return;
  }
  offer(front, ws.device);
}
function offer(item, device) {
  offered = item;
  const where = whereText(item.kind, item.view);
  const from = device ? String(device) : "another browser";
  const open = h("button", { type: "button", class: "btn btn-small btn-primary", testid: "continue-open", text: "Open" });
  const dismiss = h("button", { type: "button", class: "btn btn-small btn-quiet", testid: "continue-dismiss", "aria-label": "Dismiss", text: "✕" });
  open.addEventListener("click", () => {
    const it = offered;
    hide();
    if (it) openItem(it);
  });
  dismiss.addEventListener("click", hide);
  slot.replaceChildren(h(
    "div",
    { class: "continue", role: "status", testid: "continue-banner", "data-path": item.path },
    h("span", { class: "continue-text", testid: "continue-text", text: `Continue: ${baseName(item.path) || "Home"}${where ? `, ${where}` : ""} (from ${from})` }),
    h("span", { class: "continue-actions" }, open, dismiss)
  ));
  slot.hidden = false;
}
function hide() {
  offered = null;
  slot.replaceChildren();
  slot.hidden = true;
}

// live.js
var running2 = null;
async function loadAll() {
  const [ws, inbox] = await Promise.all([loadWorkspace(), loadInbox()]);
  const ids = [ws && ws.event, inbox && inbox.event].filter((n) => Number.isFinite(n));
  return { ws, after: ids.length === 2 ? Math.min(...ids) : null };
}
onEvent("workspace", (d) => {
  if (running2) workspaceEvent(d);
});
onEvent("inbox", (d) => {
  if (running2) inboxEvent(d);
});
onEvent("reset", () => {
  if (running2) loadAll();
});
function syncLive() {
  const user = state && !state.onboarding && state.user ? state.user.name : null;
  const who2 = user === null ? null : `${user}
${state.device || ""}`;
  if (who2 === running2) return;
  if (running2) stop();
  running2 = who2;
  if (who2) start(who2);
}
async function start(who2) {
  resetWorkspace();
  resetInbox();
  startContinue();
  const { ws, after } = await loadAll();
  if (running2 !== who2) return;
  continueOnStart(ws);
  startEvents(after);
}
function stop() {
  stopEvents();
  stopContinue();
  closeViewer();
  resetWorkspace();
  resetInbox();
}
window.addEventListener("pagehide", () => flushWorkspace());
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden") flushWorkspace();
});

// main.js
function later(load, name) {
  return (rest, alive) => {
    let stop2 = null;
    let stopped = false;
    load().then((m) => {
      if (alive() && !stopped) stop2 = m[name](rest, alive) || null;
    }, () => {
      if (alive() && !stopped) main.replaceChildren(errorBox(OFFLINE, "offline"));
    });
    return () => {
      stopped = true;
      if (stop2) stop2();
    };
  };
}
var PAGES = [
  { route: "dashboard", label: "Dashboard", admin: true, render: later(() => import("./dashboard-WAOGMRNK.js"), "renderDashboard") },
  { route: "files", label: "Files", admin: false, render: renderFiles },
  // Reached from the files page's "Trash" button; the navigation shows Files as current.
  { route: "trash", label: "Trash", admin: false, render: later(() => import("./trash-M2V42DXV.js"), "renderTrash"), under: "files" },
  { route: "inbox", label: "Inbox", admin: false, render: renderInbox, badge: inboxCount },
  { route: "destinations", label: "Destinations", admin: true, render: later(() => import("./destinations-AO32D46Z.js"), "renderDestinations") },
  { route: "users", label: "Users", admin: true, render: later(() => import("./users-DXBSU4IU.js"), "renderUsers") },
  { route: "devices", label: "Devices", admin: false, render: later(() => import("./devices-7IW5KNIG.js"), "renderDevices") },
  { route: "ssh", label: "SSH keys", admin: true, render: later(() => import("./ssh-6Z44STEE.js"), "renderSsh") },
  { route: "system", label: "System", admin: true, render: later(() => import("./system-WUXLJDRO.js"), "renderSystem") }
];
setPages(PAGES, renderSetup, renderSignin);
onChrome(syncLive);
onSessionLost(() => show());
window.addEventListener("hashchange", () => show());
document.getElementById("sign-out").addEventListener("click", async (e) => {
  const btn = e.currentTarget;
  btn.disabled = true;
  const r = await api("DELETE", "/api/session", void 0, { quiet401: true });
  btn.disabled = false;
  if (!r.ok && r.status !== 401) {
    main.prepend(errorBox(`Signing out failed: ${r.error}`, "sign-out-error"));
    return;
  }
  stopView();
  const s = await loadState();
  if (!s && state) state.user = null;
  redirect("signin");
});
setInterval(() => {
  if (state && state.user && state.device) api("GET", "/api/session");
}, 3e3);
if (location.pathname === "/pair") {
  Promise.all([loadState(), import("./pair-ZDMDUVMZ.js")]).then(([, m]) => m.renderPair());
} else {
  show();
}
