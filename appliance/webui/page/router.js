// Hash routing: which page shows, the header and the navigation. The pages themselves are
// listed in main.js, which hands them over with setPages.

import { h, main, errorBox, pageScrolled } from './dom.js';
import { OFFLINE, state, loadState } from './api.js';

const nav = document.getElementById('nav');
const who = document.getElementById('who');

/** The page on screen: { route, stop() }. */
let view = null;
/** Bumped on every page change, so late answers for a left page are dropped. */
let generation = 0;

/**
 * The signed-in pages ({ route, label, admin, render, under }), and the setup and sign-in pages.
 * A page `under` another has no link of its own: it is reached from that page, whose link
 * shows as current.
 */
let PAGES = [];
let renderSetup = null;
let renderSignin = null;
/** Runs whenever the header is drawn, as the session may have changed (live.js follows it). */
let chromeHook = null;

export function onChrome(fn) {
  chromeHook = fn;
}

export function setPages(pages, setup, signin) {
  PAGES = pages;
  renderSetup = setup;
  renderSignin = signin;
}

function currentRoute() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [route, ...rest] = raw.split('/');
  return { route: route || '', rest };
}

export function redirect(route) {
  history.replaceState(null, '', '#/' + route);
  show();
}

export function stopView() {
  generation++;
  if (view && view.stop) {
    try { view.stop(); } catch (e) { /* the page is going anyway */ }
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
  // Scrolling back up only when the last view was scrolled, and the focus in the next frame: either
  // one now makes the browser lay out the page before the view has drawn (a whole extra layout,
  // tens of ms of a tablet's first load).
  if (pageScrolled()) window.scrollTo(0, 0);
  requestAnimationFrame(() => {
    if (!alive()) return;
    const at = document.activeElement;
    // A view that put the focus on one of its own fields (a form's first) keeps it.
    if (!(at && at !== before && main.contains(at))) main.focus({ preventScroll: true });
  });
}

export function homeRoute() {
  return state && state.user && state.user.admin ? 'dashboard' : 'files';
}

export function renderChrome() {
  const host = state && state.hostname ? state.hostname : '';
  document.getElementById('hostname').textContent = host;
  document.title = host ? `${host} · microcloud` : 'microcloud';
  const user = state && !state.onboarding ? state.user : null;
  if (chromeHook) chromeHook();
  if (!user) {
    nav.hidden = true;
    who.hidden = true;
    nav.replaceChildren();
    return;
  }
  who.hidden = false;
  document.getElementById('user-name').textContent = user.name + (user.admin ? ' · admin' : '');
  const { route } = currentRoute();
  const here = (PAGES.find((p) => p.route === route) || {}).under || route;
  nav.replaceChildren(...PAGES.filter((p) => (user.admin || !p.admin) && !p.under).map((p) => {
    // A count beside the label (the inbox's): kept up to date by the page's own module.
    const n = p.badge ? p.badge() : 0;
    return h('a', { href: '#/' + p.route, class: 'nav-link', testid: `nav-${p.route}`, 'aria-current': p.route === here ? 'page' : null },
      p.label,
      p.badge ? h('span', { class: 'nav-badge', testid: `nav-${p.route}-badge`, hidden: !n, text: n ? String(n) : '' }) : null);
  }));
  nav.hidden = false;
}

export async function show() {
  if (!state) {
    await loadState();
    if (!state) {
      stopView();
      renderChrome();
      main.replaceChildren(
        errorBox(OFFLINE, 'offline'),
        h('button', { type: 'button', class: 'btn', text: 'Try again', onclick: () => show() }));
      return;
    }
  }
  const { route, rest } = currentRoute();
  if (state.onboarding) {
    if (route !== 'setup') return redirect('setup');
    renderChrome();
    if (!view || view.route !== 'setup') startView('setup', renderSetup, rest);
    return;
  }
  if (!state.user) {
    if (route !== 'signin') return redirect('signin');
    renderChrome();
    if (!view || view.route !== 'signin') startView('signin', renderSignin, rest);
    return;
  }
  const page = PAGES.find((p) => p.route === route);
  if (!page || (page.admin && !state.user.admin)) return redirect(homeRoute());
  renderChrome();
  startView(route, page.render, rest);
}
