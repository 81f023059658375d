// The standalone viewer of the HTML export: a header, the canvas (with its search) and a details panel.
import { GraphCanvas, groupPath } from "./canvas.js";
import { FONT_FAMILY } from "./measure.js";
import { PALETTES, categoryOf, esc } from "./svg.js";
import { indexPayload } from "./visible.js";

const CSS = `
.mls{display:flex;flex-direction:column;height:100%;min-height:320px;font-family:${FONT_FAMILY};color:var(--mls-text);
  background:var(--mls-bg)}
.mls[data-theme=light]{--mls-bg:#f6f7f9;--mls-text:#1b1f24;--mls-muted:#66707a;--mls-line:rgba(0,0,0,.1);--mls-card:#fff;--mls-accent:${PALETTES.light.accent}}
.mls[data-theme=dark]{--mls-bg:#0f1114;--mls-text:#e6e8eb;--mls-muted:#9aa3ad;--mls-line:rgba(255,255,255,.12);--mls-card:#1b1e23;--mls-accent:${PALETTES.dark.accent}}
.mls-head{display:flex;align-items:center;gap:12px;padding:8px 12px;border-bottom:1px solid var(--mls-line)}
.mls-title{font-weight:600;font-size:14px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.mls-sub{font-size:12px;color:var(--mls-muted);white-space:nowrap}
.mls-body{flex:1;display:flex;min-height:0;gap:8px;padding:8px}
.mls-canvas{flex:1;min-width:0;display:flex}
.mls-canvas .ml-root{flex:1}
.mls-panel{width:320px;flex:none;overflow:auto;background:var(--mls-card);border:1px solid var(--mls-line);border-radius:8px;
  padding:12px;font-size:12px;user-select:text}
.mls-panel h3{margin:0 0 2px;font-size:13px;word-break:break-all}
.mls-panel h4{margin:14px 0 4px;font-size:10.5px;text-transform:uppercase;letter-spacing:.06em;color:var(--mls-muted)}
.mls-chip{display:inline-block;padding:2px 7px;border-radius:4px;font-weight:600;font-size:11.5px;margin-bottom:6px}
.mls-kv{display:grid;grid-template-columns:72px 1fr;gap:3px 8px}
.mls-kv b{font-weight:500;color:var(--mls-muted)}
.mls-kv span,.mls-t td{overflow-wrap:anywhere}
.mls-t{width:100%;border-collapse:collapse}
.mls-t td{padding:3px 4px;border-top:1px solid var(--mls-line);vertical-align:top}
.mls-t td.s{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px;white-space:nowrap;color:var(--mls-muted)}
.mls-empty{color:var(--mls-muted)}
.mls-doc{white-space:pre-wrap;overflow-wrap:anywhere;color:var(--mls-text);max-height:240px;overflow:auto;line-height:1.45}
.mls-panel a{color:var(--mls-accent)}
.mls-t td.v{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px;overflow-wrap:anywhere;word-break:normal}
.mls-t td.d{color:var(--mls-muted)}
`;

function kv(rows) {
  return `<div class="mls-kv">${rows.filter(([, v]) => v !== "" && v != null).map(([k, v]) => `<b>${esc(k)}</b><span>${esc(v)}</span>`).join("")}</div>`;
}

function tensorTable(payload, edges, other) {
  if (!edges.length) return '<div class="mls-empty">none</div>';
  const rows = edges.slice(0, 50).map((i) => {
    const e = payload.edges[i];
    const peer = payload.nodes[e[other]];
    return `<tr><td>${esc(e[2] || "")}<div class="mls-empty">${esc(peer ? peer.name || peer.op : "")}</div></td>`
      + `<td class="s">${esc([e[3], e[4]].filter(Boolean).join(" "))}</td></tr>`;
  });
  const more = edges.length > 50 ? `<tr><td colspan="2" class="mls-empty">+${edges.length - 50} more</td></tr>` : "";
  return `<table class="mls-t">${rows.join("")}${more}</table>`;
}

/** Attributes ([name, value, 1 when default]) with their descriptions from the operator's doc. */
function attributeTable(attrs, doc) {
  if (!attrs || !attrs.length) return "";
  const descr = (doc && doc.attrs) || {};
  const rows = attrs.map(([k, v, isDefault]) => `<tr><td>${esc(k)}${isDefault ? ' <span class="mls-empty">(default)</span>' : ""}`
    + `${descr[k] ? `<div class="mls-empty">${esc(descr[k])}</div>` : ""}</td><td class="v">${esc(v)}</td></tr>`);
  return `<h4>Attributes</h4><table class="mls-t">${rows.join("")}</table>`;
}

function docSection(doc) {
  if (!doc) return "";
  const link = doc.url ? `<div><a href="${esc(doc.url)}" target="_blank" rel="noopener">${esc(doc.op || "Operator")} reference</a></div>` : "";
  const since = doc.since ? ` (since opset ${esc(doc.since)})` : "";
  return `<h4>Documentation${since}</h4>${doc.text ? `<div class="mls-doc">${esc(doc.text)}</div>` : ""}${link}`;
}

function nodeDetails(payload, id) {
  const index = indexPayload(payload);
  const i = index.nodeIndex.get(id);
  if (i === undefined) return '<div class="mls-empty">Not found.</div>';
  const n = payload.nodes[i];
  const doc = n.doc != null && payload.docs ? payload.docs[n.doc] : null;
  const cat = categoryOf(payload, n);
  const ins = [];
  const outs = [];
  payload.edges.forEach((e, k) => { if (e[1] === i) ins.push(k); if (e[0] === i) outs.push(k); });
  const weights = (n.weights || []).map(([w, s]) => `<tr><td>${esc(w)}</td><td class="s">${esc(s)}</td></tr>`).join("");
  return `<span class="mls-chip" style="background:${esc(cat.fill)};color:${esc(cat.text || "#fff")}">${esc(n.op || n.kind)}</span>`
    + `<h3>${esc(n.name || n.id)}</h3>`
    + kv([["Kind", n.kind || "op"], ["Category", cat.label], ["Group", groupPath(payload, id)], ["Subgraphs", n.subgraphs || ""]])
    + attributeTable(n.attrs, doc)
    + (weights ? `<h4>Weights</h4><table class="mls-t">${weights}</table>` : "")
    + `<h4>Inputs</h4>${tensorTable(payload, ins, 0)}<h4>Outputs</h4>${tensorTable(payload, outs, 1)}`
    + docSection(doc);
}

/** A group: its path, op count and op mix, and the tensors entering and leaving it. */
function groupDetails(payload, groupId) {
  const index = indexPayload(payload);
  const g = index.byId.get(groupId);
  if (g === undefined) return '<div class="mls-empty">Not found.</div>';
  const grp = index.groups[g];
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
  return `<span class="mls-chip" style="background:var(--mls-line)">Group</span><h3>${esc(grp.label || grp.id)}</h3>`
    + kv([["Path", path.join(" › ")], ["Ops", grp.count != null ? grp.count : index.deepNodes[g]]])
    + (ops ? `<h4>Op mix</h4><table class="mls-t">${ops}</table>` : "")
    + `<h4>Entering</h4>${tensorTable(payload, ins, 0)}<h4>Leaving</h4>${tensorTable(payload, outs, 1)}`;
}

function edgeDetails(payload, edges) {
  return `<h3>${edges.length} tensor${edges.length > 1 ? "s" : ""}</h3>${tensorTable(payload, edges, 1)}`;
}

function systemTheme() {
  try { return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"; } catch (_) { return "light"; }
}

export function mountStandalone(element, payload, options = {}) {
  element.innerHTML = `<style>${CSS}</style><div class="mls" data-theme="light"><div class="mls-head">`
    + `<div class="mls-title">${esc(payload.title || "Model")}</div><div class="mls-sub">${esc(payload.subtitle || "")}</div></div>`
    + '<div class="mls-body"><div class="mls-canvas"></div>'
    + '<aside class="mls-panel"><div class="mls-empty">Click a node to see its details. Click a dashed group to expand it; click an open group\'s title to collapse it. Press ? for the keyboard shortcuts.</div></aside></div></div>';
  const shell = element.querySelector(".mls");
  const panel = element.querySelector(".mls-panel");
  const show = (sel) => {
    if (!sel || sel.kind === "none") panel.innerHTML = '<div class="mls-empty">Nothing selected.</div>';
    else if (sel.kind === "edge") panel.innerHTML = edgeDetails(payload, sel.edges);
    else if (sel.kind === "group") panel.innerHTML = groupDetails(payload, sel.id);
    else panel.innerHTML = nodeDetails(payload, sel.id);
  };
  const onTheme = (theme) => {
    shell.dataset.theme = theme;
    if (element.ownerDocument && element.ownerDocument.body) element.ownerDocument.body.style.background = theme === "dark" ? "#0f1114" : "#f6f7f9";
  };
  const canvas = new GraphCanvas(element.querySelector(".mls-canvas"), { onSelect: show, onTheme });
  // The theme the export was made with, until the reader picks one (remembered by the browser).
  if (canvas.themeStored == null && (options.theme === "dark" || options.theme === "light")) canvas.setThemeMode(options.theme, false);
  canvas.setTheme(systemTheme());
  try {
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => canvas.setTheme(systemTheme()));
  } catch (_) { /* old browsers */ }
  canvas.update(payload, options, "standalone");
  if (options.focus != null) show({ kind: "node", id: String(options.focus) });
  return canvas;
}
