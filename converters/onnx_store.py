"""The tensor store of an ONNX model: reads a weight's values on demand (inline, lazily from the
file, or from external data), each graph's weights under that graph's own subgraph id, so two
bodies with a weight of the same name each show their own."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from converters.errors import ModelLoadError
from converters.onnx_lazy import Span, read_raw
from converters.onnx_sparse import (
    SparseIndexError,
    SparseParts,
    checker_problem,
    dense_array,
    index_problem,
    sparse_parts_of,
    sparse_stored_bytes,
)
from converters.onnx_tensors import (
    decode_text,
    element_count,
    first_line,
    is_external,
    stored_bytes,
    tensor_array,
    weight_problems,
    with_raw_data,
)

if TYPE_CHECKING:
    import numpy as np
    import onnx

MAIN = ""
_EXTERNAL_FIX = "open the model by path, or upload its external data files together with the .onnx"


@dataclass
class OnnxTensorStore:
    """Weights by (scope, name): scope is the id of the subgraph that holds them ("" = main graph,
    as in ``G.graph["subgraphs"]``). External data comes from ``base_dir``; ``lazy`` names main-graph
    initializers whose bytes were left in the file at ``path``."""

    model: onnx.ModelProto
    base_dir: Path
    path: Path
    lazy: dict[str, Span] = field(default_factory=dict)
    _index: dict[tuple[str, str], onnx.TensorProto] = field(default_factory=dict, repr=False)
    _sparse: dict[tuple[str, str], onnx.SparseTensorProto] = field(default_factory=dict, repr=False)
    scopes: dict[str, onnx.GraphProto] = field(default_factory=dict, repr=False)  # main graph first

    def add_graph(self, scope: str, proto: onnx.GraphProto) -> None:
        """Register the weights of the graph shown as subgraph ``scope`` (the first of a name wins,
        as in onnx)."""
        self.scopes[scope] = proto
        for tensor in proto.initializer:
            self._index.setdefault((scope, tensor.name), tensor)
        for sparse in proto.sparse_initializer:
            self._sparse.setdefault((scope, sparse.values.name), sparse)

    @property
    def graphs(self) -> list[onnx.GraphProto]:
        return list(self.scopes.values())

    def names(self, scope: str | None = None) -> list[str]:
        keys = [*self._index, *(k for k in self._sparse if k not in self._index)]
        return [name for s, name in keys if scope is None or s == scope]

    def _key(self, name: str, scope: str | None) -> tuple[str, str] | None:
        """``scope`` None: the main graph's weight, else the one graph holding a weight of that name;
        ModelLoadError when several subgraphs do (the caller must say which)."""
        if scope is not None:
            key = (scope, name)
            return key if key in self._index or key in self._sparse else None
        if (MAIN, name) in self._index or (MAIN, name) in self._sparse:
            return (MAIN, name)
        keys = [(s, name) for s in self.scopes if (s, name) in self._index or (s, name) in self._sparse]
        if len(keys) > 1:
            holders = ", ".join(repr(s) for s, _ in keys[:4])
            raise ModelLoadError(
                f"{len(keys)} subgraphs hold a weight named {name!r} ({holders})",
                "pass the subgraph id as scope (G.graph['subgraphs'][id].graph['tensor_scope'])",
            )
        return keys[0] if keys else None

    def tensor(self, name: str, scope: str | None = None) -> onnx.TensorProto | None:
        key = self._key(name, scope)
        return self._index.get(key) if key else None

    def is_sparse(self, name: str, scope: str | None = None) -> bool:
        key = self._key(name, scope)
        return key is not None and key not in self._index and key in self._sparse

    def sparse_parts(self, name: str, scope: str | None = None) -> SparseParts | None:
        """A sparse initializer's stored values and indices (nothing dense is built); None for a
        dense or unknown name. ModelLoadError when they cannot be read."""
        key = self._key(name, scope)
        if key is None or not self.is_sparse(name, scope):
            return None
        try:
            return sparse_parts_of(self._sparse[key], base_dir=str(self.base_dir))
        except Exception as err:
            raise ModelLoadError(
                f"The stored values of sparse tensor {decode_text(name)!r} are not available "
                f"({first_line(err)})",
                _EXTERNAL_FIX,
            ) from err

    def array(self, name: str, scope: str | None = None) -> np.ndarray:
        """The weight's values (a sparse one densified); ModelLoadError when its data is unavailable,
        a sparse one's indices do not fit its shape, or its dense form is too large to build."""
        key = self._key(name, scope)
        if key is None:
            raise ModelLoadError(f"No stored tensor named {name!r}", "pick a weight listed by the node")
        if key not in self._index:
            return self._dense(name, scope)
        tensor = self._index[key]
        try:
            if key[0] == MAIN and name in self.lazy:
                tensor = with_raw_data(tensor, read_raw(self.path, self.lazy[name]))
            return tensor_array(tensor, base_dir=str(self.base_dir))
        except Exception as err:
            raise ModelLoadError(
                f"The values of {name!r} are not available ({first_line(err)})", _EXTERNAL_FIX
            ) from err

    def _dense(self, name: str, scope: str | None) -> np.ndarray:
        parts = self.sparse_parts(name, scope)
        assert parts is not None
        try:
            return dense_array(parts, name)
        except SparseIndexError as err:
            raise ModelLoadError(
                f"Sparse tensor {name!r} cannot be made dense: {index_problem(parts)}",
                "re-export the model: its sparse indices do not fit its values and shape",
            ) from err
        except MemoryError as err:
            raise ModelLoadError(
                f"Sparse tensor {name!r} is not made dense: {first_line(err)}",
                "its stored values and indices are shown instead; densify it in a script if needed",
            ) from err

    def raw_length(self, scope: str, tensor: onnx.TensorProto) -> int | None:
        """Length of the raw bytes of a main-graph weight that were left in the file (onnx_lazy)."""
        span = self.lazy.get(tensor.name) if scope == MAIN else None
        return span.length if span is not None else None

    def initializers(self) -> list[tuple[str, onnx.TensorProto]]:
        """(scope, tensor) of every dense weight of every registered graph."""
        return [(scope, t) for scope, proto in self.scopes.items() for t in proto.initializer]

    def sparse_initializers(self) -> list[onnx.SparseTensorProto]:
        return [s for proto in self.scopes.values() for s in proto.sparse_initializer]

    def stored_bytes(self) -> int:
        """Bytes of all weights as stored (see ``stored_bytes``, ``sparse_stored_bytes``)."""
        dense = sum(stored_bytes(t, self.raw_length(scope, t)) for scope, t in self.initializers())
        return dense + sum(sparse_stored_bytes(s) for s in self.sparse_initializers())

    def element_count(self) -> int:
        """Elements of all weights, sparse ones by their dense shape; negative dims count 0."""
        dense = sum(element_count(t.dims) for _, t in self.initializers())
        return dense + sum(element_count(s.dims) for s in self.sparse_initializers())

    def weight_warnings(self) -> list[str]:
        """Malformed weights, one line each: negative dims, data shorter or longer than the shape,
        sparse indices that onnx's checker rejects or that do not fit the shape."""
        problems = [
            p for scope, t in self.initializers() for p in weight_problems(t, self.raw_length(scope, t))
        ]
        for tensor in self.sparse_initializers():
            problem = checker_problem(tensor) or _stored_index_problem(tensor)
            if problem is not None:
                problems.append(f"Sparse weight {decode_text(tensor.values.name)!r} is malformed: {problem}")
        return problems

    def external_locations(self) -> set[str]:
        locations = set()
        tensors = [*self._index.values(), *(s.values for s in self._sparse.values())]
        tensors += [s.indices for s in self._sparse.values()]
        for tensor in tensors:
            if is_external(tensor):
                entry = {item.key: item.value for item in tensor.external_data}
                if "location" in entry:
                    locations.add(entry["location"])
        return locations

    def missing_external_data_warnings(self, model_name: str) -> list[str]:
        missing = sorted(loc for loc in self.external_locations() if not (self.base_dir / loc).is_file())
        return [
            f"External data file {loc!r} is missing next to {model_name}: weights show shapes only. "
            "Put the file beside the model (or upload it together with the .onnx)"
            for loc in missing
        ]


def _stored_index_problem(sparse: onnx.SparseTensorProto) -> str | None:
    """``index_problem`` of a sparse tensor whose parts are in the file (external ones: None)."""
    from onnx import numpy_helper

    if is_external(sparse.values) or is_external(sparse.indices):
        return None
    try:
        values = numpy_helper.to_array(sparse.values).reshape(-1)
        indices = numpy_helper.to_array(sparse.indices)
    except Exception as err:  # noqa: BLE001 - a malformed field is the problem to report
        return f"its values or indices cannot be read ({first_line(err)})"
    return index_problem(SparseParts(values, indices, tuple(int(d) for d in sparse.dims)))
