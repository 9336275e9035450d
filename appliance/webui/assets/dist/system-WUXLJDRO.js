import {
  renderChrome,
  show
} from "./chunk-U2UVTWFW.js";
import {
  humanBytes
} from "./chunk-I4NXG573.js";
import {
  checkbox,
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
  setState,
  state
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
    h("section", { class: "section" }, h("h2", { text: "Update" }), updateCard(alive)),
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
var BUSY = ["queued", "downloading", "verifying", "writing"];
function updateCard(alive) {
  const box = h("div", { testid: "update" }, h("p", { class: "loading", text: "Loading…" }));
  let timer = null;
  async function load() {
    const r = await api("GET", "/api/system/update");
    if (!alive()) {
      if (timer) clearInterval(timer);
      return;
    }
    if (!r.ok) {
      box.replaceChildren(errorBox(r.error, "update-error"));
      return;
    }
    box.replaceChildren(...updateView(r.data || {}, load, alive));
    const busy = BUSY.includes(r.data && r.data.progress && r.data.progress.state);
    if (busy && !timer) timer = setInterval(load, 1e3);
    if (!busy && timer) {
      clearInterval(timer);
      timer = null;
    }
  }
  load();
  return box;
}
function slotText(slot) {
  const v = slot.version ? `microcloud ${slot.version}, ` : "";
  switch (slot.state) {
    case "good":
      return `${v}good${slot.booted ? " (running)" : ""}`;
    case "trying":
      return `${v}new, not yet found healthy (${slot.tries_left} tries left)${slot.booted ? " (running)" : ""}`;
    case "bad":
      return `${v}failed: it did not come up healthy in ${slot.tries_done} tries`;
    default:
      return "empty";
  }
}
function updateView(u, reload, alive) {
  const s = u.slots || null;
  const out = [];
  const facts = h(
    "dl",
    { class: "facts card" },
    h("dt", { text: "Running" }),
    h("dd", { testid: "update-running", text: u.running_version ? `microcloud ${u.running_version}` : "unknown version" })
  );
  if (s) {
    for (const slot of s.slots || []) {
      facts.append(h("dt", { text: `Slot ${slot.slot}` }), h("dd", { testid: `update-slot-${slot.slot}`, text: slotText(slot) }));
    }
    facts.append(h("dt", { text: "Next start" }), h("dd", { testid: "update-next", text: s.next ? `slot ${s.next}` : "–" }));
  } else if (u.slots_error) {
    facts.append(h("dt", { text: "Slots" }), h("dd", { text: u.slots_error }));
  }
  out.push(facts);
  const rb = s && s.rolled_back;
  if (rb) {
    const why = rb.reasons && rb.reasons[0] ? `Why: ${rb.reasons[0]}` : "No try got as far as checking the services: the system did not start.";
    out.push(h("p", {
      class: "notice is-error",
      role: "alert",
      testid: "update-rolled-back",
      text: `The update to microcloud ${rb.version} was rolled back: it did not come up healthy in ${rb.tries} tries, so the box went back to microcloud ${u.running_version || "it ran before"} by itself. ${why}`
    }));
  }
  const earlier = s && !BUSY.includes((u.progress || {}).state) ? (s.slots || []).find((x) => !x.booted && x.state === "good") : null;
  if (earlier && s.next !== earlier.slot) {
    out.push(h(
      "div",
      { class: "card" },
      h("p", { text: `The other slot holds microcloud ${earlier.version}, which ran well here. You can go back to it: your files, users and settings stay as they are.` }),
      h("div", { class: "actions" }, confirmButton({
        label: `Go back to microcloud ${earlier.version}`,
        question: `Start microcloud ${earlier.version} at the next restart?`,
        yes: "Yes, go back",
        testid: "update-rollback",
        danger: false,
        action: async () => {
          const r = await api("POST", "/api/system/update/rollback");
          if (!r.ok) return r.error;
          if (alive()) reload();
          return null;
        }
      }))
    ));
  }
  if (u.unflushed_bytes > 0) {
    out.push(h("p", {
      class: "notice",
      testid: "update-unflushed",
      text: `${humanBytes(u.unflushed_bytes)} of files are not in the cloud yet. You can update anyway: an update never touches your files, and they go to the cloud after the restart.`
    }));
  }
  const p = u.progress || {};
  const progressLine = h("p", { class: "form-msg", role: "status", "aria-live": "polite", testid: "update-progress-text" });
  const bar = h("progress", { max: "1", value: "0", testid: "update-progress", hidden: true });
  if (BUSY.includes(p.state)) {
    bar.hidden = false;
    if (p.total) {
      bar.max = p.total;
      bar.value = p.done || 0;
    } else bar.removeAttribute("value");
    const left = p.seconds_left > 0 ? `, about ${p.seconds_left} s left` : "";
    progressLine.textContent = p.state === "writing" ? `Writing ${String(p.step || "").replace(/^writing /, "")}: ${humanBytes(p.done || 0)} of ${humanBytes(p.total || 0)}${left}` : p.message || `${p.state}…`;
  } else if (p.state === "done") {
    progressLine.textContent = `${p.message}. Restart the box to run it.`;
    progressLine.className = "form-msg is-ok";
  } else if (p.state === "failed") {
    progressLine.textContent = `The update was not applied: ${p.message}`;
    progressLine.className = "form-msg is-error";
  } else if (p.state === "interrupted") {
    progressLine.textContent = `The update was not applied: ${p.message}.`;
    progressLine.className = "form-msg is-error";
  }
  const fid = "update-form";
  const fileInput = h("input", { type: "file", id: `${fid}-bundle`, name: "bundle", accept: ".update", class: "input", testid: "input-update-bundle" });
  const form = h(
    "form",
    { id: fid, class: "form card", testid: "form-update" },
    h("p", { text: "An update is written to the system slot that is not running; your files, users and settings are not touched. The box checks the bundle, then writes it (usually under a minute) while it goes on serving files. After a restart (a minute or two without the box) it runs the update, and goes back to this version by itself if the update does not come up healthy in three tries." }),
    h(
      "div",
      { class: "field" },
      h("label", { for: `${fid}-bundle`, text: "Update bundle (microcloud-VERSION.update)" }),
      fileInput,
      h("p", { class: "field-error", "data-error-for": "bundle", testid: `error-${fid}-bundle`, "aria-live": "polite" })
    ),
    field(fid, { name: "url", label: "or its address", optional: true, placeholder: "https://…/microcloud-VERSION.update", type: "url" }),
    checkbox(fid, { name: "force", label: "Install anyway if it is not newer than the running version" }),
    bar,
    progressLine,
    messageLine(fid),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn btn-primary", text: "Apply update", testid: "update-submit", disabled: BUSY.includes(p.state) }))
  );
  onSubmit(form, async (f) => {
    clearMessages(f);
    const force = f.elements.force.checked ? "?force=true" : "";
    const file = fileInput.files && fileInput.files[0];
    const url = value(f, "url").trim();
    if (!file && !url) {
      showError(f, "Choose a bundle file or give its address.", "bundle");
      return;
    }
    let r;
    if (file) {
      bar.hidden = false;
      r = await upload(`/api/system/update${force}`, file, (done, total) => {
        bar.max = total;
        bar.value = done;
        progressLine.textContent = `Uploading: ${humanBytes(done)} of ${humanBytes(total)}`;
      });
    } else {
      r = await api("POST", `/api/system/update${force}`, { url });
    }
    if (!alive()) return;
    if (!r.ok) {
      bar.hidden = true;
      progressLine.textContent = "";
      showError(f, r.error, r.field === "force" ? "bundle" : r.field);
      return;
    }
    showOk(f, r.data && r.data.message ? r.data.message : "The update is being applied.");
    reload();
  });
  out.push(form);
  return out;
}
function upload(path, file, onProgress) {
  return new Promise((resolve) => {
    const x = new XMLHttpRequest();
    x.open("POST", path);
    x.setRequestHeader("Content-Type", "application/octet-stream");
    x.setRequestHeader("Accept", "application/json");
    if (state && state.csrf) x.setRequestHeader("X-CSRF-Token", state.csrf);
    x.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    };
    x.onload = () => {
      let data = null;
      try {
        data = JSON.parse(x.responseText);
      } catch (e) {
        data = null;
      }
      const ok = x.status >= 200 && x.status < 300;
      resolve({ ok, status: x.status, data, error: ok ? null : data && data.error || `the box answered ${x.status}`, field: data && data.field });
    };
    x.onerror = () => resolve({ ok: false, status: 0, data: null, error: "the upload broke off: check the connection to the box and try again", field: "bundle" });
    x.send(file);
  });
}
export {
  renderSystem
};
