import {
  renderChrome,
  show
} from "./chunk-U2UVTWFW.js";
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
  fetchState,
  h,
  loadState,
  main,
  pageHead,
  setState
} from "./chunk-HKOKOT5A.js";

// system.js
function renderSystem(rest, alive) {
  const body = h("div", { testid: "system" }, h("p", { class: "loading", text: "Loading…" }));
  main.append(h("section", { testid: "page-system" }, pageHead("System"), body));
  async function load() {
    const r = await api("GET", "/api/system");
    if (!alive()) return;
    if (r.status === 503) {
      body.replaceChildren(h("p", { class: "notice", testid: "system-unavailable", text: r.error }));
      return;
    }
    if (!r.ok) {
      body.replaceChildren(errorBox(r.error, "system-error"));
      return;
    }
    body.replaceChildren(...systemView(r.data || {}, load, alive));
  }
  load();
}
function systemView(s, reload, alive) {
  const net = Array.isArray(s.network) ? s.network : [];
  const info = h(
    "section",
    { class: "section" },
    h("h2", { text: "This box" }),
    h(
      "dl",
      { class: "facts card" },
      h("dt", { text: "Hostname" }),
      h("dd", { testid: "system-hostname", text: String(s.hostname ?? "") }),
      h("dt", { text: "Time zone" }),
      h("dd", { testid: "system-timezone", text: String(s.timezone ?? "") })
    ),
    h("h2", { text: "Network" }),
    net.length === 0 ? h("p", { class: "empty", text: "No network interfaces reported." }) : h(
      "table",
      { class: "table", testid: "network" },
      h("thead", {}, h("tr", {}, h("th", { text: "Interface" }), h("th", { text: "State" }), h("th", { text: "Addresses" }))),
      h("tbody", {}, net.map((n) => h(
        "tr",
        {},
        h("td", { class: "mono", text: String(n.name ?? "") }),
        h("td", { text: String(n.state ?? "") }),
        h("td", { class: "mono wrap", text: (Array.isArray(n.addresses) ? n.addresses : []).join(", ") || "–" })
      )))
    )
  );
  const hid = "hostname";
  const hostForm = h(
    "form",
    { id: hid, class: "form card", testid: "form-hostname" },
    field(hid, { name: "hostname", label: "Hostname", value: s.hostname || "", hint: "Letters, digits and dashes. The box is found on the network as <hostname>.local." }),
    messageLine(hid),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn btn-primary", text: "Set hostname", testid: "hostname-submit" }))
  );
  onSubmit(hostForm, async (f) => {
    clearMessages(f);
    if (!requireFields(f, ["hostname"])) return;
    const hostname = value(f, "hostname").trim();
    const r = await api("PUT", "/api/system/hostname", { hostname });
    if (!alive()) return;
    if (!r.ok) {
      showError(f, r.error, r.field);
      return;
    }
    showOk(f, `Hostname set to ${hostname}.`);
    await loadState();
    renderChrome();
  });
  const tid = "timezone";
  let zones = [];
  try {
    zones = Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [];
  } catch (e) {
    zones = [];
  }
  const tzForm = h(
    "form",
    { id: tid, class: "form card", testid: "form-timezone" },
    field(tid, { name: "timezone", label: "Time zone", value: s.timezone || "", list: "tz-list", placeholder: "e.g. Europe/Berlin" }),
    h("datalist", { id: "tz-list" }, zones.map((z) => h("option", { value: z }))),
    messageLine(tid),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn btn-primary", text: "Set time zone", testid: "timezone-submit" }))
  );
  onSubmit(tzForm, async (f) => {
    clearMessages(f);
    if (!requireFields(f, ["timezone"])) return;
    const timezone = value(f, "timezone").trim();
    const r = await api("PUT", "/api/system/timezone", { timezone });
    if (!alive()) return;
    if (!r.ok) {
      showError(f, r.error, r.field);
      return;
    }
    showOk(f, `Time zone set to ${timezone}.`);
  });
  const powerMsg = h("p", { class: "form-msg", testid: "msg-power", role: "status", "aria-live": "polite" });
  const power = h(
    "section",
    { class: "section" },
    h("h2", { text: "Power" }),
    h(
      "div",
      { class: "card power" },
      h(
        "div",
        { class: "actions" },
        confirmButton({
          label: "Restart",
          question: "Restart the box now? Transfers in progress resume afterwards.",
          yes: "Yes, restart",
          testid: "reboot",
          danger: false,
          action: async () => {
            const r = await api("POST", "/api/system/reboot");
            if (!r.ok) return r.error;
            powerMsg.textContent = "The box is restarting. This page comes back by itself when it is up again.";
            powerMsg.className = "form-msg is-ok";
            waitForBox();
            return null;
          }
        }),
        confirmButton({
          label: "Power off",
          question: "Switch the box off? It stays off until its power button is pressed or it is plugged in again.",
          yes: "Yes, power off",
          testid: "poweroff",
          action: async () => {
            const r = await api("POST", "/api/system/poweroff");
            if (!r.ok) return r.error;
            powerMsg.textContent = "The box is switching off. You can unplug it once its lights are off.";
            powerMsg.className = "form-msg is-ok";
            return null;
          }
        })
      ),
      powerMsg
    )
  );
  const rid = "reset";
  const resetInput = h("input", { id: `${rid}-confirm`, name: "confirm", class: "input", autocomplete: "off", autocapitalize: "off", spellcheck: "false", placeholder: "factory reset", testid: "input-reset-confirm" });
  const resetBtn = h("button", { type: "submit", class: "btn btn-danger", text: "Erase everything", disabled: true, testid: "reset-submit" });
  const resetForm = h(
    "form",
    { id: rid, class: "form card danger-zone", testid: "form-reset" },
    h("p", { text: "A factory reset erases every file, user, key and destination on this box and starts setup again. Copies at your destinations are not touched." }),
    h(
      "div",
      { class: "field" },
      h("label", { for: `${rid}-confirm` }, "Type ", h("strong", { text: "factory reset" }), " to confirm"),
      resetInput,
      h("p", { class: "field-error", "data-error-for": "confirm", testid: "error-reset-confirm" })
    ),
    messageLine(rid),
    h("div", { class: "actions" }, resetBtn)
  );
  const syncReset = () => {
    resetBtn.disabled = resetInput.value.trim() !== "factory reset";
  };
  resetInput.addEventListener("input", syncReset);
  onSubmit(resetForm, async (f) => {
    clearMessages(f);
    if (resetInput.value.trim() !== "factory reset") {
      showError(f, "Type “factory reset” exactly.", "confirm");
      return;
    }
    const r = await api("POST", "/api/system/factory-reset", { confirm: "factory reset" });
    if (!alive()) return;
    if (!r.ok) {
      showError(f, r.error, r.field);
      return;
    }
    f.reset();
    showOk(f, "The box is erasing everything and will start setup again.");
    waitForBox();
  }, syncReset);
  return [
    info,
    h("section", { class: "section" }, h("h2", { text: "Settings" }), h("div", { class: "two" }, hostForm, tzForm)),
    power,
    h("section", { class: "section" }, h("h2", { text: "Factory reset" }), resetForm)
  ];
}
function waitForBox() {
  let tries = 0;
  const t = setInterval(async () => {
    tries++;
    const s = await fetchState();
    if (s && (tries > 5 || s.onboarding)) {
      clearInterval(t);
      setState(s);
      show();
    } else if (tries > 300) {
      clearInterval(t);
    }
  }, 2e3);
}
export {
  renderSystem
};
