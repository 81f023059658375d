// Node boxes (sizes from text widths) and the dagre layout of a visible graph.
import dagre from "@dagrejs/dagre";
import { ellipsize, textWidth } from "./measure.js";

export const METRICS = {
  headerSize: 11.5, rowSize: 10, pillSize: 11, edgeSize: 9, clusterSize: 11,
  headerH: 21, rowH: 14, rowPad: 4, padX: 8, pillH: 24, minW: 44, clusterHeader: 22, maxWeights: 4,
};

function weightRows(node, options) {
  if (options.showWeights === false || !node.weights || !node.weights.length) return [];
  const rows = node.weights.slice(0, METRICS.maxWeights).map(([name, shape]) => ({
    key: ellipsize(shortName(name), 14), value: shape ? `⟨${ellipsize(shape, 28)}⟩` : "",
  }));
  const more = node.weights.length - METRICS.maxWeights;
  if (more > 0) rows.push({ key: `+${more} more`, value: "", muted: true });
  return rows;
}

/** Last path component of a name ("/encoder/layer.0/MatMul" -> "MatMul"). */
export function shortName(name) {
  const s = String(name || "");
  const parts = s.split(/[/:]/).filter(Boolean);
  return parts.length ? parts[parts.length - 1] : s;
}

/** The informative part of a node name for the line under the op type ("/conv1/Conv" -> "conv1"). */
export function nameHint(name, op) {
  const parts = String(name || "").split(/[/:]/).filter(Boolean);
  const same = (a) => a.toLowerCase().replace(/_\d+$/, "") === String(op || "").toLowerCase();
  while (parts.length && same(parts[parts.length - 1])) parts.pop();
  const hint = parts.length ? parts[parts.length - 1] : "";
  return hint.toLowerCase() === String(op || "").toLowerCase() ? "" : hint;
}

/** Text lines and size of one visible node. */
export function nodeBox(node, options) {
  const M = METRICS;
  if (node.kind === "input" || node.kind === "output") {
    const label = ellipsize(node.name || node.id, 36);
    const w = Math.max(M.minW, textWidth(label, M.pillSize, false) + 26);
    return { shape: "pill", title: label, rows: [], w: Math.ceil(w), h: M.pillH };
  }
  if (node.kind === "group") {
    const title = ellipsize(node.label, 40);
    const ops = node.ops.map(([op]) => op).join(" · ");
    const badge = `${node.count} ${node.count === 1 ? "op" : "ops"}`;
    const sub = ellipsize(ops, 44);
    const w = Math.max(
      textWidth(title, M.headerSize, true) + 30,
      textWidth(badge, M.rowSize, true) + textWidth(sub, M.rowSize) + 2 * M.padX + 12,
      90,
    );
    return { shape: "group", title, badge, sub, rows: [], w: Math.ceil(w), h: M.headerH + M.rowH + 2 * M.rowPad + 2 };
  }
  const byName = options.labels === "name";
  const title = byName ? ellipsize(node.name || node.op, 40) : node.op || shortName(node.name) || "?";
  const rows = [];
  const sub = byName ? node.op : nameHint(node.name, node.op);
  if (sub && sub !== title) rows.push({ key: "", value: ellipsize(sub, 32), muted: true });
  rows.push(...weightRows(node, options));
  if (node.subgraphs) rows.push({ key: "", value: `${node.subgraphs} subgraph${node.subgraphs > 1 ? "s" : ""}`, muted: true });
  let w = textWidth(title, M.headerSize, true) + 2 * M.padX + 4;
  for (const r of rows) {
    const kw = r.key ? textWidth(r.key, M.rowSize, true) + 4 : 0;
    w = Math.max(w, kw + textWidth(r.value, M.rowSize) + 2 * M.padX);
  }
  const h = M.headerH + (rows.length ? rows.length * M.rowH + 2 * M.rowPad : 0);
  return { shape: "op", title, rows, w: Math.ceil(Math.max(w, M.minW)), h };
}

export function edgeLabel(edge, options) {
  if (options.showShapes === false) return "";
  const base = edge.shape || "";
  return base ? ellipsize(base, 30) : "";
}

/**
 * Lay out a visible graph. Returns {width, height, nodes, edges, clusters} where nodes carry
 * x/y (centre) and w/h, clusters x/y (top-left) and w/h, edges their points and label position.
 */
export function layoutGraph(vg, options) {
  const lr = options.direction === "LR";
  const g = new dagre.graphlib.Graph({ compound: vg.clusters.length > 0, multigraph: false });
  g.setGraph({
    rankdir: lr ? "LR" : "TB", nodesep: lr ? 28 : 22, ranksep: lr ? 48 : 44, edgesep: 12,
    marginx: 24, marginy: 24,
  });
  g.setDefaultEdgeLabel(() => ({}));
  const clusterKey = new Map(vg.clusters.map((c, i) => [c.id, `c${i}`]));
  const depthOf = new Map();
  for (const c of vg.clusters) {
    depthOf.set(c.id, c.parent && depthOf.has(c.parent) ? depthOf.get(c.parent) + 1 : 0);
    g.setNode(clusterKey.get(c.id), {});
  }
  for (const c of vg.clusters) if (c.parent && clusterKey.has(c.parent)) g.setParent(clusterKey.get(c.id), clusterKey.get(c.parent));
  const boxes = vg.nodes.map((n) => nodeBox(n, options));
  const slot = new Map();
  vg.nodes.forEach((n, i) => {
    slot.set(n.id, i);
    g.setNode(`n${i}`, { width: boxes[i].w, height: boxes[i].h });
    if (n.parent && clusterKey.has(n.parent)) g.setParent(`n${i}`, clusterKey.get(n.parent));
  });
  const labels = vg.edges.map((e) => edgeLabel(e, options));
  vg.edges.forEach((e, i) => {
    const label = labels[i];
    const lw = label ? Math.ceil(textWidth(label, METRICS.edgeSize)) + 4 : 0;
    g.setEdge(`n${slot.get(e.source)}`, `n${slot.get(e.target)}`, {
      width: lw, height: label ? 12 : 0, labelpos: lr ? "c" : "r", labeloffset: 4, id: i,
    });
  });
  dagre.layout(g, { disableOptimalOrderHeuristic: vg.nodes.length > 400 });
  const nodes = vg.nodes.map((n, i) => {
    const p = g.node(`n${i}`);
    return { ...n, ...boxes[i], x: p.x, y: p.y };
  });
  const edges = vg.edges.map((e, i) => {
    const d = g.edge(`n${slot.get(e.source)}`, `n${slot.get(e.target)}`) || {};
    return { ...e, label: labels[i], points: d.points || [], lx: d.x, ly: d.y, lw: d.width || 0 };
  });
  const clusters = vg.clusters.map((c) => {
    const p = g.node(clusterKey.get(c.id)) || { x: 0, y: 0, width: 0, height: 0 };
    return { ...c, depth: depthOf.get(c.id), x: p.x - p.width / 2, y: p.y - p.height / 2, w: p.width, h: p.height };
  });
  const gl = g.graph();
  return { width: Math.ceil(gl.width || 0), height: Math.ceil(gl.height || 0), nodes, edges, clusters, direction: lr ? "LR" : "TB" };
}
