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
  loadState,
  main
} from "./chunk-HKOKOT5A.js";

// pair.js
var POLL_MS = 1e3;
function startPairing(host, alive, done) {
  const card = h("div", { class: "card pairing", testid: "pairing" }, h("p", { class: "loading", text: "Starting…" }));
  host.replaceChildren(card);
  let timer = null;
  const stop = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  (async () => {
    const r = await api("POST", "/api/pairings", {});
    if (!alive()) return;
    if (!r.ok) {
      card.replaceChildren(errorBox(r.error, "pairing-error"));
      return;
    }
    const p = r.data;
    const left = h("span", { testid: "pairing-expires" });
    card.replaceChildren(...[
      h("h2", { text: "Add a tablet" }),
      h("p", { text: "On the new tablet, scan this code with the camera, or open the address below and type the code." }),
      h("img", { src: String(p.qr), alt: "QR code of the pairing address", class: "qr", width: 240, height: 240, testid: "pairing-qr" }),
      h("p", {}, "Address: ", h("span", { class: "mono", testid: "pairing-address", text: String(p.pair_url) })),
      h("p", {}, "Code: ", h("strong", { class: "mono code", testid: "pairing-code", text: String(p.code) })),
      p.ca_fingerprint ? h("p", { class: "muted small" }, "The box’s certificate (SHA-256): ", h("span", { class: "mono", testid: "pairing-fingerprint", text: String(p.ca_fingerprint) })) : null,
      h("p", { class: "muted" }, "The code works once, for ", left, "."),
      h("div", { class: "actions" }, h("button", { type: "button", class: "btn btn-quiet", text: "Cancel", testid: "pairing-cancel", onclick: async () => {
        stop();
        await api("POST", `/api/pairings/${encodeURIComponent(p.id)}/refuse`);
        host.replaceChildren();
        done();
      } }))
    ].filter(Boolean));
    const poll = async () => {
      timer = null;
      if (!alive()) return;
      const v = await api("GET", `/api/pairings/${encodeURIComponent(p.id)}`);
      if (!alive()) return;
      if (!v.ok) {
        card.replaceChildren(errorBox(v.error, "pairing-error"));
        return;
      }
      const s = v.data;
      if (s.state === "open") {
        left.textContent = `${Math.floor(s.expires_in / 60)} min ${s.expires_in % 60} s`;
      } else if (s.state === "claimed") {
        showClaimed(s);
        return;
      } else {
        card.replaceChildren(errorBox(s.state === "expired" ? "The pairing expired. Start a new one." : "The pairing ended.", "pairing-error"));
        done();
        return;
      }
      timer = setTimeout(poll, POLL_MS);
    };
    const showClaimed = (s) => {
      const approve = h("button", { type: "button", class: "btn btn-primary", text: "The numbers match: add it", testid: "pairing-approve" });
      const refuse = h("button", { type: "button", class: "btn btn-danger", text: "They differ: refuse", testid: "pairing-refuse" });
      const msg = h("div", {});
      card.replaceChildren(
        h("h2", { text: "Check the number" }),
        h("p", { text: `A tablet (${s.kind}, ${s.address}) calling itself “${s.device_name}” sent the code. It shows this number:` }),
        h("p", { class: "confirmation mono", testid: "pairing-confirmation", text: String(s.confirmation) }),
        h("p", { text: "Add it only if the new tablet shows the same number." }),
        h("div", { class: "actions" }, approve, refuse),
        msg
      );
      approve.addEventListener("click", async () => {
        approve.disabled = refuse.disabled = true;
        const a = await api("POST", `/api/pairings/${encodeURIComponent(p.id)}/approve`);
        if (!alive()) return;
        if (!a.ok) {
          msg.replaceChildren(errorBox(a.error, "pairing-error"));
          return;
        }
        card.replaceChildren(h("p", { class: "ok-box", role: "status", testid: "pairing-done", text: `“${a.data.device_name}” is one of your devices now.` }));
        done();
      });
      refuse.addEventListener("click", async () => {
        approve.disabled = refuse.disabled = true;
        await api("POST", `/api/pairings/${encodeURIComponent(p.id)}/refuse`);
        if (!alive()) return;
        card.replaceChildren(h("p", { role: "status", testid: "pairing-refused", text: "Refused. The other tablet was not added." }));
        done();
      });
    };
    poll();
  })();
  return stop;
}
function guessName() {
  const ua = navigator.userAgent;
  for (const [k, v] of [["iPad", "iPad"], ["iPhone", "iPhone"], ["Android", "Android tablet"], ["Windows", "Windows PC"], ["Macintosh", "Mac"], ["Linux", "Linux computer"]]) {
    if (ua.includes(k)) return v;
  }
  return "Tablet";
}
function renderPair() {
  const token = location.hash.replace(/^#/, "");
  const id = "pair";
  const form = h(
    "form",
    { id, class: "form card", testid: "form-pair", autocomplete: "off" },
    token ? null : field(id, { name: "code", label: "Pairing code (shown on the other tablet)", required: true, autocomplete: "off" }),
    field(id, { name: "device_name", label: "Name of this tablet", required: true, value: guessName(), autocomplete: "off" }),
    messageLine(id),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn btn-primary", text: "Pair", testid: "pair-submit" }))
  );
  const section = h(
    "section",
    { class: "narrow", testid: "page-pair" },
    h("h1", { text: "Pair this tablet" }),
    h("p", { class: "lead", text: token ? "The code came with the address. Name this tablet and pair it." : "On a tablet that is signed in, open Devices and tap “Add a tablet”, then type the code it shows." }),
    form
  );
  main.replaceChildren(section);
  onSubmit(form, async (f) => {
    clearMessages(f);
    if (!requireFields(f, token ? ["device_name"] : ["code", "device_name"])) return;
    const body = { code: token || value(f, "code").trim(), device_name: value(f, "device_name").trim() };
    const r = await api("POST", "/api/pair/claim", body, { quiet401: true });
    if (!r.ok) {
      showError(f, r.error, r.field);
      return;
    }
    waiting(r.data);
  });
  function waiting(c) {
    const status = h("p", { class: "muted", testid: "pair-status", text: `Waiting for ${c.user} to approve on the other tablet…` });
    section.replaceChildren(
      h("h1", { text: "Check the number" }),
      h("p", { text: "The other tablet shows a number. Check that it is this one:" }),
      h("p", { class: "confirmation mono", testid: "pair-confirmation", text: String(c.confirmation) }),
      status
    );
    const poll = async () => {
      const r = await api("POST", "/api/pair/status", { claim: c.claim }, { quiet401: true });
      if (r.ok && r.data.state === "waiting") {
        setTimeout(poll, POLL_MS);
        return;
      }
      if (!r.ok) {
        status.replaceWith(errorBox(r.error, "pair-error"));
        return;
      }
      await loadState();
      paired(r.data);
    };
    setTimeout(poll, POLL_MS);
  }
  function paired(d) {
    section.replaceChildren(
      h("h1", { text: "Paired" }),
      h("p", { class: "ok-box", role: "status", testid: "pair-done", text: `This tablet is “${d.device_name}”, one of ${d.user}’s devices. You are signed in.` }),
      h("h2", { text: "For a WebDAV app on this tablet" }),
      h(
        "dl",
        {},
        h("dt", { text: "Address" }),
        h("dd", { class: "mono", testid: "pair-dav-url", text: String(d.dav_url) }),
        h("dt", { text: "User" }),
        h("dd", { class: "mono", text: String(d.user) }),
        h("dt", { text: "Password" }),
        h("dd", { class: "mono", testid: "pair-device-password", text: String(d.password) })
      ),
      h("img", { src: String(d.dav_qr), alt: "QR code of the WebDAV address, user and password", class: "qr", width: 200, height: 200, testid: "pair-dav-qr" }),
      h("p", { class: "muted", text: "The password is shown only now. It belongs to this tablet alone: removing the tablet in Devices stops it." }),
      h("div", { class: "actions" }, h("a", { href: "/#/files", class: "btn btn-primary", text: "Go to my files", testid: "pair-continue" }))
    );
  }
}

export {
  startPairing,
  renderPair
};
