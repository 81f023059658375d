// Graphviz DOT for the same visible graph (clusters for expanded groups).
import { categoryOf, PALETTES } from "./svg.js";
import { nodeBox } from "./layout.js";
import { visibleGraph } from "./visible.js";

/** A DOT double-quoted string. */
export function dotString(value) {
  return `"${String(value).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\r?\n/g, "\\n")}"`;
}

function nodeLine(payload, n, options, id) {
  const box = nodeBox(n, options);
  if (n.kind === "group") {
    const label = [box.title, `${box.badge}${box.sub ? ` · ${box.sub}` : ""}`].map((l) => dotString(l).slice(1, -1)).join("\\n");
    return `${id} [label="${label}", shape=box, style="rounded,dashed,filled", fillcolor="#f1f4f8", color="#7f8b99", tooltip=${dotString(n.group)}];`;
  }
  const cat = categoryOf(payload, n);
  const lines = [box.title, ...box.rows.map((r) => `${r.key ? `${r.key} ` : ""}${r.value}`)];
  const label = lines.map((l) => dotString(l).slice(1, -1)).join("\\n");
  const shape = box.shape === "pill" ? "shape=box, style=\"rounded,filled\", peripheries=1" : "shape=box, style=\"rounded,filled\"";
  return `${id} [label="${label}", ${shape}, fillcolor=${dotString(cat.fill)}, fontcolor=${dotString(cat.text || "#ffffff")}, tooltip=${dotString(n.name || n.id)}];`;
}

export function renderDot(payload, options = {}) {
  const opts = { direction: "TB", labels: "op", showWeights: true, showShapes: true, ...options };
  const pal = PALETTES.light;
  const vg = visibleGraph(payload, opts);
  const ids = new Map(vg.nodes.map((n, i) => [n.id, `n${i}`]));
  const children = new Map([["", []]]);
  for (const c of vg.clusters) children.set(c.id, []);
  const members = new Map([["", []]]);
  for (const c of vg.clusters) { members.set(c.id, []); (children.get(c.parent) || children.get("")).push(c); }
  vg.nodes.forEach((n) => (members.get(n.parent) || members.get("")).push(n));
  const lines = [
    `digraph ${dotString(payload.title || "model")} {`,
    `  graph [rankdir=${opts.direction === "LR" ? "LR" : "TB"}, fontname="Helvetica", fontsize=11, nodesep=0.25, ranksep=0.35, bgcolor="${pal.bg}"];`,
    `  node [fontname="Helvetica", fontsize=10, margin="0.12,0.04", height=0.3, color="${pal.border}", penwidth=0.8];`,
    `  edge [fontname="Helvetica", fontsize=8, color="${pal.edge}", fontcolor="${pal.edgeText}", arrowsize=0.6];`,
  ];
  let clusterNo = 0;
  const emit = (parentId, indent) => {
    for (const n of members.get(parentId) || []) lines.push(`${indent}${nodeLine(payload, n, opts, ids.get(n.id))}`);
    for (const c of children.get(parentId) || []) {
      lines.push(`${indent}subgraph cluster_${clusterNo++} {`);
      lines.push(`${indent}  label=${dotString(`${c.label}  (${c.count} ops)`)}; labeljust=l; style="rounded,filled"; fillcolor="#f5f7fa"; color="${pal.clusterBorder}"; fontcolor="${pal.clusterText}";`);
      emit(c.id, `${indent}  `);
      lines.push(`${indent}}`);
    }
  };
  emit("", "  ");
  for (const e of vg.edges) {
    const attrs = [];
    if (opts.showShapes !== false && e.shape) attrs.push(`label=${dotString(e.shape)}`);
    if (e.tensor) attrs.push(`tooltip=${dotString(e.tensor)}`);
    if (e.control) attrs.push('style=dashed, tooltip="control dependency"');
    lines.push(`  ${ids.get(e.source)} -> ${ids.get(e.target)}${attrs.length ? ` [${attrs.join(", ")}]` : ""};`);
  }
  lines.push("}");
  return `${lines.join("\n")}\n`;
}
