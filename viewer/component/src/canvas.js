// The interactive canvas shared by the Streamlit component and the standalone HTML viewer:
// pan/zoom, toolbar, keyboard shortcuts, selection, expand/collapse with anchored relayout.
import { renderDot } from "./dot.js";
import { FONT_FAMILY, useBrowserMeasure } from "./measure.js";
import { PALETTES, VAR_PALETTE, buildScene, defsMarkup, esc, legendItems, renderSvg, sceneMarkup, svgCss } from "./svg.js";
import { GROUP_PREFIX, indexPayload, nodeAncestors, visibleGraph, visibleIdFor } from "./visible.js";

const VIEW_KEYS = ["direction", "labels", "showWeights", "showShapes"];
const SAVED = new Map(); // per-page memory of instance state, keyed by store key + payload identity
const MIN_K = 0.02;
const MAX_K = 6;
let uid = 0;

const ICONS = {
  fit: "M2 6V2h4M10 2h4v4M14 10v4h-4M6 14H2v-4",
  zoomIn: "M8 3v10M3 8h10",
  zoomOut: "M3 8h10",
  expand: "M2.5 2.5h11v11h-11zM8 5v6M5 8h6",
  collapse: "M2.5 2.5h11v11h-11zM5 8h6",
  download: "M8 2v8M4.5 6.5 8 10l3.5-3.5M3 13h10",
};

const CSS = `
.ml-root{position:relative;flex:1 1 auto;min-width:0;min-height:0;overflow:hidden;background:var(--ml-bg);color:var(--ml-text);border-radius:8px;
  border:1px solid var(--ml-frame);outline:none;user-select:none;-webkit-user-select:none;touch-action:none;
  font-family:var(--ml-ui-font);box-sizing:border-box}
.ml-root:focus{outline:none}
.ml-root *{box-sizing:border-box}
.ml-svg{display:block;width:100%;height:100%;cursor:grab}
.ml-svg.ml-drag{cursor:grabbing}
.ml-node,.ml-edge,.ml-chead{cursor:pointer}
.ml-node:hover .ml-outline{stroke:var(--ml-accent);stroke-opacity:.45;stroke-width:2}
.ml-node.ml-sel:hover .ml-outline{stroke-opacity:1;stroke-width:3}
.ml-edge:hover .ml-line{stroke:var(--ml-accent)}
.ml-chead:hover .ml-ctext{fill:var(--ml-accent)}
.ml-k-group:hover .ml-gbox{stroke:var(--ml-accent)}
.ml-bar{position:absolute;top:8px;left:8px;display:flex;flex-wrap:wrap;align-items:center;gap:1px;padding:3px;
  background:var(--ml-panel);border:1px solid var(--ml-frame);border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.08);
  max-width:calc(100% - 16px)}
.ml-btn{height:26px;min-width:26px;padding:0 7px;border:0;border-radius:5px;background:transparent;color:var(--ml-text);
  font:500 11.5px/1 var(--ml-ui-font);cursor:pointer;display:inline-flex;align-items:center;justify-content:center;gap:4px}
.ml-btn:hover{background:var(--ml-hover)}
.ml-btn:focus-visible{outline:2px solid var(--ml-accent);outline-offset:-2px}
.ml-btn[aria-pressed=true]{color:var(--ml-accent);background:var(--ml-pressed)}
.ml-btn svg{width:15px;height:15px;fill:none;stroke:currentColor;stroke-width:1.5;stroke-linecap:round;stroke-linejoin:round}
.ml-sep{width:1px;height:18px;background:var(--ml-frame);margin:0 4px}
.ml-legend{position:absolute;left:8px;bottom:8px;display:flex;flex-wrap:wrap;gap:4px 12px;max-width:70%;padding:5px 8px;
  background:var(--ml-panel);border:1px solid var(--ml-frame);border-radius:7px;font-size:11px;color:var(--ml-muted)}
.ml-legend span{display:inline-flex;align-items:center;gap:5px;white-space:nowrap}
.ml-legend i{display:inline-block;width:11px;height:11px;border-radius:3px}
.ml-status{position:absolute;right:10px;bottom:9px;font-size:11px;color:var(--ml-muted);pointer-events:none;
  background:var(--ml-panel);padding:2px 6px;border-radius:5px}
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
  vars.push(`--ml-panel:${dark ? "rgba(30,32,36,.92)" : "rgba(255,255,255,.92)"}`);
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

export class GraphCanvas {
  /** hooks: onSelect(sel), onExpanded(ids), onView(view), onChange() */
  constructor(host, hooks = {}) {
    useBrowserMeasure();
    this.hooks = hooks;
    this.prefix = `ml${++uid}-`;
    this.t = { x: 0, y: 0, k: 1 };
    this.view = { direction: "TB", labels: "op", showWeights: true, showShapes: true };
    this.expanded = new Set();
    this.selection = null;
    this.highlight = [];
    this.theme = "light";
    this.pointers = new Map();
    this.root = document.createElement("div");
    this.root.className = "ml-root";
    this.root.tabIndex = 0;
    this.root.innerHTML = `<style>${CSS}${svgCss(VAR_PALETTE, ".ml-root .ml-svg")}</style>`
      + `<svg class="ml-svg" xmlns="http://www.w3.org/2000/svg">${defsMarkup(this.prefix)}<g class="ml-scene"></g></svg>`
      + `<div class="ml-bar" role="toolbar"></div><div class="ml-legend"></div><div class="ml-status"></div>`
      + `<div class="ml-busy">Laying out…</div>`;
    host.appendChild(this.root);
    this.svg = this.root.querySelector(".ml-svg");
    this.sceneEl = this.root.querySelector(".ml-scene");
    this.bar = this.root.querySelector(".ml-bar");
    this.buildToolbar();
    this.bindEvents();
    this.setTheme("light");
  }

  // ----- state ---------------------------------------------------------------------------

  /** Load a payload or apply changed options; keeps state for the same payload. */
  update(payload, options = {}, storeKey = "") {
    const ident = payloadIdentity(payload);
    const optsJson = JSON.stringify(options);
    if (ident !== this.ident || storeKey !== this.storeKey) {
      this.load(payload, options, ident, storeKey, optsJson);
    } else if (optsJson !== this.optsJson) {
      this.applyOptions(options, JSON.parse(this.optsJson || "{}"));
      this.optsJson = optsJson;
      this.save();
    }
  }

  load(payload, options, ident, storeKey, optsJson) {
    this.payload = payload;
    this.ident = ident;
    this.storeKey = storeKey;
    this.optsJson = optsJson;
    const saved = SAVED.get(`${storeKey}|${ident}`);
    if (saved && saved.optsJson === optsJson) {
      this.view = { ...saved.view };
      this.expanded = new Set(saved.expanded);
      this.selection = saved.selection;
      this.highlight = saved.highlight;
      this.relayout();
      this.setTransform(saved.t);
      return;
    }
    this.view = { ...this.view, ...pick(options, VIEW_KEYS) };
    this.expanded = new Set(visibleGraph(payload, { ...options, focus: null }).expanded);
    this.selection = options.selected != null ? { kind: "node", id: String(options.selected) } : null;
    this.highlight = options.highlight || [];
    if (options.focus != null) {
      this.focusNode(options.focus, false);
    } else {
      this.relayout();
      this.initialView();
    }
    this.save();
  }

  applyOptions(options, prev) {
    let relayout = false;
    let fit = false;
    for (const k of VIEW_KEYS) {
      if (options[k] !== undefined && options[k] !== prev[k] && options[k] !== this.view[k]) {
        this.view[k] = options[k];
        relayout = true;
        fit = fit || k === "direction";
      }
    }
    if (JSON.stringify(options.expanded) !== JSON.stringify(prev.expanded) || options.expand !== prev.expand) {
      this.expanded = new Set(visibleGraph(this.payload, { ...options, focus: null }).expanded);
      relayout = true;
    }
    if (JSON.stringify(options.highlight || []) !== JSON.stringify(prev.highlight || [])) this.highlight = options.highlight || [];
    if (options.selected !== prev.selected) this.selection = options.selected != null ? { kind: "node", id: String(options.selected) } : null;
    if (options.focus != null && options.focus !== prev.focus) {
      this.focusNode(options.focus, false);
      return;
    }
    if (relayout) {
      this.relayout(fit ? null : this.centreAnchor());
      if (fit) this.fit();
    } else {
      this.redraw();
    }
  }

  save() {
    if (!this.payload) return;
    SAVED.set(`${this.storeKey}|${this.ident}`, {
      optsJson: this.optsJson, view: { ...this.view }, expanded: [...this.expanded], t: { ...this.t },
      selection: this.selection, highlight: this.highlight,
    });
    if (SAVED.size > 32) SAVED.delete(SAVED.keys().next().value);
  }

  options() {
    const sel = this.selection;
    return {
      ...this.view, expanded: [...this.expanded], highlight: this.highlight,
      selected: sel && sel.kind === "node" ? sel.id : null, selectedEdges: sel && sel.kind === "edge" ? sel.edges : [],
    };
  }

  setTheme(base, overrides = {}) {
    this.theme = base === "dark" ? "dark" : "light";
    const decls = `${paletteVars(this.theme, overrides)};--ml-ui-font:${overrides.uiFont || FONT_FAMILY}`;
    for (const d of decls.split(";")) {
      const at = d.indexOf(":");
      if (at > 0) this.root.style.setProperty(d.slice(0, at), d.slice(at + 1));
    }
    this.root.dataset.theme = this.theme;
  }

  /** Follow Streamlit's --st-* theme variables (read from the computed style). */
  followStreamlitTheme() {
    const cs = getComputedStyle(this.root.parentNode instanceof Element ? this.root.parentNode : this.root);
    const v = (name) => cs.getPropertyValue(name).trim();
    const bg = v("--st-background-color");
    if (!bg) return;
    const overrides = { bg };
    if (v("--st-text-color")) overrides.text = v("--st-text-color");
    if (v("--st-primary-color")) overrides.accent = v("--st-primary-color");
    if (v("--st-font")) overrides.uiFont = v("--st-font");
    this.setTheme(luminance(bg) < 0.5 ? "dark" : "light", overrides);
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
    this.root.querySelector(".ml-legend").style.display = items.length ? "" : "none";
  }

  drawStatus() {
    const ops = this.scene.nodes.filter((n) => n.kind !== "group").length;
    const groups = this.scene.nodes.length - ops;
    const parts = [`${this.scene.nodes.length.toLocaleString()} shown of ${this.vg.total.toLocaleString()} nodes`];
    if (groups) parts.push(`${groups} collapsed`);
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
    const top = 44;
    const k = Math.min(2, (width - 24) / Math.max(1, this.scene.width), (height - top - 30) / Math.max(1, this.scene.height));
    this.setTransform({ k, x: (width - this.scene.width * k) / 2, y: top + (height - top - 30 - this.scene.height * k) / 2 });
  }

  /** Whole graph when readable; otherwise 100% from the top (like Netron). */
  initialView() {
    const { width, height } = this.viewport();
    const fitK = Math.min((width - 24) / Math.max(1, this.scene.width), (height - 74) / Math.max(1, this.scene.height));
    if (fitK >= 0.7) { this.fit(); if (this.t.k > 1) this.resetZoom(true); return; }
    const k = Math.max(0.7, Math.min(1, (width - 24) / Math.max(1, this.scene.width)));
    this.setTransform({ k, x: (width - this.scene.width * k) / 2, y: 44 });
  }

  resetZoom(centre = false) {
    const { width, height } = this.viewport();
    if (centre) {
      this.setTransform({ k: 1, x: (width - this.scene.width) / 2, y: Math.max(44, (height - this.scene.height) / 2) });
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
    if (sid.startsWith(GROUP_PREFIX)) {
      const index = indexPayload(this.payload);
      const gi = index.byId.get(sid.slice(GROUP_PREFIX.length));
      for (let q = gi === undefined ? -1 : index.parent[gi]; q >= 0; q = index.parent[q]) this.expanded.add(String(index.groups[q].id));
    }
    this.selection = { kind: "node", id: sid };
    this.relayout();
    this.centreOn(visibleIdFor(this.payload, this.vg.expanded, sid) || sid);
    if (notify) this.emitExpanded();
    this.save();
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

  setView(key, value) {
    this.view[key] = value;
    this.relayoutAsync(key === "direction" ? null : this.centreAnchor(), key === "direction");
    if (this.hooks.onView) this.hooks.onView({ ...this.view });
  }

  /** Relayout now, or after a paint with a busy note when the view is large. */
  relayoutAsync(anchor, fit = false) {
    const run = () => {
      this.relayout(anchor);
      if (fit) this.fit();
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

  select(sel, notify = true) {
    this.selection = sel;
    this.redraw();
    this.save();
    if (notify && this.hooks.onSelect) this.hooks.onSelect(sel);
  }

  clearSelection() {
    if (this.selection) this.select(null, false);
    if (this.hooks.onClear) this.hooks.onClear();
  }

  setHighlight(ids) {
    this.highlight = ids || [];
    this.redraw();
  }

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
    const scale = Math.max(0.1, Math.min(2, 16000 / w, 16000 / h, Math.sqrt(2.4e8 / (w * h))));
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
    const items = [
      ["fit", icon(ICONS.fit), "Fit to screen (F)"], ["zoomIn", icon(ICONS.zoomIn), "Zoom in (+)"],
      ["zoomOut", icon(ICONS.zoomOut), "Zoom out (−)"], "|",
      ["expandAll", icon(ICONS.expand), "Expand all groups (E)"], ["collapseAll", icon(ICONS.collapse), "Collapse all groups (C)"], "|",
      ["direction", "TB", "Layout direction: top→bottom / left→right"], ["labels", "Op", "Node labels: op type / node name"],
      ["weights", "Weights", "Show weight shapes on nodes"], ["shapes", "Shapes", "Show tensor shapes on edges"], "|",
      ["svg", `${icon(ICONS.download)}SVG`, "Download the current view as SVG"], ["png", "PNG", "Download the current view as PNG (2×)"],
      ["dot", "DOT", "Download the current view as Graphviz DOT"],
    ];
    this.bar.innerHTML = items.map((it) => (it === "|" ? '<span class="ml-sep"></span>'
      : `<button type="button" class="ml-btn" data-act="${it[0]}" title="${esc(it[2])}" aria-label="${esc(it[2])}">${it[1]}</button>`)).join("");
    this.bar.addEventListener("click", (ev) => {
      const b = ev.target.closest("[data-act]");
      if (b) this.action(b.dataset.act);
    });
  }

  syncToolbar() {
    const q = (a) => this.bar.querySelector(`[data-act="${a}"]`);
    q("direction").textContent = this.view.direction === "LR" ? "LR" : "TB";
    q("labels").textContent = this.view.labels === "name" ? "Name" : "Op";
    q("weights").setAttribute("aria-pressed", String(this.view.showWeights !== false));
    q("shapes").setAttribute("aria-pressed", String(this.view.showShapes !== false));
  }

  action(act) {
    const acts = {
      fit: () => this.fit(), zoomIn: () => this.zoomCentre(1.25), zoomOut: () => this.zoomCentre(0.8),
      reset: () => this.resetZoom(), expandAll: () => this.setAll(true), collapseAll: () => this.setAll(false),
      direction: () => this.setView("direction", this.view.direction === "LR" ? "TB" : "LR"),
      labels: () => this.setView("labels", this.view.labels === "name" ? "op" : "name"),
      weights: () => this.setView("showWeights", this.view.showWeights === false),
      shapes: () => this.setView("showShapes", this.view.showShapes === false),
      svg: () => this.downloadSvg(), png: () => this.downloadPng(), dot: () => this.downloadDot(),
      clear: () => this.clearSelection(),
    };
    if (acts[act]) acts[act]();
  }

  bindEvents() {
    const svg = this.svg;
    svg.addEventListener("wheel", (ev) => {
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
      if (ev.type === "pointerup" && d && !d.moved) this.clickOn(d.target);
    };
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", end);
    this.root.addEventListener("keydown", (ev) => this.onKey(ev));
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

  clickOn(target) {
    if (!target || !target.closest) return;
    const head = target.closest("[data-cluster-head]");
    if (head) { this.collapseGroup(head.getAttribute("data-cluster-head")); return; }
    const node = target.closest("[data-id]");
    if (node) {
      const id = node.getAttribute("data-id");
      const n = this.byId.get(id);
      if (n && n.kind === "group") this.expandGroup(n.group);
      else this.select({ kind: "node", id });
      return;
    }
    const edge = target.closest("[data-edges]");
    if (edge) { this.select({ kind: "edge", edges: edge.getAttribute("data-edges").split(",").map(Number) }); return; }
    this.clearSelection();
  }

  onKey(ev) {
    if (ev.target && /^(INPUT|TEXTAREA|SELECT)$/.test(ev.target.tagName)) return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const map = { f: "fit", "+": "zoomIn", "=": "zoomIn", "-": "zoomOut", _: "zoomOut", 0: "reset", e: "expandAll", c: "collapseAll", Escape: "clear" };
    const act = map[ev.key];
    if (!act) return;
    ev.preventDefault();
    ev.stopPropagation();
    this.action(act);
  }

  destroy() {
    this.save();
    if (this.resizer) this.resizer.disconnect();
    clearTimeout(this.saveTimer);
    this.root.remove();
  }
}

function pick(obj, keys) {
  const out = {};
  for (const k of keys) if (obj && obj[k] !== undefined && obj[k] !== null) out[k] = obj[k];
  return out;
}
