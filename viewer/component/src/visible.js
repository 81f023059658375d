// The visible graph: which nodes are drawn for a set of expanded groups.
// Everything here is O(nodes + edges + groups log groups) so that the automatic first view of a
// 50,000-node payload stays fast.

export const AUTO_LIMIT = 200;
// Open groups cost the compound layout most: the first view opens at most this many.
export const AUTO_CLUSTERS = 12;
export const GROUP_PREFIX = "group:";

const indexCache = new WeakMap();

/** Group tree and per-group counts, computed once per payload object. */
export function indexPayload(payload) {
  const cached = indexCache.get(payload);
  if (cached) return cached;
  const groups = payload.groups || [];
  const nodes = payload.nodes || [];
  const G = groups.length;
  const byId = new Map();
  const parent = new Int32Array(G).fill(-1);
  const depth = new Int32Array(G);
  const directNodes = new Int32Array(G);
  const directGroups = new Int32Array(G);
  const deepNodes = new Int32Array(G);
  groups.forEach((g, i) => byId.set(String(g.id), i));
  groups.forEach((g, i) => {
    const p = g.parent ? byId.get(String(g.parent)) : undefined;
    if (p !== undefined && p !== i) {
      parent[i] = p;
    }
  });
  // Depth in list order (parents come first); fall back to walking when they do not.
  for (let i = 0; i < G; i++) {
    const p = parent[i];
    if (p < 0) depth[i] = 0;
    else if (p < i) depth[i] = depth[p] + 1;
    else {
      let d = 0;
      for (let q = p, guard = 0; q >= 0 && guard < G; q = parent[q], guard++) d++;
      depth[i] = d;
    }
  }
  for (let i = 0; i < G; i++) if (parent[i] >= 0) directGroups[parent[i]]++;
  const nodeGroup = new Int32Array(nodes.length);
  nodes.forEach((n, i) => {
    // `group` is an index into payload.groups (compact form) or a group id.
    const g = typeof n.group === "number" ? n.group : n.group ? byId.get(String(n.group)) : undefined;
    nodeGroup[i] = g === undefined ? -1 : g;
    if (g !== undefined) directNodes[g]++;
  });
  // Deep counts: children after parents in the usual order, so one reverse sweep is enough;
  // the sort makes it correct for any order.
  const order = Array.from({ length: G }, (_, i) => i).sort((a, b) => depth[b] - depth[a]);
  for (let i = 0; i < G; i++) deepNodes[i] = directNodes[i];
  for (const i of order) if (parent[i] >= 0) deepNodes[parent[i]] += deepNodes[i];
  const nodeIndex = new Map();
  nodes.forEach((n, i) => nodeIndex.set(String(n.id), i));
  const index = { groups, byId, parent, depth, directNodes, directGroups, deepNodes, nodeGroup, nodeIndex };
  indexCache.set(payload, index);
  return index;
}

/** Indices of a group and all its ancestors. */
function ancestorsOf(index, g) {
  const out = [];
  for (let q = g, guard = 0; q >= 0 && guard <= index.groups.length; q = index.parent[q], guard++) out.push(q);
  return out;
}

/** Automatic first view: expand breadth-first, shallowest and largest first, while at most
 * `limit` nodes are visible and at most AUTO_CLUSTERS groups are open. */
export function autoExpand(index, payload, limit = AUTO_LIMIT) {
  const G = index.groups.length;
  const expanded = new Uint8Array(G);
  let visible = 0;
  let opened = 0;
  for (let i = 0; i < payload.nodes.length; i++) if (index.nodeGroup[i] < 0) visible++;
  let level = [];
  for (let i = 0; i < G; i++) if (index.parent[i] < 0 && index.deepNodes[i] > 0) { level.push(i); visible++; }
  const children = childLists(index);
  while (level.length) {
    level.sort((a, b) => index.deepNodes[b] - index.deepNodes[a] || a - b);
    const next = [];
    for (const g of level) {
      const kids = children[g].filter((c) => index.deepNodes[c] > 0);
      const delta = index.directNodes[g] + kids.length - 1;
      if (visible + delta > limit || opened >= AUTO_CLUSTERS) continue;
      opened++;
      expanded[g] = 1;
      visible += delta;
      next.push(...kids);
    }
    level = next;
  }
  return expanded;
}

function childLists(index) {
  const lists = Array.from({ length: index.groups.length }, () => []);
  for (let i = 0; i < index.groups.length; i++) if (index.parent[i] >= 0) lists[index.parent[i]].push(i);
  return lists;
}

/** The expanded-group flags for the given options. */
export function expandedFlags(payload, options) {
  const index = indexPayload(payload);
  const G = index.groups.length;
  let flags = new Uint8Array(G);
  const opts = options || {};
  if (Array.isArray(opts.expanded)) {
    for (const id of opts.expanded) {
      const g = index.byId.get(String(id));
      if (g !== undefined) flags[g] = 1;
    }
  } else if (opts.expand === "all") {
    flags.fill(1);
  } else if (typeof opts.expand === "number") {
    for (let i = 0; i < G; i++) if (index.depth[i] < opts.expand) flags[i] = 1;
  } else if (opts.expand !== "none") {
    flags = autoExpand(index, payload, opts.autoLimit || AUTO_LIMIT);
  }
  if (opts.focus != null) {
    const n = index.nodeIndex.get(String(opts.focus));
    let g = n === undefined ? undefined : index.nodeGroup[n];
    if (n === undefined && String(opts.focus).startsWith(GROUP_PREFIX)) {
      g = index.byId.get(String(opts.focus).slice(GROUP_PREFIX.length));
      if (g !== undefined) g = index.parent[g];
    }
    if (g !== undefined && g >= 0) for (const a of ancestorsOf(index, g)) flags[a] = 1;
  }
  return flags;
}

/** Representative group per group: -1 when the group is open (it and all ancestors expanded). */
function representatives(index, flags) {
  const G = index.groups.length;
  const rep = new Int32Array(G);
  const visit = (i) => {
    const p = index.parent[i];
    const up = p < 0 ? -1 : rep[p];
    rep[i] = up >= 0 ? up : flags[i] ? -1 : i;
  };
  // Parents first in the usual order; otherwise order by depth.
  let ordered = true;
  for (let i = 0; i < G; i++) if (index.parent[i] > i) { ordered = false; break; }
  if (ordered) for (let i = 0; i < G; i++) visit(i);
  else Array.from({ length: G }, (_, i) => i).sort((a, b) => index.depth[a] - index.depth[b]).forEach(visit);
  return rep;
}

function topOps(hist, k = 3) {
  return [...hist.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, k);
}

/**
 * Compute the visible graph.
 * Returns {nodes, edges, expanded, clusters, total}. Visible node ids are payload node ids or
 * "group:<groupId>" for a collapsed group; `parent` is the id of the expanded group that contains it.
 */
export function visibleGraph(payload, options) {
  const index = indexPayload(payload);
  const flags = expandedFlags(payload, options);
  const rep = representatives(index, flags);
  const nodes = payload.nodes || [];
  const groups = index.groups;
  const outNodes = [];
  const repSlot = new Int32Array(nodes.length);
  const groupSlot = new Map();
  const hists = new Map();
  const clusterUsed = new Uint8Array(groups.length);
  const markClusters = (g) => {
    for (let q = g; q >= 0 && !clusterUsed[q]; q = index.parent[q]) clusterUsed[q] = 1;
  };
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i];
    const g = index.nodeGroup[i];
    const r = g < 0 ? -1 : rep[g];
    if (r < 0) {
      repSlot[i] = outNodes.length;
      outNodes.push({
        id: String(n.id), kind: n.kind || "op", op: n.op || "", name: n.name ? String(n.name) : String(n.id), cat: n.cat || "",
        index: i, parent: g < 0 ? "" : String(groups[g].id), weights: n.weights || [],
        subgraphs: n.subgraphs || 0,
      });
      if (g >= 0) markClusters(g);
      continue;
    }
    let slot = groupSlot.get(r);
    if (slot === undefined) {
      slot = outNodes.length;
      groupSlot.set(r, slot);
      const grp = groups[r];
      const p = index.parent[r];
      outNodes.push({
        id: GROUP_PREFIX + grp.id, kind: "group", group: String(grp.id), label: grp.label || String(grp.id),
        count: grp.count != null ? grp.count : index.deepNodes[r], parent: p < 0 ? "" : String(groups[p].id),
        ops: [],
      });
      hists.set(r, new Map());
      if (p >= 0) markClusters(p);
    }
    repSlot[i] = slot;
    const h = hists.get(r);
    if (n.kind === "op" || n.kind === undefined) h.set(n.op, (h.get(n.op) || 0) + 1);
  }
  for (const [r, h] of hists) outNodes[groupSlot.get(r)].ops = topOps(h);
  const outEdges = [];
  const edgeSlot = new Map();
  const edges = payload.edges || [];
  for (let e = 0; e < edges.length; e++) {
    const [s, d, tensor, shape, dtype, control] = edges[e];
    if (s == null || d == null || s >= nodes.length || d >= nodes.length) continue;
    const a = repSlot[s];
    const b = repSlot[d];
    if (a === b) continue;
    const key = a * 4294967296 + b;
    const slot = edgeSlot.get(key);
    if (slot !== undefined) {
      const out = outEdges[slot];
      out.edges.push(e);
      if (out.control && !control) Object.assign(out, { control: false, tensor: tensor || "", shape: shape || "", dtype: dtype || "" });
      continue;
    }
    edgeSlot.set(key, outEdges.length);
    outEdges.push({
      source: outNodes[a].id, target: outNodes[b].id, edges: [e],
      tensor: tensor || "", shape: shape || "", dtype: dtype || "", control: control === 1,
    });
  }
  const clusters = [];
  const expanded = [];
  for (let g = 0; g < groups.length; g++) {
    if (rep[g] !== -1) continue;
    expanded.push(String(groups[g].id));
    if (!clusterUsed[g]) continue;
    const p = index.parent[g];
    clusters.push({
      id: String(groups[g].id), label: groups[g].label || String(groups[g].id),
      parent: p < 0 ? "" : String(groups[p].id),
      count: groups[g].count != null ? groups[g].count : index.deepNodes[g],
    });
  }
  return { nodes: outNodes, edges: outEdges, expanded, clusters, total: nodes.length };
}

/** Group ids of the ancestors of a node (outermost first). */
export function nodeAncestors(payload, nodeId) {
  const index = indexPayload(payload);
  const n = index.nodeIndex.get(String(nodeId));
  if (n === undefined || index.nodeGroup[n] < 0) return [];
  return ancestorsOf(index, index.nodeGroup[n]).reverse().map((g) => String(index.groups[g].id));
}

/** Id of the visible node standing in for a payload node id under the given expanded set. */
export function visibleIdFor(payload, expandedIds, nodeId) {
  const index = indexPayload(payload);
  const n = index.nodeIndex.get(String(nodeId));
  if (n === undefined) return null;
  const open = new Set(expandedIds);
  const chain = index.nodeGroup[n] < 0 ? [] : ancestorsOf(index, index.nodeGroup[n]).reverse();
  for (const g of chain) if (!open.has(String(index.groups[g].id))) return GROUP_PREFIX + index.groups[g].id;
  return String(nodeId);
}
