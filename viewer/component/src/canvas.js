// The interactive canvas shared by the Streamlit component and the standalone HTML viewer:
// pan/zoom, toolbar, keyboard shortcuts, selection, expand/collapse with anchored relayout.
import { renderDot } from "./dot.js";
import { FONT_FAMILY, useBrowserMeasure } from "./measure.js";
import { PALETTES, VAR_PALETTE, buildScene, categoryOf, defsMarkup, esc, legendItems, normalizeSelection, renderSvg, sceneMarkup, svgCss } from "./svg.js";
import { GROUP_PREFIX, indexPayload, nodeAncestors, visibleGraph, visibleIdFor } from "./visible.js";

const VIEW_KEYS = ["direction", "labels", "showWeights", "showShapes"];
const SAVED = new Map(); // per-page memory of instance state, keyed by store key + payload identity
const MIN_K = 0.02;
const MAX_K = 6;
const HIGHLIGHT_LIMIT = 5000; // search matches outlined on the canvas (all are counted and listed)
const READABLE_K = 0.8; // the smallest text (10 px rows) stays at least 8 px on screen
const THEME_KEY = "modellens.theme";
let uid = 0;
const ACTIVE = { canvas: null }; // the canvas that answers keys pressed outside any canvas

const ICONS = {
  fit: "M2 6V2h4M10 2h4v4M14 10v4h-4M6 14H2v-4",
  zoomIn: "M8 3v10M3 8h10",
  zoomOut: "M3 8h10",
  expand: "M2.5 2.5h11v11h-11zM8 5v6M5 8h6",
  collapse: "M2.5 2.5h11v11h-11zM5 8h6",
  download: "M8 2v8M4.5 6.5 8 10l3.5-3.5M3 13h10",
  prev: "M4 10l4-4 4 4",
  next: "M4 6l4 4 4-4",
  system: "M2 3h12v8H2zM6 14h4M8 11v3",
  light: "M8 5.2a2.8 2.8 0 1 0 0 5.6a2.8 2.8 0 1 0 0-5.6M8 1v1.6M8 13.4V15M1 8h1.6M13.4 8H15M3 3l1.1 1.1M11.9 11.9 13 13M3 13l1.1-1.1M11.9 4.1 13 3",
  dark: "M13.5 9.5A5.5 5.5 0 0 1 6.5 2.5a5.5 5.5 0 1 0 7 7z",
};

/** Keyboard shortcuts, listed by the "?" panel (one table, also what onKey maps). */
export const SHORTCUTS = [
  ["/", "Search nodes by name, op type or tensor"], ["Enter / Shift+Enter", "Next / previous search match"],
  ["F", "Fit the graph to the window"], ["+ / −", "Zoom in / out (or the mouse wheel)"], ["0", "Zoom to 100%"],
  ["E / C", "Expand / collapse all groups"], ["D", "Layout direction: top→bottom / left→right"],
  ["N", "Node labels: op type / node name"], ["Esc", "Clear the selection, close this list"], ["?", "Show this list"],
  ["Click", "Select a node, edge or group; a collapsed group opens"], ["Drag", "Pan"],
];
const KEY_ACTIONS = {
  f: "fit", "+": "zoomIn", "=": "zoomIn", "-": "zoomOut", _: "zoomOut", 0: "reset", e: "expandAll", c: "collapseAll",
  d: "direction", n: "labels", "/": "search", "?": "help", Escape: "escape",
};

const CSS = `
.ml-root{position:relative;flex:1 1 auto;display:flex;flex-direction:column;min-width:0;min-height:0;overflow:hidden;
  background:var(--ml-bg);color:var(--ml-text);border-radius:8px;border:1px solid var(--ml-frame);outline:none;
  user-select:none;-webkit-user-select:none;font-family:var(--ml-ui-font);box-sizing:border-box}
.ml-root:focus{outline:none}
.ml-root *{box-sizing:border-box}
.ml-stage{position:relative;flex:1 1 auto;min-height:0;overflow:hidden;touch-action:none}
.ml-svg{display:block;width:100%;height:100%;cursor:grab}
.ml-svg.ml-drag{cursor:grabbing}
.ml-node,.ml-edge,.ml-chead{cursor:pointer}
.ml-svg .ml-node:hover .ml-outline{stroke:var(--ml-accent);stroke-opacity:.45;stroke-width:2}
.ml-svg .ml-node.ml-sel:hover .ml-outline{stroke-opacity:1;stroke-width:3}
.ml-svg .ml-edge:hover .ml-line{stroke:var(--ml-accent);stroke-width:2.4}
.ml-svg .ml-edge:hover .ml-elabel{fill:var(--ml-accent)}
.ml-svg .ml-chead:hover .ml-ctext{fill:var(--ml-accent)}
.ml-svg .ml-k-group:hover .ml-gbox{stroke:var(--ml-accent)}
.ml-bar{flex:none;display:flex;flex-wrap:wrap;align-items:center;gap:1px 1px;padding:3px 4px;background:var(--ml-panel);
  border-bottom:1px solid var(--ml-frame)}
.ml-btn{height:26px;min-width:26px;padding:0 6px;border:0;border-radius:5px;background:transparent;color:var(--ml-text);
  font:500 11.5px/1 var(--ml-ui-font);cursor:pointer;display:inline-flex;align-items:center;justify-content:center;gap:4px}
.ml-btn:hover{background:var(--ml-hover)}
.ml-btn:focus-visible{outline:2px solid var(--ml-accent);outline-offset:-2px}
.ml-btn[aria-pressed=true]{color:var(--ml-accent);background:var(--ml-pressed)}
.ml-btn[data-act=labels]{min-width:46px}
.ml-btn[data-act=direction]{min-width:30px}
.ml-btn:disabled{opacity:.4;cursor:default}
.ml-btn svg{width:15px;height:15px;fill:none;stroke:currentColor;stroke-width:1.5;stroke-linecap:round;stroke-linejoin:round}
.ml-sep{width:1px;height:18px;background:var(--ml-frame);margin:0 4px}
.ml-gap{flex:1 1 0;min-width:4px}
.ml-dl{position:relative;display:inline-flex}
.ml-menu{position:absolute;z-index:5;top:calc(100% + 4px);left:0;display:none;flex-direction:column;align-items:stretch;padding:3px;min-width:140px;
  background:var(--ml-panel-solid);border:1px solid var(--ml-frame);border-radius:8px;box-shadow:0 4px 16px rgba(0,0,0,.18)}
.ml-menu .ml-btn{justify-content:flex-start}
.ml-dl.ml-open .ml-menu{display:flex}
.ml-search{display:inline-flex;align-items:center;gap:2px}
.ml-search input{width:160px;height:26px;padding:0 8px;border:1px solid var(--ml-frame);border-radius:6px;background:var(--ml-bg);
  color:var(--ml-text);font:12px var(--ml-ui-font);outline:none}
.ml-search input:focus{border-color:var(--ml-accent)}
.ml-count{font-size:11.5px;color:var(--ml-muted);padding:0 3px;white-space:nowrap;font-variant-numeric:tabular-nums}
.ml-count:empty{display:none}
.ml-search .ml-btn{min-width:22px;padding:0 3px}
.ml-seg{display:inline-flex;border:1px solid var(--ml-frame);border-radius:6px;padding:1px}
.ml-seg .ml-btn{height:22px;min-width:24px;padding:0 4px}
.ml-results{position:absolute;z-index:3;top:4px;max-height:min(60%,420px);width:360px;max-width:calc(100% - 8px);overflow:auto;
  display:none;background:var(--ml-panel-solid);border:1px solid var(--ml-frame);border-radius:8px;box-shadow:0 4px 16px rgba(0,0,0,.18);
  font-size:12px;padding:3px}
.ml-results.ml-open{display:block}
.ml-hit-row{display:flex;align-items:baseline;gap:6px;padding:4px 6px;border-radius:5px;cursor:pointer;min-width:0}
.ml-hit-row:hover{background:var(--ml-hover)}
.ml-hit-row.ml-at{background:var(--ml-pressed)}
.ml-hit-row b{flex:none;font-weight:600;font-size:10.5px;padding:1px 5px;border-radius:4px}
.ml-hit-name{flex:none;max-width:55%;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.ml-hit-path{flex:1 1 auto;min-width:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;color:var(--ml-muted);font-size:11px;direction:rtl;text-align:left}
.ml-results .ml-more{color:var(--ml-muted);padding:4px 6px}
.ml-foot{flex:none;display:flex;align-items:center;gap:4px 12px;padding:3px 10px;min-height:24px;border-top:1px solid var(--ml-frame);
  background:var(--ml-panel);font-size:11px;color:var(--ml-muted)}
.ml-legend{display:flex;flex-wrap:wrap;gap:2px 12px;flex:1 1 auto;min-width:0}
.ml-legend span{display:inline-flex;align-items:center;gap:5px;white-space:nowrap}
.ml-legend i{display:inline-block;width:11px;height:11px;border-radius:3px}
.ml-status{flex:none;white-space:nowrap;text-align:right}
.ml-help{position:absolute;z-index:4;right:8px;top:8px;display:none;width:340px;max-width:calc(100% - 16px);max-height:calc(100% - 16px);overflow:auto;
  background:var(--ml-panel-solid);border:1px solid var(--ml-frame);border-radius:8px;box-shadow:0 4px 16px rgba(0,0,0,.18);padding:10px 12px;font-size:12px}
.ml-help.ml-open{display:block}
.ml-help h4{margin:0 0 6px;font-size:12.5px}
.ml-help table{border-collapse:collapse;width:100%}
.ml-help td{padding:3px 4px;vertical-align:top}
.ml-help td:first-child{white-space:nowrap;width:1%}
.ml-help kbd{font:11px ui-monospace,Menlo,Consolas,monospace;padding:1px 5px;border:1px solid var(--ml-frame);border-radius:4px;white-space:nowrap}
.ml-busy{position:absolute;inset:0;display:none;align-items:center;justify-content:center;font-size:13px;color:var(--ml-muted);
  background:color-mix(in srgb,var(--ml-bg) 60%,transparent)}
.ml-root.ml-is-busy .ml-busy{display:flex}
`;

function luminance(color) {
  const m = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(color) || [];
  if (m.length) return (0.2126 * m[1] + 0.7152 * m[2] + 0.0722 * m[3]) / 255;
  const h = /^#([0-9a-f]{6})$/i.exec(color.trim());
  if (!h) return 1;
  const v = parseInt(h[1], 16);
  return (0.2126 * (v >> 16) + 0.7152 * ((v >> 8) & 255) + 0.0722 * (v & 255)) / 255;
}

/** CSS custom properties for a palette; overrides come from Streamlit's theme variables. */
export function paletteVars(base, overrides = {}) {
  const pal = { ...PALETTES[base === "dark" ? "dark" : "light"], ...overrides };
  const dark = base === "dark";
  const vars = Object.entries(pal).map(([k, v]) => `--ml-${k}:${v}`);
  vars.push(`--ml-frame:${dark ? "rgba(255,255,255,.14)" : "rgba(0,0,0,.12)"}`);
  vars.push(`--ml-panel:${dark ? "rgba(30,32,36,.92)" : "rgba(248,249,251,.96)"}`);
  vars.push(`--ml-panel-solid:${dark ? "#1e2024" : "#ffffff"}`);
  vars.push(`--ml-hover:${dark ? "rgba(255,255,255,.09)" : "rgba(0,0,0,.06)"}`);
  vars.push(`--ml-pressed:${dark ? "rgba(88,166,255,.16)" : "rgba(31,111,235,.10)"}`);
  return vars.join(";");
}

/** Cheap identity of a payload: title, counts and a hash of sampled node ids/ops. */
export function payloadIdentity(payload) {
  const nodes = payload.nodes || [];
  let h = 2166136261;
  const mix = (s) => {
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  };
  mix(String(payload.title || ""));
  const step = Math.max(1, Math.floor(nodes.length / 512));
  for (let i = 0; i < nodes.length; i += step) mix(`${nodes[i].id}|${nodes[i].op}`);
  return `${payload.title || ""}|${nodes.length}|${(payload.edges || []).length}|${(payload.groups || []).length}|${(h >>> 0).toString(16)}`;
}

function fileStem(payload) {
  return String(payload.title || "graph").replace(/\.[^.]+$/, "").replace(/[^\w.-]+/g, "_") || "graph";
}

function download(root, blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.style.display = "none";
  root.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

/** Node ids matching a query by name, id, op type or tensor name (producers of matching tensors). */
export function searchNodes(payload, query, limit = Infinity) {
  const q = String(query || "").trim().toLowerCase();
  if (!q) return [];
  const out = new Set();
  for (const n of payload.nodes) {
    if (out.size >= limit) break;
    if (String(n.name || n.id).toLowerCase().includes(q) || String(n.op || "").toLowerCase().includes(q)) out.add(String(n.id));
  }
  for (const e of payload.edges || []) {
    if (out.size >= limit) break;
    if (String(e[2] || "").toLowerCase().includes(q) && payload.nodes[e[0]]) out.add(String(payload.nodes[e[0]].id));
  }
  return [...out];
}

/** The group path of a payload node as labels ("encoder › layer.0 › attn"). */
export function groupPath(payload, nodeId) {
  const index = indexPayload(payload);
  return nodeAncestors(payload, nodeId).map((g) => {
    const grp = index.groups[index.byId.get(g)];
    return String((grp && grp.label) || g);
  }).join(" › ");
}

const RELOAD_KEY = "modellens.reloadView";

/** The view kept by keepForReload for `key` (store key + payload identity), once. */
function takeReloadState(key) {
  try {
    const raw = window.sessionStorage.getItem(RELOAD_KEY);
    if (!raw) return null;
    const state = JSON.parse(raw);
    if (!state || state.key !== key) return null;
    window.sessionStorage.removeItem(RELOAD_KEY);
    return state;
  } catch (_) {
    return null;
  }
}

function storedTheme() {
  try {
    const v = window.localStorage.getItem(THEME_KEY);
    return v === "light" || v === "dark" || v === "system" ? v : null;
  } catch (_) {
    return null;
  }
}

export class GraphCanvas {
  /** hooks: onSelect(sel | {kind: "none"}), onExpanded(ids), onView(view), onTheme(theme) */
  constructor(host, hooks = {}) {
    useBrowserMeasure();
    this.hooks = hooks;
    this.prefix = `ml${++uid}-`;
    this.t = { x: 0, y: 0, k: 1 };
    this.view = { direction: "TB", labels: "op", showWeights: true, showShapes: true };
    this.expanded = new Set();
    this.selection = null;
    this.highlight = [];
    this.search = { query: "", matches: [], at: -1 };
    this.theme = "light";
    // A host that owns the page's theme (the Streamlit app) gives `themeControl` {get(), set(mode)}:
    // the switch then changes the host's theme and the canvas always follows the host.
    this.themeStored = hooks.themeControl ? null : storedTheme();
    this.themeMode = hooks.themeControl ? hooks.themeControl.get() : this.themeStored || "system";
    this.hostTheme = { base: "light", overrides: {} };
    this.pointers = new Map();
    this.root = document.createElement("div");
    this.root.className = "ml-root";
    this.root.tabIndex = 0;
    this.root.innerHTML = `<style>${svgCss(VAR_PALETTE, ".ml-root .ml-svg")}${CSS}</style>`
      + '<div class="ml-bar" role="toolbar"></div><div class="ml-stage">'
      + `<svg class="ml-svg" xmlns="http://www.w3.org/2000/svg">${defsMarkup(this.prefix)}<g class="ml-scene"></g></svg>`
      + '<div class="ml-results" role="listbox"></div><div class="ml-help" role="dialog" aria-label="Keyboard shortcuts"></div>'
      + '<div class="ml-busy">Laying out…</div></div>'
      + '<div class="ml-foot"><div class="ml-legend"></div><div class="ml-status"></div></div>';
    host.appendChild(this.root);
    this.svg = this.root.querySelector(".ml-svg");
    this.stage = this.root.querySelector(".ml-stage");
    this.sceneEl = this.root.querySelector(".ml-scene");
    this.bar = this.root.querySelector(".ml-bar");
    this.results = this.root.querySelector(".ml-results");
    this.help = this.root.querySelector(".ml-help");
    this.help.innerHTML = `<h4>Keyboard shortcuts</h4><table>${SHORTCUTS.map(([k, v]) => `<tr><td>${k.split(" / ").map((x) => `<kbd>${esc(x)}</kbd>`).join(" / ")}</td><td>${esc(v)}</td></tr>`).join("")}</table>`;
    this.buildToolbar();
    this.bindEvents();
    this.applyTheme();
  }

  // ----- state ---------------------------------------------------------------------------

  /** Load a payload or apply changed options; keeps state for the same payload. The host's
   * selection (options.selected) always wins over the canvas's own. */
  update(payload, options = {}, storeKey = "") {
    const ident = payloadIdentity(payload);
    const optsJson = JSON.stringify(options);
    if (ident !== this.ident || storeKey !== this.storeKey) {
      this.load(payload, options, ident, storeKey, optsJson);
      return;
    }
    if (optsJson !== this.optsJson) {
      this.applyOptions(options, JSON.parse(this.optsJson || "{}"));
      this.optsJson = optsJson;
    }
    const sel = normalizeSelection(this.payload, options.selected);
    if (JSON.stringify(sel) !== JSON.stringify(this.selection)) {
      this.selection = sel;
      this.redraw();
    }
    this.save();
  }

  load(payload, options, ident, storeKey, optsJson) {
    this.payload = payload;
    this.ident = ident;
    this.storeKey = storeKey;
    this.optsJson = optsJson;
    this.clearSearch(false);
    const reloaded = takeReloadState(`${storeKey}|${ident}`);
    if (reloaded) {
      this.view = { ...this.view, ...pick(reloaded.view, VIEW_KEYS) };
      this.expanded = new Set(reloaded.expanded);
      this.selection = normalizeSelection(payload, options.selected);
      this.highlight = options.highlight || [];
      this.relayout();
      this.setTransform(reloaded.t);
      this.emitExpanded();
      if (this.hooks.onView) this.hooks.onView({ ...this.view });
      this.save();
      return;
    }
    const saved = SAVED.get(`${storeKey}|${ident}`);
    if (saved && saved.optsJson === optsJson) {
      this.view = { ...saved.view };
      this.expanded = new Set(saved.expanded);
      this.selection = normalizeSelection(payload, options.selected);
      this.highlight = saved.highlight;
      this.relayout();
      this.setTransform(saved.t);
      return;
    }
    this.view = { ...this.view, ...pick(options, VIEW_KEYS) };
    this.expanded = new Set(visibleGraph(payload, { ...options, focus: null }).expanded);
    this.highlight = options.highlight || [];
    if (options.focus != null) {
      this.focusNode(options.focus, false);
    } else {
      this.relayout();
      this.initialView();
    }
    this.selection = normalizeSelection(payload, options.selected);
    this.redraw();
    this.save();
  }

  applyOptions(options, prev) {
    let relayout = false;
    for (const k of VIEW_KEYS) {
      if (options[k] !== undefined && options[k] !== prev[k] && options[k] !== this.view[k]) {
        this.view[k] = options[k];
        relayout = true;
      }
    }
    if (JSON.stringify(options.expanded) !== JSON.stringify(prev.expanded) || options.expand !== prev.expand) {
      this.expanded = new Set(visibleGraph(this.payload, { ...options, focus: null }).expanded);
      relayout = true;
    }
    if (JSON.stringify(options.highlight || []) !== JSON.stringify(prev.highlight || [])) this.highlight = options.highlight || [];
    if (options.focus != null && options.focus !== prev.focus) {
      this.focusNode(options.focus, false);
      return;
    }
    if (relayout) this.relayout(this.viewAnchor());
    else this.redraw();
  }

  save() {
    if (!this.payload) return;
    SAVED.set(`${this.storeKey}|${this.ident}`, {
      optsJson: this.optsJson, view: { ...this.view }, expanded: [...this.expanded], t: { ...this.t },
      highlight: this.highlight,
    });
    if (SAVED.size > 32) SAVED.delete(SAVED.keys().next().value);
  }

  /** Drawing options of the current state (the selection as one normalised object). */
  options() {
    const highlight = this.search.query ? this.search.matches.slice(0, HIGHLIGHT_LIMIT) : this.highlight;
    return { ...this.view, expanded: [...this.expanded], highlight, selection: this.selection };
  }

  // ----- theme ---------------------------------------------------------------------------

  /** Keep this view (zoom, expanded groups, toggles) for the next page load of the same model:
   * the app reloads the page to change Streamlit's theme. */
  keepForReload() {
    if (!this.payload) return;
    try {
      window.sessionStorage.setItem(RELOAD_KEY, JSON.stringify({
        key: `${this.storeKey}|${this.ident}`, view: this.view, expanded: [...this.expanded], t: this.t,
      }));
    } catch (_) { /* storage blocked: the reload starts from the default view */ }
  }

  /** The host's theme (Streamlit's, or the export's option): used in "system" mode. */
  setTheme(base, overrides = {}) {
    this.hostTheme = { base: base === "dark" ? "dark" : "light", overrides };
    this.applyTheme();
  }

  /** "system" (follow the host / the OS), "light" or "dark"; remembered in localStorage. */
  setThemeMode(mode, remember = true) {
    this.themeMode = mode === "light" || mode === "dark" ? mode : "system";
    if (this.hooks.themeControl) {
      this.syncToolbar();
      this.hooks.themeControl.set(this.themeMode, this);
      return;
    }
    if (remember) {
      try { window.localStorage.setItem(THEME_KEY, this.themeMode); } catch (_) { /* storage blocked */ }
    }
    this.applyTheme();
  }

  applyTheme() {
    const host = this.hostTheme;
    const mode = this.hooks.themeControl ? "system" : this.themeMode; // a theme-owning host is followed
    const base = mode === "system" ? host.base : mode;
    const overrides = mode === "system" || base === host.base ? host.overrides : {};
    this.theme = base === "dark" ? "dark" : "light";
    const decls = `${paletteVars(this.theme, overrides)};--ml-ui-font:${(host.overrides && host.overrides.uiFont) || FONT_FAMILY}`;
    for (const d of decls.split(";")) {
      const at = d.indexOf(":");
      if (at > 0) this.root.style.setProperty(d.slice(0, at), d.slice(at + 1));
    }
    this.root.dataset.theme = this.theme;
    if (this.bar) this.syncToolbar();
    if (this.hooks.onTheme) this.hooks.onTheme(this.theme, this.themeMode);
  }

  /** Follow Streamlit's --st-* theme variables (read from the computed style). Returns whether
   * they were found. The selection colour stays the canvas's own, as in the HTML export. */
  followStreamlitTheme() {
    const cs = getComputedStyle(this.root.parentNode instanceof Element ? this.root.parentNode : this.root);
    const v = (name) => cs.getPropertyValue(name).trim();
    const bg = v("--st-background-color");
    if (!bg) return false;
    const overrides = { bg };
    if (v("--st-text-color")) overrides.text = v("--st-text-color");
    if (v("--st-font")) overrides.uiFont = v("--st-font");
    this.setTheme(luminance(bg) < 0.5 ? "dark" : "light", overrides);
    return true;
  }

  // ----- drawing -------------------------------------------------------------------------

  relayout(anchor = null) {
    const before = anchor ? this.screenPos(anchor.before) : null;
    const opts = this.options();
    const { vg, scene } = this.cachedScene(opts);
    this.vg = vg;
    this.scene = scene;
    this.byId = new Map(scene.nodes.map((n) => [n.id, n]));
    this.clusterById = new Map(scene.clusters.map((c) => [c.id, c]));
    this.sceneEl.innerHTML = sceneMarkup(this.payload, vg, scene, opts, this.prefix);
    this.drawLegend();
    this.drawStatus();
    this.syncToolbar();
    if (before) {
      const after = this.screenPos(anchor.after || anchor.before);
      if (after) this.setTransform({ ...this.t, x: this.t.x + before.x - after.x, y: this.t.y + before.y - after.y });
    }
  }

  /** Layouts of recent views (expanded set + toggles), so collapsing back is instant. */
  cachedScene(opts) {
    const key = JSON.stringify([[...this.expanded].sort(), VIEW_KEYS.map((k) => opts[k])]);
    if (this.layoutCache && this.layoutCache.payload === this.payload) {
      const hit = this.layoutCache.entries.get(key);
      if (hit) return hit;
    } else {
      this.layoutCache = { payload: this.payload, entries: new Map() };
    }
    const built = buildScene(this.payload, opts);
    this.layoutCache.entries.set(key, built);
    if (this.layoutCache.entries.size > 12) this.layoutCache.entries.delete(this.layoutCache.entries.keys().next().value);
    return built;
  }

  /** Re-draw marks (selection/highlight) without a new layout. */
  redraw() {
    if (!this.scene) return;
    this.sceneEl.innerHTML = sceneMarkup(this.payload, this.vg, this.scene, this.options(), this.prefix);
  }

  drawLegend() {
    const items = legendItems(this.payload, this.scene);
    this.root.querySelector(".ml-legend").innerHTML = items.map((it) => {
      const sw = it.fill ? `background:${esc(it.fill)}` : "background:var(--ml-group);border:1px dashed var(--ml-groupBorder)";
      return `<span><i style="${sw}"></i>${esc(it.label)}</span>`;
    }).join("");
  }

  /** "52 of 120 operator nodes shown · 4 groups collapsed": operator nodes are kind op/constant
   * (inputs and outputs are not counted), the same count as the model summary's "nodes". */
  drawStatus() {
    const isOp = (n) => n.kind === undefined || n.kind === "op" || n.kind === "constant";
    const total = (this.payload.nodes || []).filter(isOp).length;
    const shown = this.scene.nodes.filter((n) => n.kind !== "group" && isOp(n)).length;
    const groups = this.scene.nodes.length - this.scene.nodes.filter((n) => n.kind !== "group").length;
    const parts = [`${shown.toLocaleString()} of ${total.toLocaleString()} operator node${total === 1 ? "" : "s"} shown`];
    if (groups) parts.push(`${groups.toLocaleString()} group${groups === 1 ? "" : "s"} collapsed`);
    this.root.querySelector(".ml-status").textContent = parts.join(" · ");
  }

  /** Screen position of an anchor {id} (visible node) or {cluster}; top-centre of the box. */
  screenPos(a) {
    if (!a || !this.scene) return null;
    let p = null;
    if (a.id && this.byId.has(a.id)) { const n = this.byId.get(a.id); p = { x: n.x, y: n.y - n.h / 2 }; }
    else if (a.cluster && this.clusterById.has(a.cluster)) { const c = this.clusterById.get(a.cluster); p = { x: c.x + c.w / 2, y: c.y }; }
    return p && { x: this.t.x + p.x * this.t.k, y: this.t.y + p.y * this.t.k };
  }

  /** The visible node nearest the viewport centre, as an anchor. */
  centreAnchor() {
    if (!this.scene || !this.scene.nodes.length) return null;
    const { width, height } = this.viewport();
    const cx = (width / 2 - this.t.x) / this.t.k;
    const cy = (height / 2 - this.t.y) / this.t.k;
    let best = null;
    let bd = Infinity;
    for (const n of this.scene.nodes) {
      const d = (n.x - cx) ** 2 + (n.y - cy) ** 2;
      if (d < bd) { bd = d; best = n; }
    }
    return { before: { id: best.id } };
  }

  /** What a relayout keeps in place: the selected node (or group) when it is drawn, else the
   * node nearest the centre. */
  viewAnchor() {
    const s = this.selection;
    if (s && this.scene) {
      if (s.kind === "node") {
        const id = visibleIdFor(this.payload, this.vg.expanded, s.id);
        if (id && this.byId.has(id)) return { before: { id } };
      } else if (s.kind === "group") {
        if (this.byId.has(GROUP_PREFIX + s.id)) return { before: { id: GROUP_PREFIX + s.id } };
        if (this.clusterById.has(s.id)) return { before: { cluster: s.id } };
      }
    }
    return this.centreAnchor();
  }

  // ----- view transform ------------------------------------------------------------------

  viewport() {
    const r = this.svg.getBoundingClientRect();
    return { width: r.width || 800, height: r.height || 600, left: r.left, top: r.top };
  }

  setTransform(t) {
    const k = Math.min(MAX_K, Math.max(MIN_K, t.k));
    this.t = { x: t.x, y: t.y, k };
    this.sceneEl.setAttribute("transform", `translate(${this.t.x.toFixed(2)},${this.t.y.toFixed(2)}) scale(${k.toFixed(4)})`);
    clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => this.save(), 150);
  }

  zoomAt(factor, px, py) {
    const k = Math.min(MAX_K, Math.max(MIN_K, this.t.k * factor));
    const f = k / this.t.k;
    this.setTransform({ k, x: px - (px - this.t.x) * f, y: py - (py - this.t.y) * f });
  }

  zoomCentre(factor) {
    const { width, height } = this.viewport();
    this.zoomAt(factor, width / 2, height / 2);
  }

  fit() {
    if (!this.scene) return;
    const { width, height } = this.viewport();
    const m = 12;
    const k = Math.min(2, (width - 2 * m) / Math.max(1, this.scene.width), (height - 2 * m) / Math.max(1, this.scene.height));
    this.setTransform({ k, x: (width - this.scene.width * k) / 2, y: (height - this.scene.height * k) / 2 });
  }

  /** The first view: the whole graph when fitting keeps its smallest text readable (at most
   * 100%); otherwise the start of the graph (its inputs, else its first rank) at a readable
   * scale, as Netron opens: top-down views show the inputs at the top, centred across; left-to-right
   * views show them at the left, centred down. Never the middle of a wide layout. */
  initialView() {
    const { width, height } = this.viewport();
    const sw = Math.max(1, this.scene.width);
    const sh = Math.max(1, this.scene.height);
    const fitK = Math.min((width - 24) / sw, (height - 24) / sh);
    if (fitK >= READABLE_K) { this.fit(); if (this.t.k > 1) this.resetZoom(true); return; }
    const lr = this.view.direction === "LR";
    const k = Math.max(READABLE_K, Math.min(1, lr ? (height - 24) / sh : (width - 24) / sw));
    const start = startBox(this.scene.nodes, lr, lr ? height / k : width / k, lr ? width / k : height / k);
    const m = 12;
    // Across the flow: centre the start nodes, but never leave blank space beside the layout.
    const across = (view, size, centre) => (size * k <= view - 2 * m ? (view - size * k) / 2
      : Math.min(m, Math.max(view - m - size * k, view / 2 - centre * k)));
    if (lr) this.setTransform({ k, x: m - Math.max(0, start.min - 8) * k, y: across(height, sh, start.centre) });
    else this.setTransform({ k, x: across(width, sw, start.centre), y: m - Math.max(0, start.min - 8) * k });
  }

  /** The view after Expand all / Collapse all: the whole graph when it fits at a readable scale;
   * otherwise a readable scale (at least READABLE_K, the current one when larger) centred on the
   * selection, or, with nothing selected (or the selection not drawn), the start of the graph as
   * the first view shows it. Never a fit-all that shrinks nodes to specks. */
  settleView() {
    if (!this.scene) return;
    const { width, height } = this.viewport();
    const fitK = Math.min((width - 24) / Math.max(1, this.scene.width), (height - 24) / Math.max(1, this.scene.height));
    const k = Math.max(READABLE_K, Math.min(MAX_K, this.t.k));
    const p = fitK >= READABLE_K ? null : this.selectionPoint(height / k);
    if (!p) { this.initialView(); return; }
    this.setTransform({ k, x: width / 2 - p.x * k, y: height / 2 - p.y * k });
  }

  /** The layout point (px) of the drawn selection: a node's or collapsed group's centre, an open
   * group's top (its title and first rows, `span` px tall at most), an edge's middle; null when
   * nothing drawn is selected. */
  selectionPoint(span) {
    const s = this.selection;
    if (!s || !this.scene) return null;
    const nodeAt = (id) => { const n = id && this.byId.get(id); return n ? { x: n.x, y: n.y } : null; };
    if (s.kind === "node") return nodeAt(visibleIdFor(this.payload, this.vg.expanded, s.id));
    if (s.kind === "group") {
      const c = this.clusterById.get(s.id);
      if (c) return { x: c.x + c.w / 2, y: c.y + Math.min(c.h, span) / 2 };
      const own = nodeAt(GROUP_PREFIX + s.id);
      if (own) return own;
      const index = indexPayload(this.payload);
      const gi = index.byId.get(s.id);
      for (let q = gi === undefined ? -1 : index.parent[gi]; q >= 0; q = index.parent[q]) {
        const at = nodeAt(GROUP_PREFIX + index.groups[q].id);
        if (at) return at;
      }
      return null;
    }
    if (s.kind === "edge") {
      const e = this.scene.edges.find((d) => d.edges.some((i) => s.edges.includes(i)));
      if (e && e.points && e.points.length) return e.points[Math.floor(e.points.length / 2)];
    }
    return null;
  }

  resetZoom(centre = false) {
    const { width, height } = this.viewport();
    if (centre) {
      this.setTransform({ k: 1, x: (width - this.scene.width) / 2, y: Math.max(8, (height - this.scene.height) / 2) });
    } else {
      this.zoomAt(1 / this.t.k, width / 2, height / 2);
    }
  }

  centreOn(id, k = Math.max(this.t.k, 1)) {
    const n = this.byId && this.byId.get(id);
    if (!n) return;
    const { width, height } = this.viewport();
    this.setTransform({ k, x: width / 2 - n.x * k, y: height / 2 - n.y * k });
  }

  // ----- actions -------------------------------------------------------------------------

  /** Expand the ancestors of a payload node, select it and centre on it. */
  focusNode(id, notify = true) {
    const sid = String(id);
    for (const g of nodeAncestors(this.payload, sid)) this.expanded.add(g);
    let sel = { kind: "node", id: sid };
    if (sid.startsWith(GROUP_PREFIX) && !indexPayload(this.payload).nodeIndex.has(sid)) {
      const index = indexPayload(this.payload);
      const gi = index.byId.get(sid.slice(GROUP_PREFIX.length));
      for (let q = gi === undefined ? -1 : index.parent[gi]; q >= 0; q = index.parent[q]) this.expanded.add(String(index.groups[q].id));
      sel = { kind: "group", id: sid.slice(GROUP_PREFIX.length) };
    }
    this.selection = sel;
    this.relayout();
    const vid = visibleIdFor(this.payload, this.vg.expanded, sid) || sid;
    if (this.byId.has(vid)) this.centreOn(vid);
    else if (sel.kind === "group" && this.clusterById.has(sel.id)) this.centreOnCluster(sel.id);
    if (notify) {
      this.emitExpanded();
      if (this.hooks.onSelect) this.hooks.onSelect(sel);
    }
    this.save();
  }

  centreOnCluster(groupId) {
    const c = this.clusterById.get(groupId);
    const { width, height } = this.viewport();
    const k = this.t.k;
    this.setTransform({ k, x: width / 2 - (c.x + c.w / 2) * k, y: height / 2 - (c.y + Math.min(c.h, height / k) / 2) * k });
  }

  expandGroup(groupId) {
    this.expanded.add(groupId);
    this.relayoutAsync({ before: { id: GROUP_PREFIX + groupId }, after: { cluster: groupId } });
    this.emitExpanded();
  }

  collapseGroup(groupId) {
    this.expanded.delete(groupId);
    this.relayoutAsync({ before: { cluster: groupId }, after: { id: GROUP_PREFIX + groupId } });
    this.emitExpanded();
  }

  setAll(expand) {
    const index = indexPayload(this.payload);
    this.expanded = expand ? new Set(index.groups.map((g) => String(g.id))) : new Set();
    this.relayoutAsync(null, true);
    this.emitExpanded();
  }

  /** A toolbar toggle: relayout keeping the selected node (else the centre node) in place. */
  setView(key, value) {
    this.view[key] = value;
    this.relayoutAsync(this.viewAnchor());
    if (this.hooks.onView) this.hooks.onView({ ...this.view });
  }

  /** Relayout now, or after a paint with a busy note when the view is large. */
  relayoutAsync(anchor, fit = false) {
    const run = () => {
      this.relayout(anchor);
      if (fit) this.settleView();
      this.root.classList.remove("ml-is-busy");
      this.save();
    };
    const estimate = visibleGraph(this.payload, { ...this.options(), focus: null }).nodes.length;
    if (estimate <= 600) { run(); return; }
    this.root.querySelector(".ml-busy").textContent = `Laying out ${estimate.toLocaleString()} nodes…`;
    this.root.classList.add("ml-is-busy");
    setTimeout(run, 30);
  }

  emitExpanded() {
    if (this.hooks.onExpanded) {
      const vg = visibleGraph(this.payload, { expanded: [...this.expanded] });
      this.hooks.onExpanded(vg.expanded);
    }
  }

  /** Select (null clears) and tell the host: {kind: "none"} for a cleared selection. */
  select(sel, notify = true) {
    this.selection = sel;
    this.redraw();
    this.save();
    if (notify && this.hooks.onSelect) this.hooks.onSelect(sel || { kind: "none" });
  }

  clearSelection() {
    if (this.selection) this.select(null);
  }

  setHighlight(ids) {
    this.highlight = ids || [];
    this.redraw();
  }

  // ----- search --------------------------------------------------------------------------

  runSearch(query) {
    const q = String(query || "").trim();
    this.search = { query: q, matches: q ? searchNodes(this.payload, q) : [], at: -1 };
    this.drawSearch();
    this.redraw();
  }

  clearSearch(redraw = true) {
    this.search = { query: "", matches: [], at: -1 };
    if (this.searchInput) this.searchInput.value = "";
    this.drawSearch();
    if (redraw) this.redraw();
  }

  /** Step to the next (+1) or previous (-1) match, or to match `index`: focus and select it. */
  goToMatch(step, index = null) {
    const m = this.search.matches;
    if (!m.length) return;
    const at = index != null ? index : this.search.at < 0 ? (step > 0 ? 0 : m.length - 1) : (this.search.at + step + m.length) % m.length;
    this.search.at = at;
    this.focusNode(m[at]);
    this.drawSearch();
  }

  drawSearch() {
    if (!this.searchCount) return;
    const { query, matches, at } = this.search;
    const n = matches.length;
    const total = n.toLocaleString();
    this.searchCount.textContent = !query ? "" : !n ? "no match" : at < 0 ? `${total} found` : `${(at + 1).toLocaleString()} / ${total}`;
    this.searchCount.title = n > HIGHLIGHT_LIMIT ? `The first ${HIGHLIGHT_LIMIT.toLocaleString()} matches are outlined on the graph` : "";
    this.bar.querySelector('[data-act="prevMatch"]').disabled = !n;
    this.bar.querySelector('[data-act="nextMatch"]').disabled = !n;
    const open = Boolean(query) && this.resultsOpen;
    this.results.classList.toggle("ml-open", open);
    if (!open) return;
    const index = indexPayload(this.payload);
    const shown = matches.slice(0, 200);
    this.results.innerHTML = (n ? "" : '<div class="ml-more">No node matches.</div>') + shown.map((id, i) => {
      const node = this.payload.nodes[index.nodeIndex.get(id)];
      const cat = categoryOf(this.payload, node);
      const path = groupPath(this.payload, id);
      const name = node.name || node.id;
      return `<div class="ml-hit-row${i === at ? " ml-at" : ""}" role="option" data-match="${i}" title="${esc(`${name}${path ? `\n${path}` : ""}`)}">`
        + `<b style="background:${esc(cat.fill)};color:${esc(cat.text || "#fff")}">${esc(node.op || node.kind || "")}</b>`
        + `<span class="ml-hit-name">${esc(name)}</span><span class="ml-hit-path"><bdi>${esc(path)}</bdi></span></div>`;
    }).join("") + (n > shown.length ? `<div class="ml-more">+${(n - shown.length).toLocaleString()} more: refine the search</div>` : "");
    const box = this.searchInput.getBoundingClientRect();
    const stage = this.stage.getBoundingClientRect();
    this.results.style.left = `${Math.max(4, Math.min(box.left - stage.left, stage.width - 364))}px`;
    const row = this.results.querySelector(".ml-at");
    if (row) row.scrollIntoView({ block: "nearest" });
  }

  // ----- exports -------------------------------------------------------------------------

  exportOptions() {
    const o = this.options();
    return { ...o, theme: this.theme };
  }

  downloadSvg() {
    download(this.root, new Blob([renderSvg(this.payload, this.exportOptions())], { type: "image/svg+xml" }), `${fileStem(this.payload)}.svg`);
  }

  downloadDot() {
    download(this.root, new Blob([renderDot(this.payload, this.exportOptions())], { type: "text/vnd.graphviz" }), `${fileStem(this.payload)}.dot`);
  }

  downloadPng() {
    const svg = renderSvg(this.payload, this.exportOptions());
    const w = Number(/width="(\d+)"/.exec(svg)[1]);
    const h = Number(/height="(\d+)"/.exec(svg)[1]);
    const scale = pngScale(w, h);
    const img = new Image();
    img.onload = () => {
      const c = document.createElement("canvas");
      c.width = Math.round(w * scale);
      c.height = Math.round(h * scale);
      const ctx = c.getContext("2d");
      ctx.scale(scale, scale);
      ctx.drawImage(img, 0, 0, w, h);
      c.toBlob((b) => b && download(this.root, b, `${fileStem(this.payload)}.png`), "image/png");
    };
    img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
  }

  // ----- toolbar and events --------------------------------------------------------------

  buildToolbar() {
    const icon = (d) => `<svg viewBox="0 0 16 16"><path d="${d}"/></svg>`;
    const btn = (act, inner, title) => `<button type="button" class="ml-btn" data-act="${act}" title="${esc(title)}" aria-label="${esc(title)}">${inner}</button>`;
    const items = [
      '<span class="ml-search"><input type="search" placeholder="Search name, op or tensor…" aria-label="Search nodes" '
        + 'title="Search as you type: node name, op type or tensor name. Enter: next match, Shift+Enter: previous" spellcheck="false" autocomplete="off">'
        + `<span class="ml-count" aria-live="polite"></span>${btn("prevMatch", icon(ICONS.prev), "Previous match (Shift+Enter)")}`
        + `${btn("nextMatch", icon(ICONS.next), "Next match (Enter)")}</span>`, "|",
      btn("fit", icon(ICONS.fit), "Fit to screen (F)"), btn("zoomIn", icon(ICONS.zoomIn), "Zoom in (+)"),
      btn("zoomOut", icon(ICONS.zoomOut), "Zoom out (−)"), "|",
      btn("expandAll", icon(ICONS.expand), "Expand all groups (E)"), btn("collapseAll", icon(ICONS.collapse), "Collapse all groups (C)"), "|",
      btn("direction", "TB", "Layout direction: top→bottom / left→right (D)"), btn("labels", "Op", "Node labels: op type / node name (N)"),
      btn("weights", "Weights", "Show weight shapes on nodes"), btn("shapes", "Shapes", "Show tensor shapes on edges"), "|",
      `<span class="ml-dl">${btn("export", `${icon(ICONS.download)}Export`, "Download the current view (SVG, PNG, DOT)")}`
        + `<span class="ml-menu" role="menu">${btn("svg", "SVG image", "Download the current view as SVG")}`
        + `${btn("png", "PNG image (2×)", "Download the current view as PNG (2×)")}${btn("dot", "Graphviz DOT", "Download the current view as Graphviz DOT")}</span></span>`, "~",
      `<span class="ml-seg" role="group" aria-label="Theme">${btn("themeSystem", icon(ICONS.system), "Theme: follow the system / app")}`
        + `${btn("themeLight", icon(ICONS.light), "Theme: light")}${btn("themeDark", icon(ICONS.dark), "Theme: dark")}</span>`,
      btn("help", "?", "Keyboard shortcuts (?)"),
    ];
    this.bar.innerHTML = items.map((it) => (it === "|" ? '<span class="ml-sep"></span>' : it === "~" ? '<span class="ml-gap"></span>' : it)).join("");
    this.bar.addEventListener("click", (ev) => {
      const b = ev.target.closest("[data-act]");
      if (b) this.action(b.dataset.act);
    });
    this.root.addEventListener("pointerdown", (ev) => { if (!ev.target.closest(".ml-dl")) this.toggleMenu(false); });
    this.searchInput = this.bar.querySelector(".ml-search input");
    this.searchCount = this.bar.querySelector(".ml-count");
    this.resultsOpen = false;
    let timer = 0;
    const inp = this.searchInput;
    inp.addEventListener("input", () => {
      clearTimeout(timer);
      this.resultsOpen = true;
      timer = setTimeout(() => this.runSearch(inp.value), 60);
    });
    inp.addEventListener("focus", () => { this.resultsOpen = true; this.drawSearch(); });
    inp.addEventListener("blur", () => { this.resultsOpen = false; this.drawSearch(); });
    inp.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") {
        ev.preventDefault();
        clearTimeout(timer);
        if (inp.value.trim() !== this.search.query) this.runSearch(inp.value);
        this.goToMatch(ev.shiftKey ? -1 : 1);
      } else if (ev.key === "Escape") {
        ev.preventDefault();
        ev.stopPropagation();
        if (inp.value) this.clearSearch(); else { inp.blur(); this.root.focus({ preventScroll: true }); }
      } else if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
        ev.preventDefault();
        this.goToMatch(ev.key === "ArrowDown" ? 1 : -1);
      }
    });
    // mousedown (not click) so the input keeps focus and the list stays open.
    this.results.addEventListener("mousedown", (ev) => {
      const row = ev.target.closest("[data-match]");
      ev.preventDefault();
      if (row) this.goToMatch(0, Number(row.dataset.match));
    });
    this.bar.addEventListener("mousedown", (ev) => { if (ev.target.closest("[data-act$=Match]")) ev.preventDefault(); });
    this.drawSearch();
  }

  syncToolbar() {
    const q = (a) => this.bar.querySelector(`[data-act="${a}"]`);
    q("direction").textContent = this.view.direction === "LR" ? "LR" : "TB";
    q("labels").textContent = this.view.labels === "name" ? "Name" : "Op";
    q("weights").setAttribute("aria-pressed", String(this.view.showWeights !== false));
    q("shapes").setAttribute("aria-pressed", String(this.view.showShapes !== false));
    for (const m of ["system", "light", "dark"]) q(`theme${m[0].toUpperCase()}${m.slice(1)}`).setAttribute("aria-pressed", String(this.themeMode === m));
    q("help").setAttribute("aria-pressed", String(this.help.classList.contains("ml-open")));
  }

  /** The PNG item names the scale it will really use: 2×, or less where the browser's canvas
   * limits (side, area) force it, said in the label rather than silently. */
  syncPngLabel() {
    const b = this.bar.querySelector('[data-act="png"]');
    if (!b || !this.scene) return;
    // The exported SVG's size: the drawing plus its title and legend lines (no second layout).
    const w = Math.max(this.scene.width, 360);
    const h = this.scene.height + 64;
    const k = pngScale(w, h);
    const text = k >= 2 ? "PNG image (2×)" : `PNG image (${k.toFixed(2)}×, size limit)`;
    b.textContent = text;
    b.title = k >= 2 ? "Download the current view as PNG (2×)"
      : `The view is too large for a 2× PNG (browser canvas limit ${MAX_CANVAS_SIDE} px a side, ${(MAX_CANVAS_AREA / 1e6).toFixed(0)} Mpx): `
        + `${k.toFixed(2)}× gives ${Math.round(w * k)}×${Math.round(h * k)} px. Use SVG for full resolution.`;
  }

  toggleMenu(open = !this.bar.querySelector(".ml-dl").classList.contains("ml-open")) {
    if (open) this.syncPngLabel();
    this.bar.querySelector(".ml-dl").classList.toggle("ml-open", open);
    this.bar.querySelector('[data-act="export"]').setAttribute("aria-expanded", String(open));
  }

  toggleHelp(open = !this.help.classList.contains("ml-open")) {
    this.help.classList.toggle("ml-open", open);
    this.syncToolbar();
  }

  action(act) {
    const acts = {
      fit: () => this.fit(), zoomIn: () => this.zoomCentre(1.25), zoomOut: () => this.zoomCentre(0.8),
      reset: () => this.resetZoom(), expandAll: () => this.setAll(true), collapseAll: () => this.setAll(false),
      direction: () => this.setView("direction", this.view.direction === "LR" ? "TB" : "LR"),
      labels: () => this.setView("labels", this.view.labels === "name" ? "op" : "name"),
      weights: () => this.setView("showWeights", this.view.showWeights === false),
      shapes: () => this.setView("showShapes", this.view.showShapes === false),
      export: () => this.toggleMenu(),
      svg: () => { this.toggleMenu(false); this.downloadSvg(); },
      png: () => { this.toggleMenu(false); this.downloadPng(); },
      dot: () => { this.toggleMenu(false); this.downloadDot(); },
      clear: () => this.clearSelection(),
      escape: () => {
        this.toggleMenu(false);
        if (this.help.classList.contains("ml-open")) this.toggleHelp(false); else this.clearSelection();
      },
      search: () => this.searchInput.focus(), help: () => this.toggleHelp(),
      prevMatch: () => this.goToMatch(-1), nextMatch: () => this.goToMatch(1),
      themeSystem: () => this.setThemeMode("system"), themeLight: () => this.setThemeMode("light"), themeDark: () => this.setThemeMode("dark"),
    };
    if (acts[act]) acts[act]();
  }

  bindEvents() {
    const svg = this.svg;
    // Wheel anywhere over the drawing area zooms; the page never scrolls from here.
    this.stage.addEventListener("wheel", (ev) => {
      if (ev.target.closest && ev.target.closest(".ml-results,.ml-help")) return;
      ev.preventDefault();
      const r = this.viewport();
      const unit = ev.deltaMode === 1 ? 16 : ev.deltaMode === 2 ? 400 : 1;
      const rate = ev.ctrlKey ? 0.01 : 0.0022;
      this.zoomAt(Math.exp(-ev.deltaY * unit * rate), ev.clientX - r.left, ev.clientY - r.top);
    }, { passive: false });
    svg.addEventListener("pointerdown", (ev) => {
      if (ev.button !== 0 && ev.pointerType === "mouse") return;
      this.root.focus({ preventScroll: true });
      this.pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
      if (this.pointers.size === 1) {
        this.down = { x: ev.clientX, y: ev.clientY, t: { ...this.t }, target: ev.target, moved: false };
      } else {
        this.down = null;
        this.pinch = this.pinchState();
      }
      svg.setPointerCapture(ev.pointerId);
    });
    svg.addEventListener("pointermove", (ev) => {
      if (!this.pointers.has(ev.pointerId)) return;
      this.pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
      if (this.pointers.size >= 2 && this.pinch) {
        const now = this.pinchState();
        const r = this.viewport();
        this.zoomAt(now.d / this.pinch.d, now.x - r.left, now.y - r.top);
        this.setTransform({ ...this.t, x: this.t.x + now.x - this.pinch.x, y: this.t.y + now.y - this.pinch.y });
        this.pinch = now;
        return;
      }
      const d = this.down;
      if (!d) return;
      const dx = ev.clientX - d.x;
      const dy = ev.clientY - d.y;
      if (!d.moved && dx * dx + dy * dy < 16) return;
      d.moved = true;
      svg.classList.add("ml-drag");
      this.setTransform({ ...d.t, x: d.t.x + dx, y: d.t.y + dy });
    });
    const end = (ev) => {
      if (!this.pointers.has(ev.pointerId)) return;
      this.pointers.delete(ev.pointerId);
      svg.classList.remove("ml-drag");
      const d = this.down;
      this.down = null;
      if (this.pointers.size < 2) this.pinch = null;
      if (ev.type === "pointerup" && d && !d.moved) this.clickOn(d.target, { x: d.x, y: d.y });
    };
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", end);
    this.root.addEventListener("keydown", (ev) => this.onKey(ev));
    // Shortcuts work whether or not the canvas has focus: the page's document (the Streamlit
    // component lives in the app's document, in a shadow root), and the parent document when the
    // canvas runs in a same-origin iframe. The last canvas touched (or mounted) answers.
    ACTIVE.canvas = this;
    this.root.addEventListener("pointerdown", () => { ACTIVE.canvas = this; }, true);
    this.root.addEventListener("focusin", () => { ACTIVE.canvas = this; });
    this.onDocKey = (ev) => {
      if (ACTIVE.canvas !== this || !this.root.isConnected || ev.defaultPrevented) return;
      this.onKey(ev);
    };
    this.keyDocs = [];
    const docs = [this.root.ownerDocument];
    try {
      const parent = window.parent && window.parent !== window ? window.parent.document : null;
      if (parent && !docs.includes(parent)) docs.push(parent);
    } catch (_) { /* a cross-origin parent: only this document */ }
    for (const doc of docs) {
      if (!doc) continue;
      doc.addEventListener("keydown", this.onDocKey);
      this.keyDocs.push(doc);
    }
    if (typeof ResizeObserver !== "undefined") {
      let last = null;
      this.resizer = new ResizeObserver(() => {
        const { width, height } = this.viewport();
        if (last && this.scene && (Math.abs(last.width - width) > 1 || Math.abs(last.height - height) > 1)) {
          this.setTransform({ ...this.t, x: this.t.x + (width - last.width) / 2, y: this.t.y });
        }
        last = { width, height };
      });
      this.resizer.observe(this.svg);
    }
  }

  pinchState() {
    const [a, b] = [...this.pointers.values()];
    return { d: Math.max(1, Math.hypot(a.x - b.x, a.y - b.y)), x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
  }

  /** A click: node → select it; collapsed group → expand and select the group; open group's
   * title → collapse and select the group; edge → select it; background → clear. */
  clickOn(target, point = null) {
    if (!target || !target.closest) return;
    if (this.help.classList.contains("ml-open")) this.toggleHelp(false);
    const head = target.closest("[data-cluster-head]");
    if (head) {
      const gid = head.getAttribute("data-cluster-head");
      this.selection = { kind: "group", id: gid };
      this.collapseGroup(gid);
      this.select(this.selection);
      return;
    }
    const node = target.closest("[data-id]");
    if (node) {
      const id = node.getAttribute("data-id");
      const n = this.byId.get(id);
      if (n && n.kind === "group") {
        this.selection = { kind: "group", id: n.group };
        this.expandGroup(n.group);
        this.select(this.selection);
      } else {
        this.select({ kind: "node", id });
      }
      return;
    }
    const edge = target.closest("[data-edges]");
    if (edge) { this.select({ kind: "edge", edges: this.edgesAt(edge, point) }); return; }
    this.clearSelection();
  }

  /** The payload edges a click at `point` (client px) names: edges' hit areas are 10 px wide and
   * overlap where edges run close, so of every edge under the pointer the one whose drawn line
   * passes nearest wins (not the one painted last); lines tied within half a pixel (stacked edges
   * sharing a segment) are all named. Without a point, the clicked element's edges. */
  edgesAt(hit, point) {
    const own = hit.getAttribute("data-edges").split(",").map(Number);
    const host = this.svg.getRootNode();
    if (!point || !host || typeof host.elementsFromPoint !== "function") return own;
    const groups = [...new Set(host.elementsFromPoint(point.x, point.y)
      .map((el) => el.closest && el.closest("[data-edges]")).filter((el) => el && this.root.contains(el)))];
    if (groups.length < 2) return own;
    const r = this.svg.getBoundingClientRect();
    const px = (point.x - r.left - this.t.x) / this.t.k;
    const py = (point.y - r.top - this.t.y) / this.t.k;
    const scored = groups.map((g) => ({ g, d: lineDistance(g.querySelector(".ml-line"), px, py) * this.t.k }));
    const best = Math.min(...scored.map((s) => s.d));
    const near = scored.filter((s) => s.d <= best + 0.5).flatMap((s) => s.g.getAttribute("data-edges").split(",").map(Number));
    return [...new Set(near)].sort((a, b) => a - b);
  }

  /** A key pressed on the canvas or anywhere on its page; keys typed into a text field (ours
   * or the host page's) are never taken. Ctrl/Cmd+F opens the canvas's search. */
  onKey(ev) {
    if (ev.__mlDone) return;
    const target = (ev.composedPath && ev.composedPath()[0]) || ev.target;
    if (isTextEntry(target)) return;
    if ((ev.ctrlKey || ev.metaKey) && !ev.altKey && !ev.shiftKey && String(ev.key).toLowerCase() === "f") {
      ev.preventDefault();
      ev.__mlDone = true;
      this.action("search");
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const act = KEY_ACTIONS[ev.key] || KEY_ACTIONS[String(ev.key).toLowerCase()];
    if (!act) return;
    ev.preventDefault();
    ev.stopPropagation();
    this.action(act);
  }

  destroy() {
    for (const doc of this.keyDocs || []) doc.removeEventListener("keydown", this.onDocKey);
    if (ACTIVE.canvas === this) ACTIVE.canvas = null;
    this.save();
    if (this.resizer) this.resizer.disconnect();
    clearTimeout(this.saveTimer);
    this.root.remove();
  }
}

/** Distance (layout px, to within 1/100 px) from (x, y) to an SVG path: the half-width of the
 * thinnest stroke containing the point (the browser's own geometry, isPointInStroke); Infinity
 * beyond 32 px or where the browser cannot tell. */
function lineDistance(path, x, y) {
  if (!path || typeof path.isPointInStroke !== "function" || !path.ownerSVGElement) return Infinity;
  const pt = path.ownerSVGElement.createSVGPoint();
  pt.x = x;
  pt.y = y;
  const saved = path.style.strokeWidth;
  const within = (d) => { path.style.strokeWidth = String(2 * d); return path.isPointInStroke(pt); };
  let lo = 0;
  let hi = 32;
  try {
    if (!within(hi)) return Infinity;
    while (hi - lo > 0.01) {
      const mid = (lo + hi) / 2;
      if (within(mid)) hi = mid; else lo = mid;
    }
  } finally {
    path.style.strokeWidth = saved;
  }
  return hi;
}

const TEXT_INPUTS = new Set(["text", "search", "number", "email", "url", "password", "tel", "date", "time", "datetime-local", "month", "week"]);

/** Whether keys typed at `el` are text (shortcuts must leave them alone): text-like inputs,
 * textareas, selects, contenteditable and ARIA textboxes/comboboxes. Checkboxes, radios and
 * buttons (a host page's toggles) are not. */
export function isTextEntry(el) {
  if (!el || el.nodeType !== 1) return false;
  const tag = el.tagName;
  if (tag === "INPUT") return TEXT_INPUTS.has(String(el.type || "text").toLowerCase());
  if (tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable) return true;
  const role = el.getAttribute("role");
  return role === "textbox" || role === "combobox" || role === "searchbox";
}

/** Where a graph starts, for the first view: {centre, min} of the input nodes across the flow
 * (x in top-down views, y in left-to-right ones) and their smallest coordinate along it. With
 * no inputs, the nodes of the first rank. Inputs spread wider than `span` (the viewport in
 * layout units) keep the first one and those that fit beside it. */
/** Where the first view starts, in layout units: ``min`` is the start's position along the flow
 * (the inputs' top in TB, their left in LR); ``centre`` the point across the flow to centre on.
 * The inputs are kept in view; within the first screenful (``depth`` along the flow, ``span``
 * across it) the window slides toward the nodes beside them so none is cut when they all fit,
 * and otherwise no node of the start's side is cut at the layout's edge. */
export function startBox(nodes, lr, span, depth = Infinity) {
  const along = (n) => (lr ? n.x - n.w / 2 : n.y - n.h / 2);
  const acrossC = (n) => (lr ? n.y : n.x);
  let start = nodes.filter((n) => n.kind === "input");
  if (!start.length && nodes.length) {
    const first = Math.min(...nodes.map(along));
    start = nodes.filter((n) => along(n) <= first + 1);
  }
  if (!start.length) return { centre: 0, min: 0 };
  const half = (n) => (lr ? n.h : n.w) / 2;
  const kept = [start[0]];
  let lo = acrossC(start[0]) - half(start[0]);
  let hi = acrossC(start[0]) + half(start[0]);
  for (const n of start.slice(1)) {
    const a = Math.min(lo, acrossC(n) - half(n));
    const b = Math.max(hi, acrossC(n) + half(n));
    if (b - a <= span - 24) { lo = a; hi = b; kept.push(n); }
  }
  const min = Math.min(...kept.map(along));
  const screen = nodes.filter((n) => along(n) <= min + depth);
  const rlo = Math.min(lo, ...screen.map((n) => acrossC(n) - half(n)));
  const rhi = Math.max(hi, ...screen.map((n) => acrossC(n) + half(n)));
  const room = span - 24;
  if (rhi - rlo <= room) return { centre: (rlo + rhi) / 2, min };
  const left = Math.max(rlo, Math.min((lo + hi) / 2 - room / 2, rhi - room));
  return { centre: left + room / 2, min };
}

const MAX_CANVAS_SIDE = 32767; // Chromium's and Firefox's largest canvas side (px)
const MAX_CANVAS_AREA = 2.5e8; // below Chromium's 268 Mpx canvas area limit

/** The PNG export's scale for a w×h px view: 2, or the largest scale that the browser's canvas
 * limits allow (each side at most 32767 px, the area at most 250 Mpx). */
export function pngScale(w, h) {
  return Math.max(0.05, Math.min(2, MAX_CANVAS_SIDE / w, MAX_CANVAS_SIDE / h, Math.sqrt(MAX_CANVAS_AREA / (w * h))));
}

function pick(obj, keys) {
  const out = {};
  for (const k of keys) if (obj && obj[k] !== undefined && obj[k] !== null) out[k] = obj[k];
  return out;
}
