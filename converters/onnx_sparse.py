"""ONNX sparse tensors: their stored parts, the checks onnx's checker makes on them, the bytes they
take, and their dense form (built only when it fits DENSE_LIMIT_BYTES)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from converters.onnx_tensors import element_count, first_line, stored_bytes, tensor_array

if TYPE_CHECKING:
    import numpy as np
    import onnx

DENSE_LIMIT_BYTES = 256 * 2**20  # the largest dense array built from a sparse tensor (views, .npy)


class SparseIndexError(ValueError):
    """A sparse tensor's indices do not fit its values or its dense shape."""


@dataclass(frozen=True)
class SparseParts:
    """A sparse tensor as stored: ``values`` [NNZ], ``indices`` [NNZ] (linear) or [NNZ, rank]."""

    values: np.ndarray
    indices: np.ndarray
    dense_shape: tuple[int, ...]

    @property
    def dense_elements(self) -> int:
        return max(element_count(self.dense_shape), 0)

    @property
    def density(self) -> float:
        """Stored values / dense elements, 0..1 (1.0 for an empty dense shape)."""
        total = self.dense_elements
        return self.values.size / total if total else 1.0

    @property
    def dense_bytes(self) -> int:
        """Bytes the dense array would take in the values' numpy dtype."""
        return self.dense_elements * int(self.values.dtype.itemsize)

    limit_bytes = DENSE_LIMIT_BYTES

    def problem(self) -> str | None:
        """Why the indices cannot place the values in the dense shape (see ``index_problem``)."""
        return index_problem(self)

    def dense(self, name: str) -> np.ndarray:
        """The dense array (see ``dense_array``; SparseIndexError, MemoryError)."""
        return dense_array(self, name, self.limit_bytes)


def sparse_parts_of(sparse: onnx.SparseTensorProto, base_dir: str = "") -> SparseParts:
    """Stored values and indices as numpy arrays (nothing dense is built); errors from onnx's
    readers propagate (external data missing, unreadable fields)."""
    values = tensor_array(sparse.values, base_dir=base_dir).reshape(-1)
    indices = tensor_array(sparse.indices, base_dir=base_dir)
    return SparseParts(values, indices, tuple(int(d) for d in sparse.dims))


def index_problem(parts: SparseParts) -> str | None:
    """Why the indices cannot place the values in the dense shape, or None when they can."""
    import numpy as np

    nnz, shape, indices = parts.values.size, parts.dense_shape, parts.indices
    if any(d < 0 for d in shape):
        return f"its dense shape {list(shape)} has a negative dimension"
    if not np.issubdtype(indices.dtype, np.integer):
        return f"its indices are {indices.dtype}, not integers"
    if indices.ndim == 1 and indices.size == nnz:
        low, high = (int(indices.min()), int(indices.max())) if nnz else (0, 0)
        if nnz and (low < 0 or high >= parts.dense_elements):
            return f"linear index {low if low < 0 else high} is outside 0..{parts.dense_elements - 1}"
        return None
    if indices.ndim == 2 and indices.shape == (nnz, len(shape)):
        for axis, dim in enumerate(shape):
            column = indices[:, axis]
            if nnz and (int(column.min()) < 0 or int(column.max()) >= dim):
                bad = int(column.min()) if int(column.min()) < 0 else int(column.max())
                return f"index {bad} on axis {axis} is outside 0..{dim - 1}"
        return None
    return (
        f"its indices have shape {list(indices.shape)}, but {nnz} values in a rank-{len(shape)} "
        f"tensor need [{nnz}] or [{nnz}, {len(shape)}]"
    )


def checker_problem(sparse: onnx.SparseTensorProto) -> str | None:
    """What ``onnx.checker.check_sparse_tensor`` rejects (int32 indices, duplicates, unsorted,
    wrong rank), one line; None when it accepts the tensor or cannot check it."""
    import onnx

    try:
        onnx.checker.check_sparse_tensor(sparse)
    except onnx.checker.ValidationError as err:
        return first_line(err)
    except Exception:  # noqa: BLE001 - external data and the like: the checker cannot tell
        return None
    return None


def dense_array(parts: SparseParts, name: str, limit_bytes: int = DENSE_LIMIT_BYTES) -> np.ndarray:
    """The dense array ``parts`` stand for (zeros where nothing is stored). SparseIndexError when the
    indices do not fit; MemoryError (with the sizes) when the array would exceed ``limit_bytes``."""
    import numpy as np

    problem = index_problem(parts)
    if problem is not None:
        raise SparseIndexError(f"sparse tensor {name!r}: {problem}")
    if parts.dense_bytes > limit_bytes:
        raise MemoryError(
            f"sparse tensor {name!r} stands for {parts.dense_elements:,} {parts.values.dtype} values "
            f"({parts.dense_bytes:,} bytes dense), over the {limit_bytes:,}-byte limit for a dense copy"
        )
    dense = np.zeros(parts.dense_shape, dtype=parts.values.dtype)
    indices = parts.indices.astype(np.int64, copy=False)
    if indices.ndim == 2:
        dense[tuple(indices.T)] = parts.values
    else:
        dense.reshape(-1)[indices] = parts.values
    return dense


def sparse_to_dense(
    sparse: onnx.SparseTensorProto, base_dir: str = "", limit_bytes: int = DENSE_LIMIT_BYTES
) -> np.ndarray:
    """The dense array a SparseTensorProto stands for; SparseIndexError / MemoryError as in
    ``dense_array``."""
    return dense_array(sparse_parts_of(sparse, base_dir), sparse.values.name, limit_bytes)


def sparse_stored_bytes(sparse: onnx.SparseTensorProto) -> int:
    """Bytes a sparse tensor occupies: its stored values plus its indices."""
    return stored_bytes(sparse.values) + stored_bytes(sparse.indices)
