// The standalone viewer of the HTML export: header with search, the canvas, a details panel.
import { GraphCanvas } from "./canvas.js";
import { FONT_FAMILY } from "./measure.js";
import { categoryOf, esc } from "./svg.js";
import { GROUP_PREFIX, indexPayload, nodeAncestors } from "./visible.js";

const CSS = `
.mls{display:flex;flex-direction:column;height:100%;min-height:320px;font-family:${FONT_FAMILY};color:var(--mls-text);
  background:var(--mls-bg)}
.mls[data-theme=light]{--mls-bg:#f6f7f9;--mls-text:#1b1f24;--mls-muted:#66707a;--mls-line:rgba(0,0,0,.1);--mls-card:#fff}
.mls[data-theme=dark]{--mls-bg:#0f1114;--mls-text:#e6e8eb;--mls-muted:#9aa3ad;--mls-line:rgba(255,255,255,.12);--mls-card:#1b1e23}
.mls-head{display:flex;align-items:center;gap:12px;padding:8px 12px;border-bottom:1px solid var(--mls-line)}
.mls-title{font-weight:600;font-size:14px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.mls-sub{font-size:12px;color:var(--mls-muted);white-space:nowrap}
.mls-search{margin-left:auto;display:flex;align-items:center;gap:6px}
.mls-search input{width:260px;height:28px;padding:0 9px;border:1px solid var(--mls-line);border-radius:6px;background:var(--mls-card);
  color:var(--mls-text);font:12.5px ${FONT_FAMILY};outline:none}
.mls-search input:focus{border-color:#1f6feb}
.mls-count{font-size:11.5px;color:var(--mls-muted);min-width:52px}
.mls-body{flex:1;display:flex;min-height:0;gap:8px;padding:8px}
.mls-canvas{flex:1;min-width:0;display:flex}
.mls-canvas .ml-root{flex:1}
.mls-panel{width:300px;flex:none;overflow:auto;background:var(--mls-card);border:1px solid var(--mls-line);border-radius:8px;
  padding:12px;font-size:12px;user-select:text}
.mls-panel h3{margin:0 0 2px;font-size:13px;word-break:break-all}
.mls-panel h4{margin:14px 0 4px;font-size:10.5px;text-transform:uppercase;letter-spacing:.06em;color:var(--mls-muted)}
.mls-chip{display:inline-block;padding:2px 7px;border-radius:4px;font-weight:600;font-size:11.5px;margin-bottom:6px}
.mls-kv{display:grid;grid-template-columns:64px 1fr;gap:3px 8px}
.mls-kv b{font-weight:500;color:var(--mls-muted)}
.mls-kv span,.mls-t td{word-break:break-all}
.mls-t{width:100%;border-collapse:collapse}
.mls-t td{padding:3px 4px;border-top:1px solid var(--mls-line);vertical-align:top}
.mls-t td.s{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px;white-space:nowrap;color:var(--mls-muted)}
.mls-empty{color:var(--mls-muted)}
.mls-btn{margin-top:10px;height:26px;padding:0 10px;border:1px solid var(--mls-line);border-radius:6px;background:transparent;
  color:var(--mls-text);cursor:pointer;font:12px ${FONT_FAMILY}}
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

function nodeDetails(payload, id) {
  const index = indexPayload(payload);
  const i = index.nodeIndex.get(id);
  if (i === undefined) return '<div class="mls-empty">Not found.</div>';
  const n = payload.nodes[i];
  const cat = categoryOf(payload, n);
  const ins = [];
  const outs = [];
  payload.edges.forEach((e, k) => { if (e[1] === i) ins.push(k); if (e[0] === i) outs.push(k); });
  const weights = (n.weights || []).map(([w, s]) => `<tr><td>${esc(w)}</td><td class="s">${esc(s)}</td></tr>`).join("");
  return `<span class="mls-chip" style="background:${esc(cat.fill)};color:${esc(cat.text || "#fff")}">${esc(n.op || n.kind)}</span>`
    + `<h3>${esc(n.name || n.id)}</h3>`
    + kv([["Kind", n.kind], ["Category", cat.label], ["Group", nodeAncestors(payload, id).join(" › ")], ["Subgraphs", n.subgraphs || ""]])
    + (weights ? `<h4>Weights</h4><table class="mls-t">${weights}</table>` : "")
    + `<h4>Inputs</h4>${tensorTable(payload, ins, 0)}<h4>Outputs</h4>${tensorTable(payload, outs, 1)}`;
}

function groupDetails(payload, groupId) {
  const index = indexPayload(payload);
  const g = index.byId.get(groupId);
  if (g === undefined) return "";
  const grp = index.groups[g];
  return `<h3>${esc(grp.label || grp.id)}</h3>${kv([["Group", grp.id], ["Ops", grp.count != null ? grp.count : index.deepNodes[g]]])}`
    + `<button class="mls-btn" data-expand="${esc(grp.id)}">Expand group</button>`;
}

function edgeDetails(payload, edges) {
  return `<h3>${edges.length} tensor${edges.length > 1 ? "s" : ""}</h3>${tensorTable(payload, edges, 1)}`;
}

/** Node ids matching a query by name, op type or tensor name (producers of matching tensors). */
export function searchNodes(payload, query, limit = 500) {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  const out = new Set();
  for (const n of payload.nodes) {
    if (out.size >= limit) break;
    if (String(n.name || "").toLowerCase().includes(q) || String(n.op || "").toLowerCase().includes(q)) out.add(String(n.id));
  }
  for (const e of payload.edges || []) {
    if (out.size >= limit) break;
    if (String(e[2] || "").toLowerCase().includes(q) && payload.nodes[e[0]]) out.add(String(payload.nodes[e[0]].id));
  }
  return [...out];
}

export function mountStandalone(element, payload, options = {}) {
  const theme = options.theme === "dark" ? "dark" : "light";
  element.innerHTML = `<style>${CSS}</style><div class="mls" data-theme="${theme}"><div class="mls-head">`
    + `<div class="mls-title">${esc(payload.title || "Model")}</div><div class="mls-sub">${esc(payload.subtitle || "")}</div>`
    + '<div class="mls-search"><input type="search" placeholder="Search name, op or tensor…" title="Enter: next match, Shift+Enter: previous" aria-label="Search">'
    + '<span class="mls-count"></span></div></div><div class="mls-body"><div class="mls-canvas"></div>'
    + '<aside class="mls-panel"><div class="mls-empty">Click a node to see its details. Click a dashed group to expand it; click an open group\'s title to collapse it.</div></aside></div></div>';
  const panel = element.querySelector(".mls-panel");
  const input = element.querySelector(".mls-search input");
  const count = element.querySelector(".mls-count");
  const show = (sel) => {
    if (!sel) { panel.innerHTML = '<div class="mls-empty">Nothing selected.</div>'; return; }
    if (sel.kind === "edge") panel.innerHTML = edgeDetails(payload, sel.edges);
    else if (sel.id.startsWith(GROUP_PREFIX)) panel.innerHTML = groupDetails(payload, sel.id.slice(GROUP_PREFIX.length));
    else panel.innerHTML = nodeDetails(payload, sel.id);
  };
  const canvas = new GraphCanvas(element.querySelector(".mls-canvas"), { onSelect: show, onClear: () => show(null) });
  canvas.setTheme(theme);
  canvas.update(payload, options, "standalone");
  panel.addEventListener("click", (ev) => {
    const b = ev.target.closest("[data-expand]");
    if (b) canvas.expandGroup(b.getAttribute("data-expand"));
  });
  let matches = [];
  let at = -1;
  let timer = 0;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      matches = searchNodes(payload, input.value);
      at = -1;
      count.textContent = input.value.trim() ? `${matches.length}${matches.length >= 500 ? "+" : ""} found` : "";
      canvas.setHighlight(matches);
    }, 120);
  });
  input.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter") return;
    clearTimeout(timer);
    matches = searchNodes(payload, input.value);
    canvas.setHighlight(matches);
    if (!matches.length) { count.textContent = input.value.trim() ? "0 found" : ""; return; }
    at = (at + (ev.shiftKey ? -1 : 1) + matches.length) % matches.length;
    count.textContent = `${at + 1} / ${matches.length}`;
    canvas.focusNode(matches[at]);
    show({ kind: "node", id: matches[at] });
  });
  if (options.focus != null) show({ kind: "node", id: String(options.focus) });
  return canvas;
}
