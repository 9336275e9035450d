import {
  OFFLINE,
  errorBox,
  h,
  loadState,
  main,
  pageScrolled,
  state
} from "./chunk-HKOKOT5A.js";

// router.js
var nav = document.getElementById("nav");
var who = document.getElementById("who");
var view = null;
var generation = 0;
var PAGES = [];
var renderSetup = null;
var renderSignin = null;
var chromeHook = null;
function onChrome(fn) {
  chromeHook = fn;
}
function setPages(pages, setup, signin) {
  PAGES = pages;
  renderSetup = setup;
  renderSignin = signin;
}
function currentRoute() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [route, ...rest] = raw.split("/");
  return { route: route || "", rest };
}
function redirect(route) {
  history.replaceState(null, "", "#/" + route);
  show();
}
function stopView() {
  generation++;
  if (view && view.stop) {
    try {
      view.stop();
    } catch (e) {
    }
  }
  view = null;
}
function startView(route, render, rest) {
  stopView();
  main.replaceChildren();
  const my = generation;
  const alive = () => my === generation;
  view = { route, stop: null };
  const before = document.activeElement;
  const stop = render(rest, alive);
  if (view && alive()) view.stop = stop || null;
  if (pageScrolled()) window.scrollTo(0, 0);
  requestAnimationFrame(() => {
    if (!alive()) return;
    const at = document.activeElement;
    if (!(at && at !== before && main.contains(at))) main.focus({ preventScroll: true });
  });
}
function homeRoute() {
  return state && state.user && state.user.admin ? "dashboard" : "files";
}
function renderChrome() {
  const host = state && state.hostname ? state.hostname : "";
  document.getElementById("hostname").textContent = host;
  document.title = host ? `${host} · microcloud` : "microcloud";
  const user = state && !state.onboarding ? state.user : null;
  if (chromeHook) chromeHook();
  if (!user) {
    nav.hidden = true;
    who.hidden = true;
    nav.replaceChildren();
    return;
  }
  who.hidden = false;
  document.getElementById("user-name").textContent = user.name + (user.admin ? " · admin" : "");
  const { route } = currentRoute();
  const here = (PAGES.find((p) => p.route === route) || {}).under || route;
  nav.replaceChildren(...PAGES.filter((p) => (user.admin || !p.admin) && !p.under).map((p) => {
    const n = p.badge ? p.badge() : 0;
    return h(
      "a",
      { href: "#/" + p.route, class: "nav-link", testid: `nav-${p.route}`, "aria-current": p.route === here ? "page" : null },
      p.label,
      p.badge ? h("span", { class: "nav-badge", testid: `nav-${p.route}-badge`, hidden: !n, text: n ? String(n) : "" }) : null
    );
  }));
  nav.hidden = false;
}
async function show() {
  if (!state) {
    await loadState();
    if (!state) {
      stopView();
      renderChrome();
      main.replaceChildren(
        errorBox(OFFLINE, "offline"),
        h("button", { type: "button", class: "btn", text: "Try again", onclick: () => show() })
      );
      return;
    }
  }
  const { route, rest } = currentRoute();
  if (state.onboarding) {
    if (route !== "setup") return redirect("setup");
    renderChrome();
    if (!view || view.route !== "setup") startView("setup", renderSetup, rest);
    return;
  }
  if (!state.user) {
    if (route !== "signin") return redirect("signin");
    renderChrome();
    if (!view || view.route !== "signin") startView("signin", renderSignin, rest);
    return;
  }
  const page = PAGES.find((p) => p.route === route);
  if (!page || page.admin && !state.user.admin) return redirect(homeRoute());
  renderChrome();
  startView(route, page.render, rest);
}

export {
  onChrome,
  setPages,
  redirect,
  stopView,
  homeRoute,
  renderChrome,
  show
};
