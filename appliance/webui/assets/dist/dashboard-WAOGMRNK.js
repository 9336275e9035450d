import {
  reportText
} from "./chunk-F22VF3A6.js";
import {
  activityTime,
  clockTime,
  exactTime,
  humanAge,
  humanBytes,
  percent,
  percentText
} from "./chunk-I4NXG573.js";
import {
  api,
  h,
  main,
  pageHead
} from "./chunk-HKOKOT5A.js";

// dashboard.js
var STATE_TEXT = { ok: "ok", retrying: "retrying", down: "down" };
function renderDashboard(rest, alive) {
  const body = h("div", { class: "dash", testid: "dashboard" }, h("p", { class: "loading", text: "Loading…" }));
  const updated = h("span", { class: "updated", testid: "dashboard-updated" });
  const guard = guardBox(alive, () => {
    if (timer) {
      clearTimeout(timer);
      tick();
    }
  });
  main.append(h("section", { testid: "page-dashboard" }, pageHead("Dashboard", updated), guard.el, body));
  let timer = null;
  let running = false;
  async function tick() {
    timer = null;
    if (!alive()) return;
    if (document.visibilityState === "visible" && !running) {
      running = true;
      const r = await api("GET", "/api/status");
      running = false;
      if (!alive()) return;
      if (r.ok && r.data) {
        guard.show(Array.isArray(r.data.guard) ? r.data.guard : []);
        body.replaceChildren(...statusView(r.data));
        updated.textContent = `updated ${clockTime(/* @__PURE__ */ new Date())}`;
        updated.classList.remove("stale");
      } else if (r.status !== 401) {
        updated.textContent = `not updated: ${r.error}`;
        updated.classList.add("stale");
      }
    }
    if (alive()) timer = setTimeout(tick, 1e3);
  }
  const onVisible = () => {
    if (document.visibilityState === "visible" && timer) {
      clearTimeout(timer);
      tick();
    }
  };
  document.addEventListener("visibilitychange", onVisible);
  tick();
  return () => {
    if (timer) clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisible);
  };
}
function bar(fraction, testid, label, kind) {
  const p = percent(fraction);
  const fill = h("div", { class: "bar-fill" });
  fill.style.width = `${p.toFixed(1)}%`;
  return h(
    "div",
    { class: "bar" + (kind ? " bar-" + kind : ""), role: "meter", "aria-label": label, "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": p.toFixed(1), testid, "data-value": (typeof fraction === "number" ? fraction : 0).toFixed(4) },
    fill
  );
}
function statusView(s) {
  const dests = Array.isArray(s.destinations) ? s.destinations : [];
  const activity = Array.isArray(s.activity) ? s.activity : [];
  const cacheUsed = typeof s.cache_used_fraction === "number" ? s.cache_used_fraction : 0;
  const summary = h(
    "div",
    { class: "tiles" },
    h(
      "div",
      { class: "tile" },
      h("div", { class: "tile-label", text: "Files kept" }),
      h("div", { class: "tile-value", testid: "total-files", text: String(s.files ?? "–") }),
      h("div", { class: "tile-sub", testid: "total-bytes", text: humanBytes(s.bytes) })
    ),
    h(
      "div",
      { class: "tile tile-wide" },
      h("div", { class: "tile-label", text: "Cache on this box" }),
      h("div", { class: "tile-value", testid: "cache-used-text", text: `${percentText(cacheUsed)} used` }),
      bar(cacheUsed, "cache-used", "cache used", cacheUsed > 0.9 ? "warn" : ""),
      h("div", { class: "tile-sub", text: `of ${humanBytes(s.cache_limit)}` })
    ),
    h(
      "div",
      { class: "tile tile-wide" },
      h("div", { class: "tile-label", text: "Waiting for the cloud" }),
      h("div", { class: "tile-value", testid: "dirty-bytes", text: humanBytes(s.dirty_bytes) }),
      bar(s.dirty_fraction, "dirty-fraction", "waiting for the cloud, part of the cache", "dirty"),
      h("div", { class: "tile-sub", testid: "dirty-fraction-text", text: `${percentText(s.dirty_fraction)} of the cache` })
    )
  );
  const destSection = h("section", { class: "section", testid: "destinations-status" }, h("h2", { text: "Destinations" }));
  if (dests.length === 0) {
    destSection.append(h(
      "p",
      { class: "empty", testid: "no-destinations" },
      "No destinations yet: your files are kept only on this box. ",
      h("a", { href: "#/destinations", testid: "link-add-destination", text: "Add a destination" }),
      " to have them copied to the cloud."
    ));
  } else {
    destSection.append(h("div", { class: "cards" }, dests.map(destCard)));
  }
  const act = h("section", { class: "section" }, h("h2", { text: "Recent activity" }));
  const versions = versionsSection(s.versions);
  if (activity.length === 0) {
    act.append(h("p", { class: "empty", testid: "activity-empty", text: "Nothing yet." }));
  } else {
    act.append(h("ol", { class: "activity", testid: "activity" }, activity.slice(0, 20).map((a) => h("li", {}, h("time", { text: activityTime(a.time) }), h("span", { text: String(a.what ?? "") })))));
  }
  return [summary, destSection, versions, act];
}
function versionsSection(v) {
  const sec = h("section", { class: "section", testid: "versions-status" }, h("h2", { text: "Versions" }));
  if (!v || typeof v !== "object") return sec;
  const days = typeof v.keep_days === "number" ? v.keep_days : null;
  sec.append(h(
    "div",
    { class: "card" },
    h(
      "dl",
      { class: "facts" },
      h("dt", { text: "Versions kept" }),
      h("dd", { testid: "versions-count", text: String(v.versions ?? "–") }),
      h("dt", { text: "Space only versions use" }),
      h("dd", { testid: "versions-bytes", text: humanBytes(v.bytes) }),
      h("dt", { text: "Of it on this box" }),
      h("dd", { testid: "versions-local-bytes", text: humanBytes(v.local_bytes) }),
      h("dt", { text: "Pinned by the guard" }),
      h("dd", { testid: "versions-pinned", class: v.pinned ? "warn-text" : "", text: String(v.pinned ?? "–") }),
      h("dt", { text: "Kept for" }),
      h("dd", { testid: "versions-keep-days", text: days === 0 ? "versions are off" : days == null ? "–" : `${days} day${days === 1 ? "" : "s"}` })
    )
  ));
  return sec;
}
function guardBox(alive, changed) {
  const el = h("div", { class: "guard", testid: "guard" });
  const result = h("p", { class: "form-msg", role: "status", "aria-live": "polite", testid: "guard-result" });
  let last = null;
  const confirming = /* @__PURE__ */ new Set();
  function show(trips) {
    const json = JSON.stringify(trips);
    if (json === last) return;
    last = json;
    draw(trips);
  }
  function draw(trips) {
    el.replaceChildren(...trips.map(banner), result);
  }
  function banner(t) {
    const id = String(t.id);
    const user = String(t.user);
    const when = exactTime(t.since);
    const minutes = Math.max(1, Math.round((typeof t.window_s === "number" ? t.window_s : 600) / 60));
    const msg = h("p", { class: "form-msg", testid: `guard-msg-${id}` });
    const say = (text, kind) => {
      msg.textContent = text;
      msg.className = "form-msg" + (kind ? ` is-${kind}` : "");
      msg.setAttribute("role", kind === "error" ? "alert" : "status");
    };
    async function decide(action, buttons) {
      for (const b of buttons) b.disabled = true;
      say(action === "rollback" ? `Rolling ${user} back…` : "Saving…", "busy");
      const r = await api("POST", `/api/guard/${encodeURIComponent(id)}`, { action });
      if (!alive()) return;
      for (const b of buttons) b.disabled = false;
      if (!r.ok) {
        say(r.error, "error");
        return;
      }
      confirming.delete(id);
      result.textContent = action === "rollback" ? `${user}'s files are back as they were before ${when}: ${reportText(r.data && r.data.report)} What was changed since is kept as versions.` : `${user}'s files are kept as they are.`;
      result.className = "form-msg is-ok";
      last = null;
      changed();
    }
    const back = h("button", { type: "button", class: "btn btn-danger", testid: `guard-rollback-${id}`, text: `Roll ${user} back to before ${when}` });
    const keep = h("button", { type: "button", class: "btn", testid: `guard-keep-${id}`, text: "Keep as is" });
    const actions = h("div", { class: "actions" }, back, keep);
    function ask() {
      const yes = h("button", { type: "button", class: "btn btn-danger", testid: `guard-rollback-yes-${id}`, text: `Yes, roll ${user} back` });
      const no = h("button", { type: "button", class: "btn btn-quiet", testid: `guard-rollback-no-${id}`, text: "Cancel" });
      no.addEventListener("click", () => {
        confirming.delete(id);
        actions.replaceChildren(back, keep);
      });
      yes.addEventListener("click", () => decide("rollback", [yes, no]));
      actions.replaceChildren(
        h("span", { class: "confirm-question", text: `Put every file of ${user} back as it was just before ${when}, in one step? What changed since is kept as versions.` }),
        yes,
        no
      );
      yes.focus();
    }
    back.addEventListener("click", () => {
      confirming.add(id);
      ask();
    });
    keep.addEventListener("click", () => decide("keep", [back, keep]));
    if (confirming.has(id)) ask();
    return h(
      "section",
      { class: "guard-banner", role: "alert", testid: `guard-trip-${id}` },
      h("h2", { text: "Ransomware guard" }),
      h("p", { testid: `guard-text-${id}`, text: `${user} changed ${t.changes} files in ${minutes} minutes since ${when}${t.device == null ? "" : ` (device ${t.device})`}.` }),
      h("p", { class: "muted", text: `Everything from before is kept until you decide. ${user} had ${t.files} files.` }),
      actions,
      msg
    );
  }
  return { el, show };
}
function destCard(d) {
  const name = String(d.name);
  const st = String(d.state);
  const conflicts = typeof d.conflicts === "number" ? d.conflicts : 0;
  return h(
    "article",
    { class: "card dest-card", testid: `dest-${name}` },
    h(
      "div",
      { class: "card-head" },
      h("h3", { text: name }),
      h("span", { class: `badge state-${STATE_TEXT[st] ? st : "unknown"}`, testid: `dest-${name}-state`, text: STATE_TEXT[st] || st })
    ),
    h(
      "dl",
      { class: "facts" },
      h("dt", { text: "Files waiting" }),
      h("dd", { testid: `pending-files-${name}`, text: String(d.pending_files ?? "–") }),
      h("dt", { text: "Bytes waiting" }),
      h("dd", { testid: `pending-bytes-${name}`, text: humanBytes(d.pending_bytes) }),
      h("dt", { text: "Oldest waiting" }),
      h("dd", { testid: `oldest-pending-${name}`, text: d.pending_files ? humanAge(d.oldest_pending_age_seconds) : "–" }),
      h("dt", { text: "Conflicts" }),
      h("dd", { testid: `conflicts-${name}`, class: conflicts ? "warn-text" : "", text: String(conflicts) })
    ),
    d.last_error ? h("p", { class: "last-error", testid: `last-error-${name}` }, h("strong", { text: "Last error: " }), String(d.last_error)) : null
  );
}
export {
  renderDashboard
};
