"""An opened model with everything the pages derive from it, computed once and cached by the app."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from converters import ModelGraph, ModelSource, load_source
from viewer.canvas_payload import build_payload
from viewer.hierarchy import Grouping, build_groups
from viewer.summary import model_summary
from viewer.tables import attribute_bindings, node_table

MAIN_GRAPH = ""


@dataclass
class OpenModel:
    """A loaded model. ``graph_for(sub_id)`` gives the main graph ("") or a control-flow body."""

    key: str
    name: str
    graph: ModelGraph
    summary: dict[str, Any]
    _groupings: dict[str, Grouping] = field(default_factory=dict, repr=False)
    _payloads: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _tables: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    _overlays: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict, repr=False)

    def graph_for(self, sub_id: str) -> ModelGraph:
        if sub_id == MAIN_GRAPH:
            return self.graph
        return self.graph.graph["subgraphs"][sub_id]

    def has_subgraph(self, sub_id: str) -> bool:
        return sub_id == MAIN_GRAPH or sub_id in self.graph.graph["subgraphs"]

    def grouping(self, sub_id: str) -> Grouping:
        if sub_id not in self._groupings:
            self._groupings[sub_id] = build_groups(self.graph_for(sub_id))
        return self._groupings[sub_id]

    def payload(self, sub_id: str) -> dict[str, Any]:
        if sub_id not in self._payloads:
            title = self.name if sub_id == MAIN_GRAPH else f"{self.name} › {sub_id}"
            self._payloads[sub_id] = build_payload(self.graph_for(sub_id), self.grouping(sub_id), title)
        return self._payloads[sub_id]

    def overlay_payload(
        self, sub_id: str, token: str, overlay: Mapping[str, Any], heat: Mapping[str, float]
    ) -> dict[str, Any]:
        """The canvas payload with a run's shapes (``overlay``: node id → shape per output port)
        on the edges and its node times (``heat``, 0..1); the graph is not changed. The title
        says "spec shapes", which gives the canvas a new payload identity. The latest one is
        kept per ``token`` (the page's overlay id)."""
        cached = self._overlays.get(sub_id)
        if cached is not None and cached[0] == token:
            return cached[1]
        title = (self.name if sub_id == MAIN_GRAPH else f"{self.name} › {sub_id}") + " · spec shapes"
        payload = build_payload(
            self.graph_for(sub_id), self.grouping(sub_id), title, overlay=overlay, heat=heat
        )
        self._overlays[sub_id] = (token, payload)
        return payload

    def export_payload(
        self,
        sub_id: str,
        caller: tuple[str, str] | None = None,
        callers: Mapping[str, tuple[str, str]] | None = None,
    ) -> dict[str, Any]:
        """The payload for the HTML export: the canvas payload plus attributes and operator docs
        (see ``build_payload(details=True)``); built on demand, not cached. Inside a function body,
        attribute references show the values the call (``caller``/``callers``, as the inspector
        takes them, see ``tables.attribute_bindings``) passes. The bodies and functions reachable
        from the graph travel with it (``subgraphs``), so the export can open them."""
        title = self.name if sub_id == MAIN_GRAPH else f"{self.name} › {sub_id}"
        bindings = attribute_bindings(self.graph, sub_id, caller, callers=callers) if sub_id else {}
        taken = dict(callers or {})
        function = self.graph_for(sub_id).graph.get("function")
        if caller is not None and function:
            taken[function] = caller
        return build_payload(
            self.graph_for(sub_id),
            self.grouping(sub_id),
            title,
            details=True,
            bindings=bindings,
            root=self.graph,
            graph_id=sub_id,
            callers=taken,
        )

    def node_table(self, sub_id: str) -> pd.DataFrame:
        if sub_id not in self._tables:
            self._tables[sub_id] = node_table(self.graph_for(sub_id))
        return self._tables[sub_id]

    def has_selection(self, sub_id: str, selection: dict[str, Any]) -> bool:
        """Whether a selection (see viewer.app_state) names a node, payload edges or a group of
        graph ``sub_id``."""
        kind = selection.get("kind")
        if kind == "node":
            return selection.get("id") in self.graph_for(sub_id)
        if kind == "edge":
            count = len(self.payload(sub_id)["edges"])
            return bool(selection.get("edges")) and all(0 <= i < count for i in selection["edges"])
        if kind == "group":
            return selection.get("id") in self.grouping(sub_id).groups
        return False


def open_model(key: str, source: ModelSource, settings: dict[str, Any] | None = None) -> OpenModel:
    """Open a model, or take it over from ``preopen`` when the server started opening it already.
    ``settings`` go to the format (a SavedModel's ``signature``)."""
    pending = _PREOPENED.pop(key, None) if not settings else None
    if pending is not None:
        return pending.result()
    return _load(key, source, settings)


def _load(key: str, source: ModelSource, settings: dict[str, Any] | None = None) -> OpenModel:
    graph = load_source(source, settings)
    return OpenModel(key=key, name=source.display_name, graph=graph, summary=model_summary(graph))


# A one-shot hand-over from the server's start-up thread (viewer.serve) to the first page run.
_PREOPENED: dict[str, Future[OpenModel]] = {}


def preopen(key: str, path: str) -> None:
    """Open ``path`` (and lay out its payload) before any page asks for it; errors are kept for the
    page to report."""
    future: Future[OpenModel] = Future()
    _PREOPENED[key] = future
    try:
        model = _load(key, ModelSource.from_path(path))
        model.payload(MAIN_GRAPH)
        future.set_result(model)
    except BaseException as err:  # noqa: BLE001 - handed to the page, which shows it
        future.set_exception(err)
