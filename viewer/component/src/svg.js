// SVG drawing of a laid-out visible graph (pure: strings only, no DOM).
import { FONT_FAMILY, textWidth } from "./measure.js";
import { METRICS, layoutGraph } from "./layout.js";
import { GROUP_PREFIX, indexPayload, visibleGraph, visibleIdFor } from "./visible.js";

export const PALETTES = {
  light: {
    bg: "#ffffff", text: "#1b1f24", muted: "#66707a", edge: "#7d858e", edgeText: "#5a636c",
    body: "#ffffff", border: "#9aa1a9", cluster: "rgba(40,80,140,0.035)", clusterBorder: "#bcc4ce",
    clusterText: "#46515c", group: "#f1f4f8", groupBorder: "#7f8b99", accent: "#1f6feb", hl: "#f59e0b",
  },
  dark: {
    bg: "#16181c", text: "#e6e8eb", muted: "#9aa3ad", edge: "#8b939c", edgeText: "#a7afb8",
    body: "#24272c", border: "#5a616a", cluster: "rgba(255,255,255,0.035)", clusterBorder: "#4a515a",
    clusterText: "#b6bec7", group: "#2b3038", groupBorder: "#7c8794", accent: "#58a6ff", hl: "#f5b83d",
  },
};

/** The palette as CSS variable references (for the interactive canvas). */
export const VAR_PALETTE = Object.fromEntries(Object.keys(PALETTES.light).map((k) => [k, `var(--ml-${k})`]));

const DEFAULT_CATEGORY = { label: "Other", fill: "#5c6470", text: "#ffffff" };
const IO_CATEGORY = { input: { label: "Input", fill: "#3c4043", text: "#ffffff" }, output: { label: "Output", fill: "#3c4043", text: "#ffffff" } };

export function esc(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

const r1 = (v) => Math.round(v * 10) / 10;

export function categoryOf(payload, node) {
  const cats = payload.categories || {};
  return cats[node.cat] || IO_CATEGORY[node.kind] || cats[node.kind] || DEFAULT_CATEGORY;
}

/** CSS rules for the drawing; `pal` holds concrete colours or var() references. */
export function svgCss(pal, scope = ".ml-svg") {
  return `${scope} text{font-family:${FONT_FAMILY};text-rendering:geometricPrecision;fill:${pal.text}}
${scope} .ml-body{fill:${pal.body};stroke:${pal.border};stroke-width:1}
${scope} .ml-rowk{font-weight:600;font-size:${METRICS.rowSize}px}
${scope} .ml-row{font-size:${METRICS.rowSize}px}
${scope} .ml-muted{fill:${pal.muted}}
${scope} .ml-title{font-weight:600;font-size:${METRICS.headerSize}px}
${scope} .ml-pill text{font-size:${METRICS.pillSize}px}
${scope} .ml-line{fill:none;stroke:${pal.edge};stroke-width:1.1}
${scope} .ml-control .ml-line{stroke-dasharray:4 3}
${scope} .ml-hit{fill:none;stroke:transparent;stroke-width:10}
${scope} .ml-elabel{font-size:${METRICS.edgeSize}px;fill:${pal.edgeText};paint-order:stroke;stroke:${pal.bg};stroke-width:3px;stroke-linejoin:round}
${scope} .ml-arrowhead{fill:${pal.edge}}
${scope} .ml-arrowsel{fill:${pal.accent}}
${scope} .ml-cbox{fill:${pal.cluster};stroke:${pal.clusterBorder};stroke-width:1}
${scope} .ml-ctext{font-size:${METRICS.clusterSize}px;font-weight:600;fill:${pal.clusterText}}
${scope} .ml-ccount{font-size:${METRICS.rowSize}px;fill:${pal.muted}}
${scope} .ml-chead text{paint-order:stroke;stroke:${pal.bg};stroke-width:3px;stroke-linejoin:round}
${scope} .ml-gbox{fill:${pal.group};stroke:${pal.groupBorder};stroke-width:1.2}
${scope} .ml-gicon{fill:none;stroke:${pal.groupBorder};stroke-width:1.2}
${scope} .ml-outline{fill:none;stroke:none}
${scope} .ml-hl .ml-outline{stroke:${pal.hl};stroke-width:3}
${scope} .ml-sel .ml-outline{stroke:${pal.accent};stroke-width:3}
${scope} .ml-edge.ml-sel .ml-line{stroke:${pal.accent};stroke-width:2.4}
${scope} .ml-edge.ml-sel .ml-elabel{fill:${pal.accent}}
${scope} .ml-cbox.ml-sel{stroke:${pal.accent};stroke-width:2.5}
${scope} .ml-chead.ml-sel .ml-ctext{fill:${pal.accent}}
${scope} .ml-legend text{font-size:10.5px;fill:${pal.muted}}
${scope} .ml-heading{font-size:13px;font-weight:600}`;
}

function roundedTop(x, y, w, h, r) {
  return `M${x},${y + h}V${y + r}Q${x},${y} ${x + r},${y}H${x + w - r}Q${x + w},${y} ${x + w},${y + r}V${y + h}Z`;
}

/** A run's relative node time (payload ``heat``, 0..1): a red bar along the node's bottom edge,
 * its length the share of the slowest node's time, and a tinted outline. */
function heatMarkup(n, heat) {
  if (!(heat > 0)) return "";
  const x = -n.w / 2;
  const y = -n.h / 2;
  const h = Math.min(1, heat);
  const alpha = r1(0.35 + 0.65 * h);
  return `<rect class="ml-heat" x="${x}" y="${y - 1}" width="${n.w}" height="${n.h + 2}" rx="6" fill="none" stroke="rgba(220,38,38,${alpha})" stroke-width="${r1(1 + 2 * h)}"/>`
    + `<rect class="ml-heatbar" x="${x + 2}" y="${y + n.h - 5}" width="${r1(Math.max(3, (n.w - 4) * h))}" height="4" rx="2" fill="rgb(220,38,38)"><title>${Math.round(h * 100)}% of the slowest node's time</title></rect>`;
}

function opNode(n, cat) {
  const M = METRICS;
  const x = -n.w / 2;
  const y = -n.h / 2;
  const parts = [`<rect class="ml-body" x="${x}" y="${y}" width="${n.w}" height="${n.h}" rx="5"/>`];
  const headH = n.rows.length ? M.headerH : n.h;
  parts.push(n.rows.length
    ? `<path d="${roundedTop(x, y, n.w, headH, 5)}" fill="${esc(cat.fill)}"/>`
    : `<rect x="${x}" y="${y}" width="${n.w}" height="${n.h}" rx="5" fill="${esc(cat.fill)}"/>`);
  parts.push(`<text class="ml-title" x="0" y="${r1(y + headH / 2 + 4)}" text-anchor="middle" style="fill:${esc(cat.text || "#fff")}">${esc(n.title)}</text>`);
  let ry = y + M.headerH + M.rowPad + M.rowH / 2 + 3.5;
  for (const row of n.rows) {
    const tx = x + M.padX;
    if (row.key) {
      const kw = textWidth(row.key, M.rowSize, true) + 4;
      parts.push(`<text class="ml-rowk${row.muted ? " ml-muted" : ""}" x="${r1(tx)}" y="${r1(ry)}">${esc(row.key)}</text>`);
      if (row.value) parts.push(`<text class="ml-row" x="${r1(tx + kw)}" y="${r1(ry)}">${esc(row.value)}</text>`);
    } else {
      parts.push(`<text class="ml-row${row.muted ? " ml-muted" : ""}" x="${r1(tx)}" y="${r1(ry)}">${esc(row.value)}</text>`);
    }
    ry += M.rowH;
  }
  parts.push(`<rect class="ml-outline" x="${x - 2}" y="${y - 2}" width="${n.w + 4}" height="${n.h + 4}" rx="7"/>`);
  return parts.join("");
}

function pillNode(n, cat) {
  const x = -n.w / 2;
  const y = -n.h / 2;
  return `<g class="ml-pill"><rect x="${x}" y="${y}" width="${n.w}" height="${n.h}" rx="${n.h / 2}" fill="${esc(cat.fill)}"/>`
    + `<text x="0" y="4" text-anchor="middle" style="fill:${esc(cat.text || "#fff")}">${esc(n.title)}</text></g>`
    + `<rect class="ml-outline" x="${x - 2}" y="${y - 2}" width="${n.w + 4}" height="${n.h + 4}" rx="${n.h / 2 + 2}"/>`;
}

function groupNode(n) {
  const M = METRICS;
  const x = -n.w / 2;
  const y = -n.h / 2;
  const ix = x + 9;
  const iy = y + 7;
  return `<rect class="ml-gbox" x="${x}" y="${y}" width="${n.w}" height="${n.h}" rx="6"/>`
    + `<rect x="${x + 3}" y="${y + 3}" width="${n.w - 6}" height="${n.h - 6}" rx="4" class="ml-gicon" stroke-dasharray="2 2" opacity="0.55"/>`
    + `<g class="ml-gplus"><rect class="ml-gicon" x="${ix}" y="${iy}" width="10" height="10" rx="2"/><path class="ml-gicon" d="M${ix + 2.5},${iy + 5}h5M${ix + 5},${iy + 2.5}v5"/></g>`
    + `<text class="ml-title" x="${ix + 15}" y="${r1(iy + 9)}">${esc(n.title)}</text>`
    + `<text class="ml-rowk ml-muted" x="${x + M.padX + 1}" y="${r1(y + M.headerH + M.rowH / 2 + 5)}">${esc(n.badge)}`
    + `<tspan class="ml-row" dx="6">${esc(n.sub)}</tspan></text>`
    + `<rect class="ml-outline" x="${x - 2}" y="${y - 2}" width="${n.w + 4}" height="${n.h + 4}" rx="8"/>`;
}

/** Cubic B-spline through dagre's points (the "basis" curve). */
export function basisPath(points) {
  if (!points.length) return "";
  if (points.length < 3) return `M${points.map((p) => `${r1(p.x)},${r1(p.y)}`).join("L")}`;
  let d = `M${r1(points[0].x)},${r1(points[0].y)}`;
  let [x0, y0, x1, y1] = [points[0].x, points[0].y, points[1].x, points[1].y];
  d += `L${r1((5 * x0 + x1) / 6)},${r1((5 * y0 + y1) / 6)}`;
  const curve = (x, y) => {
    d += `C${r1((2 * x0 + x1) / 3)},${r1((2 * y0 + y1) / 3)} ${r1((x0 + 2 * x1) / 3)},${r1((y0 + 2 * y1) / 3)} ${r1((x0 + 4 * x1 + x) / 6)},${r1((y0 + 4 * y1 + y) / 6)}`;
    [x0, y0, x1, y1] = [x1, y1, x, y];
  };
  for (let i = 2; i < points.length; i++) curve(points[i].x, points[i].y);
  curve(x1, y1);
  d += `L${r1(x1)},${r1(y1)}`;
  return d;
}

function edgeMarkup(e, selected, idPrefix, lr) {
  const d = basisPath(e.points);
  const marker = `url(#${idPrefix}${selected ? "arrow-sel" : "arrow"})`;
  let label = "";
  if (e.label && e.lx != null) {
    const x = lr ? e.lx : e.lx - e.lw / 2 + 2;
    const y = lr ? e.ly - 3 : e.ly + 3;
    label = `<text class="ml-elabel" x="${r1(x)}" y="${r1(y)}"${lr ? ' text-anchor="middle"' : ""}>${esc(e.label)}</text>`;
  }
  const text = e.control ? "control dependency (runs before, no tensor)" : [e.tensor, e.shape, e.dtype].filter(Boolean).join("  ");
  const title = `<title>${esc(text)}</title>`;
  return `<g class="ml-edge${e.control ? " ml-control" : ""}${selected ? " ml-sel" : ""}" data-edges="${e.edges.join(",")}">${title}<path class="ml-hit" d="${d}"/>`
    + `<path class="ml-line" d="${d}" marker-end="${marker}"/>${label}</g>`;
}

function clusterBox(c, selected) {
  return `<rect class="ml-cbox${selected ? " ml-sel" : ""}" data-cluster="${esc(c.id)}" x="${r1(c.x) + 0.5}" y="${r1(c.y) + 0.5}" width="${r1(c.w)}" height="${r1(c.h)}" rx="7"/>`;
}

function clusterHead(c, selected) {
  const label = c.titleLabel != null ? c.titleLabel : c.label;
  const tw = textWidth(label, METRICS.clusterSize, true);
  const x0 = r1(c.x) + 0.5;
  const x = r1(x0 + (c.tx || 0));
  const y = r1(c.y) + 0.5;
  return `<g class="ml-chead${selected ? " ml-sel" : ""}" data-cluster-head="${esc(c.id)}"><title>${esc(c.id)} — click to collapse</title>`
    + `<rect x="${x0}" y="${y}" width="${r1(Math.max(c.w, 10))}" height="${METRICS.clusterHeader - 4}" fill="transparent"/>`
    + `<path class="ml-gicon" d="M${x + 9},${y + 10.5}h6"/>`
    + `<text class="ml-ctext" x="${x + 20}" y="${y + 14}">${esc(label)}</text>`
    + (c.showCount === false ? "" : `<text class="ml-ccount" x="${r1(x + 26 + tw)}" y="${y + 14}">${esc(`${c.count} ops`)}</text>`)
    + "</g>";
}

export function defsMarkup(idPrefix = "ml-") {
  const m = (id, cls) => `<marker id="${idPrefix}${id}" viewBox="0 0 10 10" refX="9.5" refY="5" markerWidth="7" markerHeight="7" markerUnits="userSpaceOnUse" orient="auto"><path class="${cls}" d="M0,0.8L10,5L0,9.2Z"/></marker>`;
  return `<defs>${m("arrow", "ml-arrowhead")}${m("arrow-sel", "ml-arrowsel")}</defs>`;
}

/**
 * The one selection of a view, normalised: null, {kind: "node", id}, {kind: "edge", edges: [payload
 * edge indices]} or {kind: "group", id: groupId}. Accepts the legacy node-id string (a
 * "group:<id>" string that names no node is a group) and {kind: "none"}.
 */
export function normalizeSelection(payload, sel) {
  if (sel == null || sel === "") return null;
  if (typeof sel !== "object") {
    const id = String(sel);
    const index = indexPayload(payload);
    if (!index.nodeIndex.has(id) && id.startsWith(GROUP_PREFIX) && index.byId.has(id.slice(GROUP_PREFIX.length))) {
      return { kind: "group", id: id.slice(GROUP_PREFIX.length) };
    }
    return { kind: "node", id };
  }
  if (sel.kind === "node" && sel.id != null) return { kind: "node", id: String(sel.id) };
  if (sel.kind === "group" && sel.id != null) return { kind: "group", id: String(sel.id) };
  if (sel.kind === "edge" && Array.isArray(sel.edges)) return { kind: "edge", edges: sel.edges.map(Number) };
  return null;
}

/** Visible id standing in for a group: its node when collapsed, the outermost collapsed ancestor
 * when hidden, null when it is open. */
function visibleGroupId(payload, vg, groupId) {
  const index = indexPayload(payload);
  const g = index.byId.get(String(groupId));
  if (g === undefined) return null;
  const open = new Set(vg.expanded);
  const chain = [];
  for (let q = g; q >= 0; q = index.parent[q]) chain.unshift(q);
  for (const q of chain) if (!open.has(String(index.groups[q].id))) return GROUP_PREFIX + index.groups[q].id;
  return null;
}

const TENSOR_EDGES = new WeakMap(); // payload -> Map("src|tensor" -> [payload edge indices])

/** Every payload edge carrying the same tensor (same producer and tensor name) as one of
 * `indices`: a tensor read by several consumers is one selection, drawn on all its edges.
 * Control edges (no tensor) stand for themselves. */
export function tensorEdges(payload, indices) {
  const all = payload.edges || [];
  let byTensor = TENSOR_EDGES.get(payload);
  if (!byTensor) {
    byTensor = new Map();
    all.forEach((e, i) => {
      if (!e[2] || e[5]) return;
      const k = `${e[0]}|${e[2]}`;
      if (!byTensor.has(k)) byTensor.set(k, []);
      byTensor.get(k).push(i);
    });
    TENSOR_EDGES.set(payload, byTensor);
  }
  const out = new Set();
  for (const i of indices) {
    const e = all[i];
    out.add(i);
    if (e && e[2] && !e[5]) for (const j of byTensor.get(`${e[0]}|${e[2]}`) || []) out.add(j);
  }
  return [...out];
}

/** What to mark: selected visible node ids, the selected open group, edges, highlighted ids. */
function markSets(payload, scene, vg, options) {
  const visible = new Set(scene.nodes.map((n) => n.id));
  const resolve = (id) => (visible.has(String(id)) ? String(id) : visibleIdFor(payload, vg.expanded, id));
  const sel = new Set();
  const edges = new Set(options.selectedEdges || []);
  let cluster = null;
  // The canvas passes `selection`; exports may pass the legacy `selected`, else `focus`.
  const raw = options.selection !== undefined ? options.selection
    : options.selected !== undefined && options.selected !== null ? options.selected : options.focus;
  const s = normalizeSelection(payload, raw);
  if (s && s.kind === "node") sel.add(resolve(s.id));
  else if (s && s.kind === "edge") for (const i of tensorEdges(payload, s.edges)) edges.add(i);
  else if (s && s.kind === "group") {
    const vid = visibleGroupId(payload, vg, s.id);
    if (vid) sel.add(vid);
    else cluster = s.id;
  }
  const hl = new Set((options.highlight || []).map(resolve));
  return { sel, hl, edges, cluster };
}

/** The graph drawing (clusters, edges, nodes) as SVG markup without the outer <svg>. */
export function sceneMarkup(payload, vg, scene, options, idPrefix = "ml-") {
  const marks = markSets(payload, scene, vg, options);
  const out = [];
  const clusters = [...scene.clusters].sort((a, b) => a.depth - b.depth);
  out.push(`<g class="ml-clusters">${clusters.map((c) => clusterBox(c, c.id === marks.cluster)).join("")}</g>`);
  const lr = scene.direction === "LR";
  out.push(`<g class="ml-edges">${scene.edges.map((e) => edgeMarkup(e, e.edges.some((i) => marks.edges.has(i)), idPrefix, lr)).join("")}</g>`);
  out.push(`<g class="ml-cheads">${clusters.map((c) => clusterHead(c, c.id === marks.cluster)).join("")}</g>`);
  const nodes = scene.nodes.map((n) => {
    const cls = `ml-node ml-k-${n.kind}${marks.sel.has(n.id) ? " ml-sel" : ""}${marks.hl.has(n.id) ? " ml-hl" : ""}`;
    const tip = n.kind === "group" ? `${n.group} — click to expand` : n.name || n.id;
    const heat = n.kind === "op" && n.index != null ? (payload.nodes[n.index] || {}).heat || 0 : 0;
    const body = (n.kind === "group" ? groupNode(n) : n.shape === "pill" ? pillNode(n, categoryOf(payload, n)) : opNode(n, categoryOf(payload, n)))
      + heatMarkup(n, heat);
    return `<g class="${cls}" data-id="${esc(n.id)}" transform="translate(${r1(Math.round(n.x - n.w / 2) + n.w / 2 + 0.5)},${r1(Math.round(n.y - n.h / 2) + n.h / 2 + 0.5)})"><title>${esc(tip)}</title>${body}</g>`;
  });
  out.push(`<g class="ml-nodes">${nodes.join("")}</g>`);
  return out.join("");
}

/** The legend: the categories of the operator nodes drawn (input/output pills are not
 * operators and never add "Math / other"), in the payload's order, plus "Collapsed group". */
export function legendItems(payload, scene) {
  const pill = { group: 1, input: 1, output: 1 };
  const used = new Set(scene.nodes.filter((n) => !pill[n.kind]).map((n) => n.cat || n.kind));
  const cats = payload.categories || {};
  const items = Object.keys(cats).filter((k) => used.has(k)).map((k) => ({ key: k, ...cats[k] }));
  if (scene.nodes.some((n) => n.kind === "group")) items.push({ key: "group", label: "Collapsed group", fill: null });
  return items;
}

function legendMarkup(items, pal, maxWidth) {
  let x = 0;
  let y = 0;
  const parts = [];
  for (const it of items) {
    const w = 18 + textWidth(it.label, 10.5) + 14;
    if (x > 0 && x + w > maxWidth) { x = 0; y += 18; }
    const sw = it.fill
      ? `<rect x="${x}" y="${y}" width="12" height="12" rx="3" fill="${esc(it.fill)}"/>`
      : `<rect x="${x + 0.5}" y="${y + 0.5}" width="11" height="11" rx="3" fill="${pal.group}" stroke="${pal.groupBorder}"/>`;
    parts.push(`${sw}<text x="${x + 17}" y="${y + 10}">${esc(it.label)}</text>`);
    x += w;
  }
  return { markup: parts.join(""), height: items.length ? y + 18 : 0 };
}

/** Lay out and draw: the full pipeline used by renderSvg and the canvas. */
export function buildScene(payload, options) {
  const vg = visibleGraph(payload, options);
  const scene = layoutGraph(vg, options);
  return { vg, scene };
}

/** A standalone SVG document with concrete colours, a title line and a legend. */
export function renderSvg(payload, options = {}) {
  const opts = { direction: "TB", labels: "op", showWeights: true, showShapes: true, ...options };
  const pal = PALETTES[opts.theme === "dark" ? "dark" : "light"];
  const { vg, scene } = buildScene(payload, opts);
  const pad = 16;
  const heading = payload.title ? 24 : 0;
  const width = Math.max(scene.width, 360);
  const legend = legendMarkup(legendItems(payload, scene), pal, width - 2 * pad);
  const top = pad + heading + legend.height + (legend.height ? 6 : 0);
  const height = top + scene.height;
  const title = payload.title
    ? `<text class="ml-heading" x="${pad}" y="${pad + 10}">${esc(payload.title)}<tspan class="ml-muted" dx="10" style="font-weight:400;font-size:11px">${esc(payload.subtitle || "")}</tspan></text>`
    : "";
  return `<svg xmlns="http://www.w3.org/2000/svg" class="ml-svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${esc(FONT_FAMILY)}">`
    + `<style>${svgCss(pal)}</style>${defsMarkup()}`
    + `<rect width="100%" height="100%" fill="${pal.bg}"/>${title}`
    + `<g class="ml-legend" transform="translate(${pad},${pad + heading})">${legend.markup}</g>`
    + `<g class="ml-graph" transform="translate(0,${top})">${sceneMarkup(payload, vg, scene, opts)}</g></svg>`;
}
