// The standalone viewer of the HTML export: a header, a breadcrumb, the canvas (with its search) and
// the inspector. What the inspector shows comes from Python (viewer/inspector_data.py, the same rows
// as the app's panel) in each node's and group's `info`; payloads without it (hand-made, tests) get
// a simpler panel computed from the edges.
import MarkdownIt from "markdown-it";
import { GraphCanvas, groupPath } from "./canvas.js";
import { FONT_FAMILY } from "./measure.js";
import { PALETTES, categoryOf, esc } from "./svg.js";
import { indexPayload } from "./visible.js";

const CSS = `
.mls{display:flex;flex-direction:column;height:100%;min-height:320px;font-family:${FONT_FAMILY};color:var(--mls-text);
  background:var(--mls-bg)}
.mls[data-theme=light]{--mls-bg:#f6f7f9;--mls-text:#1b1f24;--mls-muted:#66707a;--mls-line:rgba(0,0,0,.1);--mls-card:#fff;--mls-code:rgba(0,0,0,.05);--mls-accent:${PALETTES.light.accent}}
.mls[data-theme=dark]{--mls-bg:#0f1114;--mls-text:#e6e8eb;--mls-muted:#9aa3ad;--mls-line:rgba(255,255,255,.12);--mls-card:#1b1e23;--mls-code:rgba(255,255,255,.07);--mls-accent:${PALETTES.dark.accent}}
.mls-head{display:flex;align-items:center;gap:12px;padding:8px 12px;border-bottom:1px solid var(--mls-line)}
.mls-title{font-weight:600;font-size:14px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.mls-sub{font-size:12px;color:var(--mls-muted);white-space:nowrap}
.mls-body{flex:1;display:flex;min-height:0;gap:8px;padding:8px}
.mls-main{flex:1;min-width:0;display:flex;flex-direction:column;gap:4px}
.mls-crumbs{font-size:12.5px;display:flex;flex-wrap:wrap;gap:2px 6px;align-items:baseline}
.mls-crumbs:empty{display:none}
.mls-crumbs b{font-weight:600}
.mls-canvas{flex:1;min-height:0;display:flex}
.mls-canvas .ml-root{flex:1}
.mls-panel{width:340px;flex:none;overflow:auto;background:var(--mls-card);border:1px solid var(--mls-line);border-radius:8px;
  padding:12px;font-size:12px;user-select:text;overflow-wrap:break-word}
.mls-panel h3{margin:0 0 2px;font-size:13px;overflow-wrap:break-word}
.mls-panel h4{margin:14px 0 4px;font-size:10.5px;text-transform:uppercase;letter-spacing:.06em;color:var(--mls-muted)}
.mls-chip{display:inline-block;padding:2px 7px;border-radius:4px;font-weight:600;font-size:11.5px;margin-bottom:6px}
.mls-kv{display:grid;grid-template-columns:72px minmax(0,1fr);gap:3px 8px}
.mls-kv b{font-weight:500;color:var(--mls-muted)}
.mls-kv span,.mls-t td{overflow-wrap:break-word;min-width:0}
.mls-t{width:100%;border-collapse:collapse}
.mls-t td{padding:3px 4px;border-top:1px solid var(--mls-line);vertical-align:top}
.mls-t td.s{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px;white-space:nowrap;color:var(--mls-muted)}
.mls-empty{color:var(--mls-muted)}
.mls-attr{padding:4px 0;border-top:1px solid var(--mls-line)}
.mls-attr-h{display:flex;flex-wrap:wrap;align-items:baseline;gap:2px 8px}
.mls-attr-h b{font-weight:600}
.mls-v{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px;background:var(--mls-code);border-radius:3px;padding:0 3px;
  white-space:pre-wrap;overflow-wrap:break-word;min-width:0;max-width:100%}
.mls-v.nw{white-space:nowrap}
.mls-attr-d{color:var(--mls-muted);margin-top:2px}
.mls-port{padding:4px 0;border-top:1px solid var(--mls-line)}
.mls-port .mls-s{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px;color:var(--mls-muted)}
.mls-jump{display:block;margin:2px 0 0 10px}
.mls-doc{overflow-wrap:break-word;color:var(--mls-text);max-height:320px;overflow:auto;line-height:1.45}
.mls-doc p{margin:0 0 6px}
.mls-doc pre{background:var(--mls-code);padding:6px;border-radius:4px;overflow:auto;white-space:pre-wrap}
.mls-doc code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px;background:var(--mls-code);border-radius:3px;padding:0 2px}
.mls-doc pre code{background:none;padding:0}
.mls-doc ul,.mls-doc ol{margin:0 0 6px;padding-left:18px}
.mls-panel a{color:var(--mls-accent);cursor:pointer}
.mls-crumbs a{color:var(--mls-accent);cursor:pointer}
.mls-t td.v{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px;overflow-wrap:break-word}
.mls-t td.d{color:var(--mls-muted)}
`;

const SHORT_VALUE = 40; // attribute values up to this length never wrap
const MAX_ROWS = 50;

let markdown = null;

/** Operator documentation (Markdown) as safe HTML: no raw HTML passes (html: false), link targets
 * are checked by markdown-it (no javascript: or data: URLs) and open in a new tab. */
export function renderMarkdown(text) {
  if (!markdown) {
    markdown = new MarkdownIt({ html: false, linkify: false, typographer: false });
    const base = markdown.renderer.rules.link_open || ((tokens, i, opts, env, self) => self.renderToken(tokens, i, opts));
    markdown.renderer.rules.link_open = (tokens, i, opts, env, self) => {
      tokens[i].attrSet("target", "_blank");
      tokens[i].attrSet("rel", "noopener noreferrer");
      return base(tokens, i, opts, env, self);
    };
  }
  return markdown.render(normalizeDoc(text));
}

const FENCE = /^( *)(`{3,}|~{3,})/;
const LIST_ITEM = /^( *)([-*+]|\d{1,9}[.)])( +)/;
const indentOf = (line) => line.length - line.trimStart().length;

/** Doc text as Markdown reads it, the way Python docstrings are meant: ONNX schemas indent every
 * line (often all but the first, once stripped), and markdown-it would read 4+ leading spaces as
 * an indented code block or a paragraph's continuation, running a ``` block into one line of
 * inline code. Tabs become 4 spaces; the common indentation of the lines after the first is
 * removed (inspect.cleandoc, as the app's st.markdown dedents); a fenced block still indented 4+
 * spaces past the text before it moves, content and all, to that text's indentation (a list
 * item's content column), so it renders as a code block. */
export function normalizeDoc(text) {
  const lines = String(text || "").replace(/\r\n?/g, "\n").replace(/\t/g, "    ").split("\n");
  const rest = lines.slice(1).filter((l) => l.trim());
  const margin = rest.length ? Math.min(...rest.map(indentOf)) : 0;
  const out = [lines[0].trimStart(), ...lines.slice(1).map((l) => l.slice(Math.min(margin, indentOf(l))))];
  let context = 0; // the indentation a block opening here belongs to
  for (let i = 0; i < out.length; i += 1) {
    const fence = FENCE.exec(out[i]);
    if (!fence) {
      if (out[i].trim()) {
        const item = LIST_ITEM.exec(out[i]);
        context = item ? item[0].length : indentOf(out[i]);
      }
      continue;
    }
    const open = fence[1].length;
    let end = i + 1;
    const closer = new RegExp(`^ *${fence[2][0] === "`" ? "`" : "~"}{${fence[2].length},} *$`);
    while (end < out.length && !closer.test(out[end])) end += 1;
    if (open - context >= 4) {
      const shift = open - context;
      for (let j = i; j <= Math.min(end, out.length - 1); j += 1) out[j] = out[j].slice(Math.min(shift, indentOf(out[j])));
    }
    i = end; // the block's lines are code, never context
  }
  while (out.length && !out[0].trim()) out.shift();
  while (out.length && !out[out.length - 1].trim()) out.pop();
  return out.join("\n");
}

/** Escaped text with a break opportunity (<wbr>) after each "/", ".", "_" and ":" so long names wrap
 * between their parts rather than mid-token. */
export function breakable(text) {
  return esc(text).replace(/([/._:])/g, "$1<wbr>");
}

const nodeLink = (prefix, id) => `<a class="mls-jump" data-node="${esc(id)}">${esc(prefix)} ${breakable(id)}</a>`;

function kv(rows) {
  return `<div class="mls-kv">${rows.filter(([, v]) => v !== "" && v != null).map(([k, v]) => `<b>${esc(k)}</b><span>${breakable(v)}</span>`).join("")}</div>`;
}

/** Tensors on payload edges, one row per (producer, tensor): several consumers share one row. */
function tensorTable(payload, edges, other) {
  const rows = new Map();
  for (const i of edges) {
    const e = payload.edges[i];
    const key = `${e[0]}|${e[2]}`;
    if (!rows.has(key)) rows.set(key, { e, peers: [] });
    const peer = payload.nodes[e[other]];
    if (peer) rows.get(key).peers.push(peer.name || peer.id || peer.op);
  }
  if (!rows.size) return '<div class="mls-empty">none</div>';
  const list = [...rows.values()];
  const html = list.slice(0, MAX_ROWS).map(({ e, peers }) => `<tr><td>${breakable(e[2] || "")}`
    + `<div class="mls-empty">${breakable([...new Set(peers)].join(", "))}</div></td>`
    + `<td class="s">${esc([e[3], e[4]].filter(Boolean).join(" "))}</td></tr>`);
  const more = list.length > MAX_ROWS ? `<tr><td colspan="2" class="mls-empty">+${list.length - MAX_ROWS} more</td></tr>` : "";
  return `<table class="mls-t">${html.join("")}${more}</table>`;
}

/** Attributes ([name, value, 1 when default]) with their descriptions from the operator's doc; a
 * graph attribute (If/Loop/Scan) links to its bodies. */
function attributeTable(attrs, doc, links) {
  if (!attrs || !attrs.length) return "";
  const descr = (doc && doc.attrs) || {};
  const rows = attrs.map(([k, v, isDefault]) => {
    const bodies = links && links[k];
    const value = bodies && bodies.length
      ? bodies.map(([id, label]) => `<a data-open="${esc(id)}">${esc(label)}</a>`).join(" ")
      : `<code class="mls-v${String(v).length <= SHORT_VALUE ? " nw" : ""}">${esc(v)}</code>`;
    return `<div class="mls-attr"><div class="mls-attr-h"><b>${breakable(k)}</b>${value}`
      + `${isDefault ? '<span class="mls-empty">(default)</span>' : ""}</div>`
      + `${descr[k] ? `<div class="mls-attr-d">${esc(descr[k])}</div>` : ""}</div>`;
  });
  return `<h4>Attributes</h4>${rows.join("")}`;
}

function docSection(doc) {
  if (!doc) return "";
  const link = doc.url ? `<div><a href="${esc(doc.url)}" target="_blank" rel="noopener noreferrer">${esc(doc.op || "Operator")} reference</a></div>` : "";
  const since = doc.since ? ` (since opset ${esc(doc.since)})` : "";
  return `<h4>Documentation${since}</h4>${doc.text ? `<div class="mls-doc">${renderMarkdown(doc.text)}</div>` : ""}${link}`;
}

/** Ports from `info` rows: [formal, tensor, dtype, shape, [linked node ids], count]. */
function portSection(title, rows, prefix) {
  if (!rows || !rows.length) return "";
  const html = rows.map(([formal, tensor, dtype, shape, links, count]) => {
    const more = count > links.length ? `<div class="mls-empty mls-jump">+${count - links.length} more</div>` : "";
    return `<div class="mls-port">${esc(formal)}: <b>${breakable(tensor)}</b> <span class="mls-s">${esc([dtype, shape || "–"].filter(Boolean).join(" · "))}</span>`
      + `${links.map((id) => nodeLink(prefix, id)).join("")}${more}</div>`;
  });
  return `<h4>${esc(title)}</h4>${html.join("")}`;
}

function nodeDetails(payload, id) {
  const index = indexPayload(payload);
  const i = index.nodeIndex.get(id);
  if (i === undefined) return '<div class="mls-empty">Not found.</div>';
  const n = payload.nodes[i];
  const doc = n.doc != null && payload.docs ? payload.docs[n.doc] : null;
  const cat = categoryOf(payload, n);
  const info = n.info;
  const weights = (n.weights || []).map(([w, s]) => `<tr><td>${breakable(w)}</td><td class="s">${esc(s)}</td></tr>`).join("");
  let ports;
  if (info) {
    ports = portSection("Inputs", info.inputs, "from") + portSection("Outputs", info.outputs, "to")
      + (info.bodies || []).map(([sub, label]) => `<div><a data-open="${esc(sub)}">${esc(label)}</a></div>`).join("");
  } else {
    const ins = [];
    const outs = [];
    payload.edges.forEach((e, k) => { if (e[1] === i) ins.push(k); if (e[0] === i) outs.push(k); });
    ports = `<h4>Inputs</h4>${tensorTable(payload, ins, 0)}<h4>Outputs</h4>${tensorTable(payload, outs, 1)}`;
  }
  return `<span class="mls-chip" style="background:${esc(cat.fill)};color:${esc(cat.text || "#fff")}">${esc(n.op || n.kind)}</span>`
    + `<h3>${breakable(n.name || n.id)}</h3>`
    + kv([["Kind", n.kind || "op"], ["Category", cat.label], ["Group", groupPath(payload, id)], ["Subgraphs", n.subgraphs || ""]])
    + attributeTable(n.attrs, doc, info && info.links)
    + (weights ? `<h4>Weights</h4><table class="mls-t">${weights}</table>` : "")
    + ports
    + docSection(doc);
}

/** Tensors crossing a group's border from `info`: [tensor, dtype, shape, [outside ids], count]. */
function crossingSection(title, rows, total, prefix) {
  if (!rows || !rows.length) return "";
  const more = total > rows.length ? `<div class="mls-empty">+${total - rows.length} more</div>` : "";
  return `<h4>${esc(title)} (${total})</h4>${rows.map(([tensor, dtype, shape, outside, count]) => `<div class="mls-port"><b>${breakable(tensor)}</b> `
    + `<span class="mls-s">${esc([dtype, shape].filter(Boolean).join(" · "))}</span>`
    + `${outside.map((id) => nodeLink(prefix, id)).join("")}`
    + `${count > outside.length ? `<div class="mls-empty mls-jump">+${count - outside.length} more</div>` : ""}</div>`).join("")}${more}`;
}

function groupInfoDetails(grp, info) {
  const [entering, leaving, children] = info.totals || [0, 0, 0];
  const kids = (info.children || []).map(([id, label]) => `<a class="mls-jump" data-group="${esc(id)}">${breakable(label)}</a>`).join("");
  const moreKids = children > (info.children || []).length ? `<div class="mls-empty">+${children - info.children.length} more</div>` : "";
  return `<span class="mls-chip" style="background:var(--mls-line)">Group</span><h3>${breakable(grp.label || grp.id)}</h3>`
    + kv([["Path", info.path.join(" › ")]])
    + `<div>${esc(info.counts)}</div>`
    + (info.mix && info.mix.length ? `<h4>Op mix</h4><div>${info.mix.map(([op, c]) => `${esc(op)}&nbsp;×${c}`).join(" · ")}</div>` : "")
    + (kids ? `<h4>Groups inside</h4>${kids}${moreKids}` : "")
    + crossingSection("Tensors entering", info.entering, entering, "from")
    + crossingSection("Tensors leaving", info.leaving, leaving, "to");
}

/** A group: its path, op count and op mix, and the tensors entering and leaving it. */
function groupDetails(payload, groupId) {
  const index = indexPayload(payload);
  const g = index.byId.get(groupId);
  if (g === undefined) return '<div class="mls-empty">Not found.</div>';
  const grp = index.groups[g];
  if (grp.info) return groupInfoDetails(grp, grp.info);
  const inside = new Uint8Array(payload.nodes.length);
  const mix = new Map();
  payload.nodes.forEach((n, i) => {
    for (let q = index.nodeGroup[i]; q >= 0; q = index.parent[q]) {
      if (q === g) { inside[i] = 1; if ((n.kind || "op") === "op") mix.set(n.op, (mix.get(n.op) || 0) + 1); break; }
    }
  });
  const ins = [];
  const outs = [];
  payload.edges.forEach((e, k) => { if (!inside[e[0]] && inside[e[1]]) ins.push(k); if (inside[e[0]] && !inside[e[1]]) outs.push(k); });
  const ops = [...mix.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([op, c]) => `<tr><td>${esc(op)}</td><td class="s">${c}</td></tr>`).join("");
  const path = [];
  for (let q = g; q >= 0; q = index.parent[q]) path.unshift(String(index.groups[q].label || index.groups[q].id));
  return `<span class="mls-chip" style="background:var(--mls-line)">Group</span><h3>${breakable(grp.label || grp.id)}</h3>`
    + kv([["Path", path.join(" › ")], ["Ops", grp.count != null ? grp.count : index.deepNodes[g]]])
    + (ops ? `<h4>Op mix</h4><table class="mls-t">${ops}</table>` : "")
    + `<h4>Entering</h4>${tensorTable(payload, ins, 0)}<h4>Leaving</h4>${tensorTable(payload, outs, 1)}`;
}

/** Every payload edge carrying the same tensors as ``edges`` (same producer and tensor name): a
 * click on one consumer's edge describes the tensor with all its consumers, as the app does. */
function sameTensorEdges(payload, edges) {
  const keys = new Set(edges.map((i) => payload.edges[i]).filter((e) => e && e[2]).map((e) => `${e[0]}|${e[2]}`));
  const all = new Set(edges);
  payload.edges.forEach((e, k) => { if (e[2] && keys.has(`${e[0]}|${e[2]}`)) all.add(k); });
  return [...all].sort((a, b) => a - b);
}

function edgeDetails(payload, edges) {
  const all = sameTensorEdges(payload, edges);
  const table = tensorTable(payload, all, 1);
  const count = new Set(edges.map((i) => payload.edges[i]).filter(Boolean).map((e) => `${e[0]}|${e[2]}`)).size;
  // jump links to the producer(s) and every consumer, as the app's tensor panel has
  const ids = (end) => [...new Set(all.map((i) => payload.edges[i][end]))].map((k) => payload.nodes[k]).filter(Boolean).map((n) => n.id);
  const links = ids(0).map((id) => nodeLink("from", id)).concat(ids(1).map((id) => nodeLink("to", id)));
  return `<h3>${count} tensor${count > 1 ? "s" : ""}</h3>${table}<div class="mls-port">${links.join("")}</div>`;
}

function systemTheme() {
  try { return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"; } catch (_) { return "light"; }
}

const HINT = '<div class="mls-empty">Click a node to see its details. Click a dashed group to expand it; click an open group\'s title to collapse it. Press ? for the keyboard shortcuts.</div>';

export function mountStandalone(element, payload, options = {}) {
  element.innerHTML = `<style>${CSS}</style><div class="mls" data-theme="light"><div class="mls-head">`
    + `<div class="mls-title">${esc(payload.title || "Model")}</div><div class="mls-sub">${esc(payload.subtitle || "")}</div></div>`
    + '<div class="mls-body"><div class="mls-main"><nav class="mls-crumbs" aria-label="Graph"></nav><div class="mls-canvas"></div></div>'
    + `<aside class="mls-panel">${HINT}</aside></div></div>`;
  const shell = element.querySelector(".mls");
  const panel = element.querySelector(".mls-panel");
  const crumbs = element.querySelector(".mls-crumbs");
  const rootId = payload.graph || "";
  const subgraphs = payload.subgraphs || {};
  const graphs = (id) => (id === rootId ? payload : subgraphs[id]);
  let current = payload;
  const show = (sel) => {
    if (!sel || sel.kind === "none") panel.innerHTML = '<div class="mls-empty">Nothing selected.</div>';
    else if (sel.kind === "edge") panel.innerHTML = edgeDetails(current, sel.edges);
    else if (sel.kind === "group") panel.innerHTML = groupDetails(current, sel.id);
    else panel.innerHTML = nodeDetails(current, sel.id);
  };
  const onTheme = (theme) => {
    shell.dataset.theme = theme;
    if (element.ownerDocument && element.ownerDocument.body) element.ownerDocument.body.style.background = theme === "dark" ? "#0f1114" : "#f6f7f9";
  };
  const canvas = new GraphCanvas(element.querySelector(".mls-canvas"), { onSelect: show, onTheme });
  const drawCrumbs = () => {
    const items = current.crumbs || [];
    crumbs.innerHTML = items.map(([id, label, node], k) => {
      const text = `${k ? "› " : ""}${breakable(label)}`;
      const last = k === items.length - 1;
      if (last || !graphs(id)) return last ? `<b>${text}</b>` : `<span>${text}</span>`;
      return `<a data-crumb="${esc(id)}" data-select="${esc(node)}">${text}</a>`;
    }).join("");
  };
  /** Show graph `id` (the export's own, or one of its bodies), then select `node` there. */
  const openGraph = (id, node = "") => {
    const next = graphs(id);
    if (!next) return;
    current = next;
    const opts = id === rootId ? options : { theme: options.theme, direction: canvas.view.direction, labels: canvas.view.labels };
    canvas.update(next, opts, `standalone|${id}`);
    drawCrumbs();
    if (node) canvas.focusNode(node);
    else if (canvas.selection) show(canvas.selection);
    else panel.innerHTML = HINT;
  };
  const onClick = (ev) => {
    const a = ev.target.closest("a[data-node],a[data-group],a[data-open],a[data-crumb]");
    if (!a) return;
    ev.preventDefault();
    if (a.dataset.node != null) canvas.focusNode(a.dataset.node);
    else if (a.dataset.group != null) canvas.focusNode(`group:${a.dataset.group}`);
    else if (a.dataset.open != null) openGraph(a.dataset.open);
    else openGraph(a.dataset.crumb, a.dataset.select || "");
  };
  panel.addEventListener("click", onClick);
  crumbs.addEventListener("click", onClick);
  // The theme the export was made with, until the reader picks one (remembered by the browser).
  if (canvas.themeStored == null && (options.theme === "dark" || options.theme === "light")) canvas.setThemeMode(options.theme, false);
  canvas.setTheme(systemTheme());
  try {
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => canvas.setTheme(systemTheme()));
  } catch (_) { /* old browsers */ }
  canvas.update(payload, options, `standalone|${rootId}`);
  drawCrumbs();
  // The selection the export was made with (the app's "this view"), else the focused node.
  if (options.selected != null) show(canvas.selection);
  else if (options.focus != null) show({ kind: "node", id: String(options.focus) });
  return canvas;
}
