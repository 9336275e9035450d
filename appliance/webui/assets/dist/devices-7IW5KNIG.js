import {
  humanAge,
  humanTime
} from "./chunk-I4NXG573.js";
import {
  startPairing
} from "./chunk-R3HFGJ4N.js";
import {
  clearMessages,
  field,
  messageLine,
  onSubmit,
  requireFields,
  showError,
  value
} from "./chunk-XFF4UI46.js";
import {
  api,
  errorBox,
  h,
  main,
  pageHead,
  state
} from "./chunk-HKOKOT5A.js";

// lan.js
var REFRESH_MS = 5e3;
function lanSection(alive, admin, invite) {
  const body = h("div", { testid: "lan-body" }, h("p", { class: "loading", text: "Loading…" }));
  const el = h("section", { class: "lan", testid: "lan-section" }, h("h2", { text: "On this network" }), body);
  let timer = null;
  let stopped = false;
  const text = (v) => v === null || v === void 0 ? "" : String(v);
  const list = (v) => Array.isArray(v) ? v.map(text) : [];
  function seen(online, t, now, testid) {
    if (online) return h("span", { class: "badge state-ok", testid, text: "online now" });
    if (typeof t !== "number" || !isFinite(t)) return h("span", { class: "muted", testid, text: "never seen" });
    return h("span", { class: "muted", testid, text: `last seen ${humanAge(now - t)} ago` });
  }
  function pairedTable(paired, now) {
    if (paired.length === 0) {
      return h("p", { class: "muted", testid: "lan-no-paired", text: "No paired devices yet." });
    }
    return h(
      "table",
      { class: "table stack", testid: "lan-paired" },
      h("thead", {}, h(
        "tr",
        {},
        admin ? h("th", { text: "User" }) : null,
        h("th", { text: "Device" }),
        h("th", { text: "Status" }),
        h("th", { class: "hide-narrow", text: "Address" })
      )),
      h("tbody", {}, paired.map((p) => {
        const user = text(p.user);
        const name = text(p.name);
        return h(
          "tr",
          { testid: `lan-paired-${user}-${name}` },
          admin ? h("td", { text: user }) : null,
          h("td", { text: name }),
          h("td", {}, seen(!!p.online, p.last_seen_unix, now, `lan-paired-status-${user}-${name}`)),
          h("td", { class: "hide-narrow mono", text: p.address == null ? "–" : text(p.address) })
        );
      }))
    );
  }
  function otherRow(o, now) {
    const mac = o.mac == null ? "" : text(o.mac);
    const addresses = list(o.addresses);
    const key = mac || addresses[0] || "";
    const names = list(o.names);
    const services = list(o.services);
    const b = h("button", { type: "button", class: "btn btn-small", text: "Invite", testid: `lan-invite-${key}` });
    b.addEventListener("click", () => invite());
    return h(
      "tr",
      { testid: `lan-other-${key}` },
      h(
        "td",
        { testid: `lan-other-names-${key}`, title: services.length ? services.join("\n") : null },
        names.length ? names.join(", ") : h("span", { class: "muted", text: "no name announced" })
      ),
      h(
        "td",
        { class: "mono", testid: `lan-other-mac-${key}` },
        mac || "–",
        o.randomized_mac ? h("span", { class: "muted", text: " (private address)" }) : null
      ),
      h("td", { class: "hide-narrow mono", text: addresses.join(", ") }),
      h("td", {}, seen(!!o.online, o.last_seen_unix, now)),
      h("td", { class: "col-actions" }, b)
    );
  }
  function othersTable(others, now) {
    if (others.length === 0) {
      return h("p", { class: "muted", testid: "lan-no-others", text: "No other devices seen on the network." });
    }
    return h(
      "table",
      { class: "table stack", testid: "lan-others" },
      h("thead", {}, h(
        "tr",
        {},
        h("th", { text: "Name" }),
        h("th", { text: "MAC" }),
        h("th", { class: "hide-narrow", text: "Addresses" }),
        h("th", { text: "Status" }),
        h("th", { class: "col-actions" }, h("span", { class: "sr-only", text: "Actions" }))
      )),
      h("tbody", {}, others.map((o) => otherRow(o, now)))
    );
  }
  function render(d) {
    const now = typeof d.now === "number" ? d.now : Date.now() / 1e3;
    const paired = Array.isArray(d.paired) ? d.paired : [];
    const others = Array.isArray(d.others) ? d.others : [];
    body.replaceChildren(...[
      d.watching ? null : h("p", { class: "muted", testid: "lan-not-watching", text: "The discovery agent is not running: only paired devices are shown." }),
      h("h3", { text: "Paired devices" }),
      pairedTable(paired, now),
      d.watching ? h("h3", { text: "Other devices" }) : null,
      d.watching ? othersTable(others, now) : null
    ].filter(Boolean));
  }
  async function load() {
    timer = null;
    if (stopped || !alive()) return;
    const r = await api("GET", "/api/lan");
    if (stopped || !alive()) return;
    if (r.ok && r.data && typeof r.data === "object") render(r.data);
    else body.replaceChildren(errorBox(r.error || "The box sent no answer.", "lan-error"));
    timer = setTimeout(load, REFRESH_MS);
  }
  load();
  return { el, stop: () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    timer = null;
  } };
}

// devices.js
function renderDevices(rest, alive) {
  const admin = !!(state && state.user && state.user.admin);
  const list = h("div", { class: "list", testid: "device-list" }, h("p", { class: "loading", text: "Loading…" }));
  const shown = h("div", { testid: "device-password-box" });
  async function load() {
    const r = await api("GET", "/api/devices");
    if (!alive()) return;
    if (!r.ok) {
      list.replaceChildren(errorBox(r.error, "devices-error"));
      return;
    }
    const devices = Array.isArray(r.data) ? r.data : [];
    if (devices.length === 0) {
      list.replaceChildren(h("p", { class: "muted", testid: "no-devices", text: "No devices yet." }));
      return;
    }
    list.replaceChildren(h(
      "table",
      { class: "table" },
      h("thead", {}, h(
        "tr",
        {},
        admin ? h("th", { text: "User" }) : null,
        h("th", { text: "Device" }),
        h("th", { class: "hide-narrow", text: "Kind" }),
        h("th", { class: "hide-narrow", text: "Added" }),
        h("th", { text: "Last seen" }),
        h("th", { class: "hide-narrow", text: "From" }),
        h("th", { class: "col-actions" }, h("span", { class: "sr-only", text: "Actions" }))
      )),
      h("tbody", {}, devices.map((d) => deviceRow(d)))
    ));
  }
  function deviceRow(d) {
    const user = String(d.user);
    const name = String(d.name);
    const cell = h("td", { class: "col-actions" });
    const b = h("button", { type: "button", class: "btn btn-small btn-danger", text: "Revoke", testid: `revoke-${user}-${name}` });
    b.addEventListener("click", async () => {
      b.disabled = true;
      const r = await api("DELETE", `/api/devices/${encodeURIComponent(user)}/${encodeURIComponent(name)}`);
      if (!alive()) return;
      if (!r.ok) {
        b.disabled = false;
        cell.append(errorBox(r.error, `revoke-error-${name}`));
        return;
      }
      load();
    });
    cell.replaceChildren(b);
    return h(
      "tr",
      { testid: `device-row-${user}-${name}` },
      admin ? h("td", { text: user }) : null,
      h("td", {}, name, d.this ? h("span", { class: "muted", text: " (this tablet)" }) : null),
      h("td", { class: "hide-narrow", text: String(d.kind || "") }),
      h("td", { class: "hide-narrow", text: humanTime(d.created) }),
      h("td", { text: d.last_seen == null ? "never" : humanTime(d.last_seen) }),
      h("td", { class: "hide-narrow", text: d.last_address == null ? "–" : String(d.last_address) }),
      cell
    );
  }
  const id = "device";
  const form = h(
    "form",
    { id, class: "form card", testid: "form-device" },
    h(
      "div",
      { class: "grid" },
      field(id, { name: "name", label: "Device name (e.g. Anna’s iPad)", required: true, autocomplete: "off" }),
      admin ? field(id, { name: "user", label: "For user (empty: you)", autocomplete: "off" }) : null
    ),
    messageLine(id),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn btn-primary", text: "Add device", testid: "device-submit" }))
  );
  onSubmit(form, async (f) => {
    clearMessages(f);
    if (!requireFields(f, ["name"])) return;
    const body = { name: value(f, "name").trim() };
    if (admin && value(f, "user").trim()) body.user = value(f, "user").trim();
    const r = await api("POST", "/api/devices", body);
    if (!alive()) return;
    if (!r.ok) {
      showError(f, r.error, r.field);
      return;
    }
    f.reset();
    const address = `${location.origin}/dav/`;
    shown.replaceChildren(h(
      "div",
      { class: "card", role: "status", testid: "device-password" },
      h("p", { text: `Device “${r.data.name}” of ${r.data.user} added. In its WebDAV app use:` }),
      h(
        "dl",
        {},
        h("dt", { text: "Address" }),
        h("dd", { class: "mono", testid: "device-address", text: address }),
        h("dt", { text: "User" }),
        h("dd", { class: "mono", text: String(r.data.user) }),
        h("dt", { text: "Password" }),
        h("dd", { class: "mono", testid: "device-password-value", text: String(r.data.password) })
      ),
      h("p", { class: "muted", text: "The password is shown only now. Revoke the device here when it is lost." })
    ));
    load();
  });
  const pairing = h("div", {});
  let stopPairing = null;
  const addTablet = h("button", { type: "button", class: "btn btn-primary", text: "Add a tablet", testid: "add-tablet" });
  function pair() {
    if (stopPairing) stopPairing();
    addTablet.disabled = true;
    stopPairing = startPairing(pairing, alive, () => {
      addTablet.disabled = false;
      load();
    });
    pairing.scrollIntoView({ block: "nearest" });
  }
  addTablet.addEventListener("click", pair);
  const lan = lanSection(alive, admin, pair);
  main.append(h(
    "section",
    { testid: "page-devices" },
    pageHead("Devices", addTablet),
    pairing,
    list,
    shown,
    lan.el,
    h("h2", { text: "Add a device for a WebDAV app" }),
    form
  ));
  load();
  const timer = setInterval(() => {
    if (alive()) load();
  }, 1e4);
  return () => {
    clearInterval(timer);
    lan.stop();
    if (stopPairing) stopPairing();
  };
}
export {
  renderDevices
};
