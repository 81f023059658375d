// The Streamlit custom component (v2): the bundle's default export is called on every rerun with
// {data, parentElement, setStateValue, setTriggerValue}; one canvas lives per parent element.
import { GraphCanvas } from "./canvas.js";

const instances = new WeakMap();
const FILL_MARGIN = 12; // px left below the canvas when it fills the window
const MIN_FILL = 320;

/** Distance from the top of the document (not the viewport) to `el`, through shadow roots and
 * scrolled containers, so the height does not change while the page scrolls. */
function documentTop(el) {
  let top = el.getBoundingClientRect().top;
  for (let p = el.parentNode; p; p = p.parentNode || p.host) {
    if (p.nodeType === 1 && p.scrollTop) top += p.scrollTop;
  }
  return top;
}

/** The height in px for `height` ("fill": the window's height below the canvas's top). */
export function hostHeight(host, height) {
  if (height === "fill") {
    const view = host.ownerDocument.defaultView;
    return Math.max(MIN_FILL, Math.floor(view.innerHeight - documentTop(host) - FILL_MARGIN));
  }
  return Number(height) || 640;
}

function sizeHost(inst) {
  const px = `${hostHeight(inst.host, inst.height)}px`;
  if (inst.host.style.height !== px) inst.host.style.height = px;
}

/** The window whose page Streamlit draws: this one, or a same-origin parent when the component
 * runs in an iframe. */
function appWindow() {
  try {
    if (window.parent && window.parent !== window && window.parent.document) return window.parent;
  } catch (_) { /* cross-origin parent */ }
  return window;
}

/** Streamlit's own theme preference (Settings > Theme), as its frontend (1.67) keeps it:
 * localStorage `stActiveTheme-<page path>-v2` = JSON "System" | "Light" | "Dark". */
function streamlitThemeKey(win) {
  return `stActiveTheme-${win.location.pathname}-v2`;
}

export const streamlitTheme = {
  get() {
    try {
      const win = appWindow();
      const v = JSON.parse(win.localStorage.getItem(streamlitThemeKey(win)) || "null");
      return v === "Light" ? "light" : v === "Dark" ? "dark" : "system";
    } catch (_) {
      return "system";
    }
  },
  /** Store the choice where Streamlit reads it and reload the page, so the whole app (not only
   * the canvas) takes it. The model, subgraph and selection come back from the URL, the canvas's
   * zoom, open groups and toggles from sessionStorage. */
  set(mode, canvas) {
    const win = appWindow();
    try {
      win.localStorage.setItem(streamlitThemeKey(win), JSON.stringify(mode === "light" ? "Light" : mode === "dark" ? "Dark" : "System"));
    } catch (_) {
      return; // storage blocked: nothing would survive the reload
    }
    if (canvas) canvas.keepForReload();
    win.location.reload();
  },
};

const RELOAD_KEY = "modellens.reloadView"; // canvas.js keepForReload's sessionStorage entry

/** The app page's address with its query parameters in a fixed order. */
function pageAddress() {
  const url = new URL(appWindow().location.href);
  url.searchParams.sort();
  return `${url.pathname}?${url.searchParams}`;
}

/** Keep the canvas's view for the reload of this very page (its address is kept with it). */
function keepForReloadOfThisPage(canvas) {
  canvas.keepForReload();
  try {
    const state = JSON.parse(window.sessionStorage.getItem(RELOAD_KEY) || "null");
    if (state) window.sessionStorage.setItem(RELOAD_KEY, JSON.stringify({ ...state, page: pageAddress() }));
  } catch (_) { /* storage blocked: the reload starts from the default view */ }
}

/** A view kept when leaving another address (a new link to another node of the same model, typed
 * into this tab) is not a reload: that link's own view (centred on its node) shows instead. */
function dropReloadViewOfAnotherPage() {
  try {
    const state = JSON.parse(window.sessionStorage.getItem(RELOAD_KEY) || "null");
    if (state && state.page && state.page !== pageAddress()) window.sessionStorage.removeItem(RELOAD_KEY);
  } catch (_) { /* nothing kept */ }
}

export function streamlitComponent(component) {
  const { data, parentElement, key } = component;
  const { payload, options = {}, key: userKey, height = 640 } = data || {};
  let inst = instances.get(parentElement);
  if (!inst) {
    const host = document.createElement("div");
    host.className = "ml-host";
    host.style.display = "flex";
    parentElement.appendChild(host);
    inst = { host, api: component, height };
    inst.canvas = new GraphCanvas(host, {
      onSelect: (sel) => inst.api.setTriggerValue("select", sel || { kind: "none" }),
      onExpanded: (ids) => inst.api.setStateValue("expanded", ids),
      onView: (view) => inst.api.setStateValue("view", view),
      themeControl: streamlitTheme,
    });
    inst.onResize = () => sizeHost(inst);
    window.addEventListener("resize", inst.onResize);
    // Any reload (F5 as well as the theme switch) keeps zoom, open groups and toggles.
    inst.onPageHide = () => keepForReloadOfThisPage(inst.canvas);
    appWindow().addEventListener("pagehide", inst.onPageHide);
    dropReloadViewOfAnotherPage();
    instances.set(parentElement, inst);
  }
  inst.api = component;
  inst.height = height;
  sizeHost(inst);
  if (height === "fill") {
    // What sits above the canvas may still be settling (fonts, banners): measure again.
    requestAnimationFrame(inst.onResize);
    setTimeout(inst.onResize, 300);
  }
  if (!payload) return () => {};
  if (!inst.canvas.followStreamlitTheme()) inst.canvas.setTheme(options.theme === "dark" ? "dark" : "light");
  inst.canvas.update(payload, options, String(userKey || key || ""));
  return () => {
    window.removeEventListener("resize", inst.onResize);
    appWindow().removeEventListener("pagehide", inst.onPageHide);
    inst.canvas.destroy();
    inst.host.remove();
    instances.delete(parentElement);
  };
}
