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

/** Padding of an open group's box around its content (the title sits in the top band). */
// Edges enter and leave along the rank axis, so that axis gets more room (ports and their curves).
const CLUSTER_PAD = {
  TB: { left: 14, right: 14, top: METRICS.clusterHeader + 14, bottom: 20 },
  LR: { left: 26, right: 26, top: METRICS.clusterHeader + 8, bottom: 14 },
};
const ROOT_MARGIN = 24;
const PORT_STRAIGHT = 10; // px of straight run on each side of a group border an edge crosses

function clusterTitleWidth(c) {
  return Math.ceil(26 + textWidth(c.label || "", METRICS.clusterSize, true) + textWidth(`${c.count} ops`, METRICS.rowSize) + 12);
}

/**
 * Lay out a visible graph. Returns {width, height, nodes, edges, clusters} where nodes carry
 * x/y (centre) and w/h, clusters x/y (top-left) and w/h, edges their points and label position.
 *
 * Each open group is laid out on its own (a plain dagre graph of its direct children), deepest
 * first, and then placed as one box in its parent's layout. An edge that crosses a group's border
 * goes through a port of that group (one per source node and direction, on the group's top/bottom
 * border, left/right in LR), so its route inside the group is dagre's own.
 */
export function layoutGraph(vg, options) {
  const lr = options.direction === "LR";
  const graphOpts = { rankdir: lr ? "LR" : "TB", nodesep: lr ? 28 : 22, ranksep: lr ? 48 : 44, edgesep: 12, marginx: 0, marginy: 0 };
  const clusterIds = new Set(vg.clusters.map((c) => c.id));
  const clusterIndex = new Map(vg.clusters.map((c, i) => [c.id, i]));
  const scopeParent = (id) => {
    const c = vg.clusters[clusterIndex.get(id)];
    return c && c.parent && clusterIds.has(c.parent) ? c.parent : "";
  };
  const depthOf = new Map();
  for (const c of vg.clusters) {
    const p = scopeParent(c.id);
    depthOf.set(c.id, p && depthOf.has(p) ? depthOf.get(p) + 1 : 0);
  }
  const scopes = new Map([["", { id: "", nodes: [], clusters: [], segs: new Map(), inPorts: new Map(), outPorts: new Map() }]]);
  for (const c of vg.clusters) scopes.set(c.id, { id: c.id, nodes: [], clusters: [], segs: new Map(), inPorts: new Map(), outPorts: new Map() });
  for (const c of vg.clusters) scopes.get(scopeParent(c.id)).clusters.push(c.id);
  const boxes = vg.nodes.map((n) => nodeBox(n, options));
  const slot = new Map();
  const nodeScope = vg.nodes.map((n, i) => {
    slot.set(n.id, i);
    const s = n.parent && clusterIds.has(n.parent) ? n.parent : "";
    scopes.get(s).nodes.push(i);
    return s;
  });
  const chains = new Map();
  const chainOf = (s) => {
    let ch = chains.get(s);
    if (!ch) {
      ch = s ? [s, ...chainOf(scopeParent(s))] : [""];
      chains.set(s, ch);
    }
    return ch;
  };
  const ckey = (id) => `c${clusterIndex.get(id)}`;
  const port = (scope, dir, src) => {
    const m = dir === "in" ? scope.inPorts : scope.outPorts;
    if (!m.has(src)) m.set(src, `${dir}${m.size}`);
    return m.get(src);
  };
  // Split every edge into segments, one per scope it passes through.
  const labels = vg.edges.map((e) => edgeLabel(e, options));
  const routes = vg.edges.map((e, k) => {
    const s = slot.get(e.source);
    const t = slot.get(e.target);
    if (s === undefined || t === undefined) return [];
    const tChain = chainOf(nodeScope[t]);
    const tSet = new Set(tChain);
    const segs = [];
    const add = (scopeId, u, v) => {
      const scope = scopes.get(scopeId);
      const key = `${u}>${v}>${s}`;
      let seg = scope.segs.get(key);
      if (!seg) {
        seg = { scope: scopeId, u, v, name: String(s), lw: 0, points: [], lx: undefined, ly: undefined };
        scope.segs.set(key, seg);
      }
      if (!segs.length && labels[k]) seg.lw = Math.max(seg.lw, Math.ceil(textWidth(labels[k], METRICS.edgeSize)) + 4);
      segs.push(seg);
    };
    let cur = `n${s}`;
    let sc = nodeScope[s];
    while (!tSet.has(sc)) {
      add(sc, cur, port(scopes.get(sc), "out", s));
      cur = ckey(sc);
      sc = scopeParent(sc);
    }
    const down = tChain.slice(0, tChain.indexOf(sc)).reverse();
    add(sc, cur, down.length ? ckey(down[0]) : `n${t}`);
    down.forEach((d, i) => add(d, port(scopes.get(d), "in", s), i + 1 < down.length ? ckey(down[i + 1]) : `n${t}`));
    return segs;
  });
  // dagre on canonical names, cached: repeated blocks (the layers of a transformer) lay out once.
  const cache = new Map();
  function runDagre(specNodes, specEdges) {
    const canon = new Map();
    specNodes.forEach(([key], i) => canon.set(key, `k${i}`));
    const names = new Map();
    const nameOf = (n) => {
      if (n === "h") return "h";
      if (!names.has(n)) names.set(n, `s${names.size}`);
      return names.get(n);
    };
    const cEdges = specEdges.map(([u, v, name, lw, weight]) => [canon.get(u), canon.get(v), nameOf(name), lw, weight]);
    const sig = JSON.stringify([specNodes.map(([, w, h]) => [w, h]), cEdges]);
    let hit = cache.get(sig);
    if (!hit) {
      const g = new dagre.graphlib.Graph({ multigraph: true });
      g.setGraph({ ...graphOpts });
      g.setDefaultEdgeLabel(() => ({}));
      specNodes.forEach(([, w, h], i) => g.setNode(`k${i}`, { width: w, height: h }));
      for (const [u, v, name, lw, weight] of cEdges) {
        g.setEdge(u, v, lw < 0
          ? { minlen: 1, weight }
          : { width: lw, height: lw ? 12 : 0, labelpos: lr ? "c" : "r", labeloffset: 4, minlen: 1, weight }, name);
      }
      dagre.layout(g, { disableOptimalOrderHeuristic: g.nodeCount() > 400 });
      hit = {
        nodes: specNodes.map((_, i) => { const p = g.node(`k${i}`); return { x: p.x, y: p.y, width: p.width, height: p.height }; }),
        edges: cEdges.map(([u, v, name]) => { const d = g.edge(u, v, name) || {}; return { points: d.points || [], x: d.x, y: d.y, width: d.width, height: d.height }; }),
      };
      cache.set(sig, hit);
    }
    const nodes = new Map(specNodes.map(([key], i) => [key, hit.nodes[i]]));
    const edges = new Map(specEdges.map(([u, v, name], i) => [`${u}>${v}>${name}`, hit.edges[i]]));
    return { nodes, edges };
  }
  // Lay out each scope, deepest first.
  const size = new Map(); // scope id -> {w, h}
  const titleX = new Map(); // scope id -> x of its title in the header band (0: at the left)
  const local = new Map(); // scope id -> Map(child key -> {x, y}) relative to the scope's top-left
  const order = [...vg.clusters].sort((a, b) => depthOf.get(b.id) - depthOf.get(a.id)).map((c) => c.id);
  order.push("");
  for (const sid of order) layoutScope(scopes.get(sid), sid);

  function layoutScope(scope, sid) {
    const specNodes = [];
    const specEdges = [];
    const real = [];
    for (const i of scope.nodes) { specNodes.push([`n${i}`, boxes[i].w, boxes[i].h]); real.push(`n${i}`); }
    for (const cid of scope.clusters) {
      const sz = size.get(cid);
      specNodes.push([ckey(cid), sz.w, sz.h]);
      real.push(ckey(cid));
    }
    const ports = new Set();
    for (const p of scope.inPorts.values()) { specNodes.push([p, 0, 0]); ports.add(p); }
    for (const p of scope.outPorts.values()) { specNodes.push([p, 0, 0]); ports.add(p); }
    const indeg = new Map();
    const outdeg = new Map();
    for (const seg of scope.segs.values()) {
      outdeg.set(seg.u, (outdeg.get(seg.u) || 0) + 1);
      indeg.set(seg.v, (indeg.get(seg.v) || 0) + 1);
      specEdges.push([seg.u, seg.v, seg.name, seg.lw, 1]);
    }
    // Hidden anchors keep the ports on the first / last rank.
    if (scope.inPorts.size) {
      specNodes.push(["__top", 0, 0]);
      for (const p of scope.inPorts.values()) specEdges.push(["__top", p, "h", -1, (outdeg.get(p) || 0) + 1]);
      for (const key of real) if (!indeg.get(key)) specEdges.push(["__top", key, "h", -1, 1]);
    }
    if (scope.outPorts.size) {
      specNodes.push(["__bottom", 0, 0]);
      for (const p of scope.outPorts.values()) specEdges.push([p, "__bottom", "h", -1, (indeg.get(p) || 0) + 1]);
      for (const key of real) if (!outdeg.get(key)) specEdges.push([key, "__bottom", "h", -1, 1]);
    }
    const res = runDagre(specNodes, specEdges);
    const g = { node: (key) => res.nodes.get(key), edge: (u, v, name) => res.edges.get(`${u}>${v}>${name}`) };
    // Content box: real children, edge labels and the routes between real children.
    let x0 = Infinity; let y0 = Infinity; let x1 = -Infinity; let y1 = -Infinity;
    const grow = (x, y, w = 0, h = 0) => {
      x0 = Math.min(x0, x - w / 2); x1 = Math.max(x1, x + w / 2);
      y0 = Math.min(y0, y - h / 2); y1 = Math.max(y1, y + h / 2);
    };
    for (const key of real) { const p = g.node(key); grow(p.x, p.y, p.width, p.height); }
    const edgeData = [];
    for (const seg of scope.segs.values()) {
      const d = g.edge(seg.u, seg.v, seg.name) || {};
      edgeData.push(d);
      if (seg.lw && d.x !== undefined) grow(d.x, d.y, d.width, d.height);
      if (!ports.has(seg.u) && !ports.has(seg.v)) for (const p of d.points || []) grow(p.x, p.y);
    }
    if (x0 === Infinity) { x0 = 0; y0 = 0; x1 = 0; y1 = 0; }
    // Routes to and from ports: clip what lies beyond the content along the rank axis.
    const main = lr ? (p) => p.x : (p) => p.y;
    const lo = lr ? x0 : y0;
    const hi = lr ? x1 : y1;
    const clipped = [];
    let i = 0;
    for (const seg of scope.segs.values()) {
      const d = edgeData[i++];
      let pts = d.points || [];
      if (ports.has(seg.u)) pts = pts.filter((p) => main(p) >= lo);
      if (ports.has(seg.v)) pts = pts.filter((p) => main(p) <= hi);
      if (ports.has(seg.u) || ports.has(seg.v)) for (const p of pts) grow(p.x, p.y);
      clipped.push(pts);
    }
    for (const p of ports) { const n = g.node(p); if (lr) grow(x0, n.y); else grow(n.x, y0); }
    let ox; let oy; let w; let h;
    if (sid === "") {
      ox = ROOT_MARGIN - x0; oy = ROOT_MARGIN - y0;
      w = x1 - x0 + 2 * ROOT_MARGIN; h = y1 - y0 + 2 * ROOT_MARGIN;
    } else {
      const c = vg.clusters[clusterIndex.get(sid)];
      const pad = CLUSTER_PAD[lr ? "LR" : "TB"];
      const inner = x1 - x0 + pad.left + pad.right;
      w = Math.max(inner, clusterTitleWidth(c));
      h = y1 - y0 + pad.top + pad.bottom;
      ox = pad.left + (w - inner) / 2 - x0; oy = pad.top - y0;
    }
    const pos = new Map();
    for (const key of real) { const p = g.node(key); pos.set(key, { x: p.x + ox, y: p.y + oy }); }
    const portPos = new Map();
    for (const p of scope.inPorts.values()) { const n = g.node(p); portPos.set(p, lr ? { x: 0, y: n.y + oy } : { x: n.x + ox, y: 0 }); }
    // TB: edges enter through the top border, where the title sits. The title goes where no edge
    // enters: at the left, in a gap between entry points, or right of them (widening the box).
    if (sid !== "" && !lr) {
      const need = clusterTitleWidth(vg.clusters[clusterIndex.get(sid)]) - 6;
      const xs = [...scope.inPorts.values()].map((p) => portPos.get(p).x).sort((a, b) => a - b);
      const clear = 7;
      let tx = 0;
      for (const x of xs) {
        if (x - clear >= tx + need) break;
        tx = Math.max(tx, x + clear);
      }
      titleX.set(sid, tx);
      w = Math.max(w, tx + need + 6);
    }
    size.set(sid, { w, h });
    for (const p of scope.outPorts.values()) { const n = g.node(p); portPos.set(p, lr ? { x: w, y: n.y + oy } : { x: n.x + ox, y: h }); }
    local.set(sid, pos);
    i = 0;
    for (const seg of scope.segs.values()) {
      const d = edgeData[i];
      const pts = clipped[i++].map((p) => ({ x: p.x + ox, y: p.y + oy }));
      if (ports.has(seg.u)) pts.unshift(portPos.get(seg.u));
      if (ports.has(seg.v)) pts.push(portPos.get(seg.v));
      seg.points = pts;
      if (seg.lw && d.x !== undefined) { seg.lx = d.x + ox; seg.ly = d.y + oy; }
    }
  }

  // Top-down: absolute positions.
  const origin = new Map([["", { x: 0, y: 0 }]]);
  const clusterBox = new Map();
  for (const sid of [...order].reverse()) {
    if (sid === "") continue;
    const parent = scopeParent(sid);
    const o = origin.get(parent);
    const p = local.get(parent).get(ckey(sid));
    const sz = size.get(sid);
    const box = { x: o.x + p.x - sz.w / 2, y: o.y + p.y - sz.h / 2, w: sz.w, h: sz.h };
    clusterBox.set(sid, box);
    origin.set(sid, { x: box.x, y: box.y });
  }
  const nodes = vg.nodes.map((n, i) => {
    const o = origin.get(nodeScope[i]);
    const p = local.get(nodeScope[i]).get(`n${i}`);
    return { ...n, ...boxes[i], x: o.x + p.x, y: o.y + p.y };
  });
  const edges = vg.edges.map((e, k) => {
    const segs = routes[k];
    const raw = [];
    segs.forEach((seg, j) => {
      const o = origin.get(seg.scope);
      let pts = seg.points.map((p) => ({ x: p.x + o.x, y: p.y + o.y }));
      if (seg.u.startsWith("in")) pts[0].port = "in";
      if (seg.v.startsWith("out")) pts[pts.length - 1].port = "out";
      if (j > 0 && seg.u[0] === "c") pts = pts.slice(1);
      if (j < segs.length - 1 && seg.v[0] === "c") pts = pts.slice(0, -1);
      raw.push(...pts);
    });
    // Out of one group and straight into the next (adjacent ranks, one dagre point between):
    // that point sits on the line between the groups' centres, not between the two ports, and
    // an edge leaving and entering at one x would swerve to it and back. Put it between the ports.
    raw.forEach((p, j) => {
      const q = raw[j + 1];
      const r = raw[j + 2];
      if (p.port !== "out" || !q || q.port || !r || r.port !== "in") return;
      if (lr) q.y = (p.y + r.y) / 2; else q.x = (p.x + r.x) / 2;
    });
    // Through nested borders with nothing between them, keep only the innermost port point:
    // one smooth curve instead of a zigzag across the stacked borders.
    const points = [];
    raw.forEach((p, j) => {
      if (p.port === "in" && raw[j + 1] && raw[j + 1].port === "in") return;
      if (p.port === "out" && raw[j - 1] && raw[j - 1].port === "out") return;
      // The B-spline passes a control point exactly, across the border, when its neighbours sit
      // on either side along the flow: the curve then crosses the border at the port, where the
      // group's title was placed clear of it.
      if (p.port && j > 0 && j < raw.length - 1) {
        const d = PORT_STRAIGHT;
        points.push(lr ? { x: p.x - d, y: p.y } : { x: p.x, y: p.y - d }, { x: p.x, y: p.y }, lr ? { x: p.x + d, y: p.y } : { x: p.x, y: p.y + d });
        return;
      }
      points.push({ x: p.x, y: p.y });
    });
    const first = segs[0];
    const o = first ? origin.get(first.scope) : null;
    const hasLabel = first && first.lw && first.lx !== undefined;
    return {
      ...e, label: labels[k], points,
      lx: hasLabel ? first.lx + o.x : undefined, ly: hasLabel ? first.ly + o.y : undefined, lw: first ? first.lw : 0,
    };
  });
  const clusters = vg.clusters.map((c) => {
    const b = clusterBox.get(c.id) || { x: 0, y: 0, w: 0, h: 0 };
    return { ...c, depth: depthOf.get(c.id), x: b.x, y: b.y, w: b.w, h: b.h, tx: titleX.get(c.id) || 0 };
  });
  const lines = edges.map((e) => curvePieces(e.points).flatMap((pc) => piecePoints(pc, CURVE_STEPS)));
  edges.forEach((e, k) => labelOnCurve(e, lr, nodes, (box) => edges.some((o, m) => m !== k && o.source !== e.source
    && lines[m].some(([x, y]) => x > box[0] && x < box[1] && y > box[2] && y < box[3]))));
  // One tensor read by several consumers: its edges share their first stretch and the same
  // label lands on the same spot; draw it once.
  const drawn = new Set();
  for (const e of edges) {
    if (!e.label || e.lx == null) continue;
    const key = `${e.source}|${e.label}|${Math.round(e.lx)}|${Math.round(e.ly)}`;
    if (drawn.has(key)) e.lx = undefined; else drawn.add(key);
  }
  placeTitles(clusters, edges);
  const root = size.get("");
  return { width: Math.ceil(root.w), height: Math.ceil(root.h), nodes, edges, clusters, direction: lr ? "LR" : "TB" };
}

/** The pieces of the curve svg.basisPath draws through dagre's points (a cubic B-spline): a
 * line in, cubic Béziers, a line out; each piece as its control points [[x, y] x 2 or 4]. */
export function curvePieces(points) {
  if (points.length < 3) return points.slice(1).map((p, i) => [[points[i].x, points[i].y], [p.x, p.y]]);
  const out = [];
  let [x0, y0, x1, y1] = [points[0].x, points[0].y, points[1].x, points[1].y];
  let start = [(5 * x0 + x1) / 6, (5 * y0 + y1) / 6];
  out.push([[x0, y0], start]);
  const piece = (x, y) => {
    const end = [(x0 + 4 * x1 + x) / 6, (y0 + 4 * y1 + y) / 6];
    out.push([start, [(2 * x0 + x1) / 3, (2 * y0 + y1) / 3], [(x0 + 2 * x1) / 3, (y0 + 2 * y1) / 3], end]);
    start = end;
    [x0, y0, x1, y1] = [x1, y1, x, y];
  };
  for (let i = 2; i < points.length; i++) piece(points[i].x, points[i].y);
  piece(x1, y1);
  out.push([start, [x1, y1]]);
  return out;
}

/** A piece as a polyline (`steps` segments for a cubic). */
function piecePoints(pc, steps) {
  if (pc.length === 2) return pc;
  const [p0, c1, c2, e] = pc;
  const out = [p0];
  for (let i = 1; i <= steps; i++) {
    const t = i / steps;
    const u = 1 - t;
    out.push([
      u * u * u * p0[0] + 3 * u * u * t * c1[0] + 3 * u * t * t * c2[0] + t * t * t * e[0],
      u * u * u * p0[1] + 3 * u * u * t * c1[1] + 3 * u * t * t * c2[1] + t * t * t * e[1],
    ]);
  }
  return out;
}

/** Where the drawn curve crosses the line `along` = v (y in TB, x in LR): the across
 * coordinates of each crossing. */
function crossings(points, lr, v) {
  const out = [];
  let prev = null;
  for (const pc of curvePieces(points)) {
    for (const p of piecePoints(pc, CURVE_STEPS * 2)) {
      if (prev) {
        const [a0, a1] = lr ? [prev[0], p[0]] : [prev[1], p[1]];
        if ((a0 - v) * (a1 - v) <= 0 && a0 !== a1) {
          const t = (v - a0) / (a1 - a0);
          out.push(lr ? prev[1] + t * (p[1] - prev[1]) : prev[0] + t * (p[0] - prev[0]));
        }
      }
      prev = p;
    }
  }
  return out;
}

/** An edge label beside the line as drawn: dagre places it at its dummy node, which the
 * B-spline cuts past where an edge bends sharply (a "1" 100+ px from its Squeeze edge). At the
 * label's own rank the label moves across the flow to the curve: right of it in TB (left where
 * the right side crosses another edge), above it in LR (below where above does), never over a
 * node; it stays where it was when the curve never crosses that rank or no side is free of nodes.
 * `crossesEdge(box)` tells whether a box [x0, x1, y0, y1] covers another tensor's line. */
function labelOnCurve(e, lr, nodes, crossesEdge) {
  if (!e.label || e.lx == null || e.points.length < 2) return;
  const anchor = lr ? e.ly : e.lx - e.lw / 2 - 4; // where dagre's route passes the label
  const hits = crossings(e.points, lr, lr ? e.lx : e.ly);
  if (!hits.length) return;
  const c = hits.reduce((a, b) => (Math.abs(b - anchor) < Math.abs(a - anchor) ? b : a));
  const sides = lr ? [{ lx: e.lx, ly: c }, { lx: e.lx, ly: c + 15 }]
    : [{ lx: c + e.lw / 2 + 4, ly: e.ly }, { lx: c - e.lw / 2 - 4, ly: e.ly }];
  const box = (at) => [at.lx - e.lw / 2, at.lx + e.lw / 2, lr ? at.ly - 12 : at.ly - 6, lr ? at.ly : at.ly + 6];
  const free = sides.filter((at) => { const [x0, x1, y0, y1] = box(at);
    return !nodes.some((m) => x0 < m.x + m.w / 2 && x1 > m.x - m.w / 2 && y0 < m.y + m.h / 2 && y1 > m.y - m.h / 2); });
  if (!free.length) return;
  const next = free.find((at) => !crossesEdge(box(at))) || free[0];
  e.lx = next.lx;
  e.ly = next.ly;
}

const TITLE_BAND = [1, 19]; // the title's text, from the top of the group's box (px)
const EDGE_CLEAR = 5; // px kept between an edge (stroke, arrowhead) and a title
const CURVE_STEPS = 12;

/** Titles no edge passes through: each open group's title (at the top of its box, in both
 * directions) moves along its header band to the leftmost place where no drawn edge curve or
 * edge label crosses the band. Where no gap is wide enough, it takes the widest gap and drops
 * its op count (`showCount`), then shortens its label (`titleLabel`; the tooltip keeps the full
 * path). Sets `tx`, `titleLabel`, `showCount` on each cluster. O(pieces × log groups). */
export function placeTitles(clusters, edges) {
  if (!clusters.length) return;
  const bands = clusters.map((c) => ({ c, y0: c.y + TITLE_BAND[0], y1: c.y + TITLE_BAND[1], x0: c.x - EDGE_CLEAR, x1: c.x + c.w + EDGE_CLEAR, blocked: [] }));
  bands.sort((p, q) => p.y0 - q.y0);
  const maxH = TITLE_BAND[1] - TITLE_BAND[0];
  // Bands whose y-range meets [y0, y1] and x-range meets [x0, x1]; a piece lies in the hull of
  // its control points, so pieces far from every band are never sampled.
  const near = (x0, x1, y0, y1) => {
    let lo = 0;
    let hi = bands.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (bands[mid].y0 < y0 - maxH) lo = mid + 1; else hi = mid; }
    const out = [];
    for (let k = lo; k < bands.length && bands[k].y0 <= y1; k++) {
      const b = bands[k];
      if (b.y1 >= y0 && b.x1 >= x0 && b.x0 <= x1) out.push(b);
    }
    return out;
  };
  const block = (b, xa, xb) => b.blocked.push([xa - EDGE_CLEAR - b.c.x, xb + EDGE_CLEAR - b.c.x]);
  for (const e of edges) {
    for (const pc of curvePieces(e.points || [])) {
      const xs = pc.map((p) => p[0]);
      const ys = pc.map((p) => p[1]);
      const hits = near(Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys));
      if (!hits.length) continue;
      const pts = piecePoints(pc, CURVE_STEPS);
      for (let i = 1; i < pts.length; i++) {
        const [ax, ay] = pts[i - 1];
        const [bx, by] = pts[i];
        for (const b of hits) {
          if (Math.max(ay, by) < b.y0 || Math.min(ay, by) > b.y1) continue;
          const dy = by - ay;
          const at = (y) => ax + ((bx - ax) * (y - ay)) / dy;
          const xa = dy === 0 ? ax : at(Math.min(Math.max(b.y0, Math.min(ay, by)), Math.max(ay, by)));
          const xb = dy === 0 ? bx : at(Math.max(Math.min(b.y1, Math.max(ay, by)), Math.min(ay, by)));
          block(b, Math.min(xa, xb), Math.max(xa, xb));
        }
      }
    }
    if (e.label && e.lx != null) {
      for (const b of near(e.lx - e.lw / 2, e.lx + e.lw / 2, e.ly - 6, e.ly + 6)) block(b, e.lx - e.lw / 2, e.lx + e.lw / 2);
    }
  }
  for (const { c, blocked } of bands) {
    blocked.sort((p, q) => p[0] - q[0]);
    const gaps = [];
    let from = 0;
    for (const [lo, hi] of blocked) {
      if (lo > from) gaps.push([from, lo]);
      from = Math.max(from, hi);
    }
    if (from < c.w) gaps.push([from, c.w]);
    const labelW = textWidth(c.label || "", METRICS.clusterSize, true);
    const countW = textWidth(`${c.count} ops`, METRICS.rowSize);
    const need = 26 + labelW + countW + 4;
    c.titleLabel = c.label;
    c.showCount = true;
    const fit = gaps.find(([lo, hi]) => lo + need <= hi);
    if (fit) { c.tx = fit[0]; continue; }
    const widest = gaps.reduce((best, g) => (!best || g[1] - g[0] > best[1] - best[0] ? g : best), null) || [0, 0];
    const room = widest[1] - widest[0];
    c.tx = widest[0];
    c.showCount = false;
    if (20 + labelW + 4 <= room) continue;
    c.titleLabel = ellipsize(String(c.label || ""), Math.max(1, Math.floor((room - 24) / 6.2)));
  }
}
