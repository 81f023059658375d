"""Keras layer names for the namespaces of a traced Keras model.

Tracing a Keras model into a tf.function enters each layer's name scope a second time, so
TensorFlow uniquifies it: layer ``dense`` runs under scope ``dense_1`` and layer ``dense_1``
under ``dense_1_2``. The scope alone would put layer ``dense`` in a group named after layer
``dense_1``. The variables a scope reads carry the layer's real name (``dense/kernel``, or
``seq/conv/kernel`` in a Sequential), so scopes are renamed from that evidence; once it shows the
whole trace was uniquified, the weightless layers (and model scopes) at the same depths lose the
suffix too.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from collections.abc import Iterable

from converters import schema

_SUFFIX = re.compile(r"^(.+)_\d+$")


def keras_namespaces(graph: schema.ModelGraph, variable_names: Iterable[str]) -> dict[str, str]:
    """Old namespace → namespace with Keras layer names (only the ones that change)."""
    variables = set(variable_names)
    scope_dirs: dict[str, set[str]] = {}
    spaces = {d["namespace"] for _, d in graph.nodes(data=True) if d["namespace"]}
    for _, data in graph.nodes(data=True):
        dirs = {posixpath.dirname(w.name) for w in data["weights"].values() if w.name in variables}
        for prefix in _prefixes(data["namespace"]):
            scope_dirs.setdefault(prefix, set()).update(dirs)
    renamed: dict[tuple[str, ...], str] = {}  # scope path (as parts) → its Keras name
    kept_exactly = False
    for scope, dirs in scope_dirs.items():
        common = _common_dir(dirs - {""})
        last = scope.rsplit("/", 1)[-1]
        for layer in reversed(common.split("/") if common else []):  # cell variables: lstm/lstm_cell/..
            if last == layer:
                kept_exactly = True
                break
            if re.fullmatch(re.escape(layer) + r"(_\d+)+", last):
                renamed[tuple(scope.split("/"))] = layer
                break
    if not renamed:
        return {}
    if not kept_exactly:  # the trace uniquified every scope: weightless layers lose the suffix too
        depth = max(len(parts) for parts in renamed)
        for space in spaces:
            parts = tuple(space.split("/"))
            for i in range(min(depth, len(parts))):
                key = parts[: i + 1]
                evidence = _common_dir(scope_dirs.get("/".join(key), set()) - {""})
                if key not in renamed and _strip(parts[i]) != parts[i] and not evidence:
                    renamed[key] = _strip(parts[i])
    keys = sorted({key for space in spaces for key in _keys(space)}, key=len)
    wanted: dict[tuple[str, ...], str] = {key: renamed.get(key, key[-1]) for key in keys}
    claims = Counter((key[:-1], name) for key, name in wanted.items())
    new_of: dict[tuple[str, ...], tuple[str, ...]] = {(): ()}
    for key in keys:  # parents first; a name two scopes would share (a shared layer's calls) stays TF's
        name = wanted[key] if claims[(key[:-1], wanted[key])] == 1 else key[-1]
        new_of[key] = (*new_of[key[:-1]], name)
    mapping = {}
    for space in spaces:
        new_space = "/".join(new_of[tuple(space.split("/"))])
        if new_space != space:
            mapping[space] = new_space
    return mapping


def _keys(space: str) -> list[tuple[str, ...]]:
    parts = tuple(space.split("/"))
    return [parts[: i + 1] for i in range(len(parts))]


def apply_keras_namespaces(graph: schema.ModelGraph, variable_names: Iterable[str]) -> None:
    mapping = keras_namespaces(graph, variable_names)
    for _, data in graph.nodes(data=True):
        data["namespace"] = mapping.get(data["namespace"], data["namespace"])


def _prefixes(namespace: str) -> list[str]:
    parts = namespace.split("/") if namespace else []
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _common_dir(dirs: set[str]) -> str:
    if not dirs:
        return ""
    return posixpath.commonpath(sorted(dirs)) if all(not d.startswith("/") for d in dirs) else ""


def _strip(name: str) -> str:
    match = _SUFFIX.match(name)
    return match.group(1) if match else name
