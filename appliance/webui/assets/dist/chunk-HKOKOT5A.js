// dom.js
var main = document.getElementById("main");
var scrolledBy = 0;
window.addEventListener("scroll", () => {
  scrolledBy = window.scrollY;
}, { passive: true });
function pageScrolled() {
  return scrolledBy > 0;
}
function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === void 0 || v === null || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = String(v);
      else if (k === "testid") el.setAttribute("data-testid", v);
      else if (k === "value") {
        if ("defaultValue" in el) el.defaultValue = v;
        el.value = v;
      } else if (k === "checked") {
        el.defaultChecked = true;
        el.checked = true;
      } else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
      else if (v === true) el.setAttribute(k, "");
      else el.setAttribute(k, String(v));
    }
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === void 0 || kid === null || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}
function pageHead(title, ...extra) {
  return h("div", { class: "page-head" }, h("h1", { text: title }), ...extra);
}
function errorBox(text, testid) {
  return h("p", { class: "error-box", role: "alert", testid: testid || "page-error", text });
}
function statusLine(testid) {
  return h("p", { class: "form-msg", role: "status", "aria-live": "polite", testid });
}
function say(el, text, kind) {
  el.textContent = text || "";
  el.className = "form-msg" + (kind ? ` is-${kind}` : "");
  el.setAttribute("role", kind === "error" ? "alert" : "status");
}

// api.js
var state = null;
function setState(s) {
  state = s;
}
var lostReason = null;
function clearLostReason() {
  lostReason = null;
}
var lostHandler = null;
function onSessionLost(handler) {
  lostHandler = handler;
}
var OFFLINE = "The microcloud box did not answer. Check that it is switched on and on the network, then try again.";
async function api(method, path, body, opts = {}) {
  const changes = method !== "GET" && method !== "HEAD";
  for (let attempt = 0; ; attempt++) {
    const headers = { Accept: "application/json", ...opts.headers || {} };
    const csrf = state && state.csrf;
    if (changes && csrf) headers["X-CSRF-Token"] = csrf;
    const init = { method, headers, credentials: "same-origin", cache: "no-store", keepalive: !!opts.keepalive };
    if (body !== void 0) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    let text = null;
    const pre = method === "GET" && body === void 0 && attempt === 0 && early(path);
    try {
      if (pre) ({ res, text } = await pre);
      else res = await fetch(path, init);
    } catch (e) {
      return { ok: false, status: 0, data: null, error: OFFLINE, field: null };
    }
    let data = null;
    try {
      if (text === null) text = await res.text();
      if (text) data = JSON.parse(text);
    } catch (e) {
      data = null;
    }
    if (res.ok) return { ok: true, status: res.status, data, error: null, field: null };
    if (changes && res.status === 403 && attempt === 0 && !opts.noRetry) {
      const fresh = await fetchState();
      if (fresh && fresh.csrf && fresh.csrf !== csrf) {
        state = fresh;
        continue;
      }
    }
    return failure(res, data, opts);
  }
}
function sentence(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
function failure(res, data, opts) {
  let error = data && typeof data.error === "string" && data.error ? sentence(data.error) : `The request failed (HTTP ${res.status}${res.statusText ? " " + res.statusText : ""}).`;
  const field = data && typeof data.field === "string" ? data.field : null;
  if (res.status === 429) {
    const after = res.headers.get("Retry-After");
    if (after && !/\d/.test(error)) error += ` Try again in ${after} seconds.`;
  }
  if (res.status === 401 && field === "device") lostReason = error;
  if (res.status === 401 && !opts.quiet401) sessionLost();
  return { ok: false, status: res.status, data, error, field };
}
function getText(url) {
  return fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } }).then((res) => res.text().then((text) => ({ res, text })));
}
function early(url) {
  const m = globalThis.microcloudEarly;
  const p = m && m.get(url);
  if (!p) return null;
  m.delete(url);
  return p.catch(() => getText(url));
}
async function fetchState() {
  try {
    const { res, text } = await (early("/api/state") || getText("/api/state"));
    if (!res.ok) return null;
    return JSON.parse(text);
  } catch (e) {
    return null;
  }
}
async function loadState() {
  const s = await fetchState();
  if (s) state = s;
  return s;
}
var losing = false;
async function sessionLost() {
  if (losing) return;
  losing = true;
  try {
    await loadState();
    if (lostHandler) lostHandler();
  } finally {
    losing = false;
  }
}

export {
  main,
  pageScrolled,
  h,
  pageHead,
  errorBox,
  statusLine,
  say,
  state,
  setState,
  lostReason,
  clearLostReason,
  onSessionLost,
  OFFLINE,
  api,
  fetchState,
  loadState,
  sessionLost
};
