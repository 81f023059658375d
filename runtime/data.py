"""Input arrays: seeded generation from specs, .npy/.npz/JSON loading, images as 4-D floats.

All functions return numpy arrays in the spec's dtype and shape; problems raise InputSpecError.
The same seed and specs always give the same arrays (one ``numpy.random.Generator`` per input,
seeded from the seed and the input's position).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converters.errors import InputSpecError
from runtime.specs import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    InputSpec,
    InputSpecs,
    ModelInput,
    check_rank,
    format_dims,
)

if TYPE_CHECKING:
    import numpy as np

DEFAULT_SEED = 0


def generate_inputs(
    specs: InputSpecs, seed: int = DEFAULT_SEED, provided: Mapping[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """Arrays for every spec, in spec order; inputs in ``provided`` are taken as given."""
    provided = dict(provided or {})
    arrays: dict[str, np.ndarray] = {}
    for index, spec in enumerate(specs):
        arrays[spec.name] = (
            provided.pop(spec.name) if spec.name in provided else make_array(spec, seed + index)
        )
    arrays.update(provided)
    return arrays


def make_array(spec: InputSpec, seed: int = DEFAULT_SEED) -> np.ndarray:
    """One input's values from its DataSource (uniform bounds are inclusive for integers)."""
    import numpy as np

    dtype = _numpy_dtype(spec.dtype)
    source = spec.data
    rng = np.random.default_rng(seed)
    if source.kind == "constant":
        check_fits(spec, [source.value], "constant")
        return np.full(spec.shape, source.value, dtype=dtype)
    if source.kind == "uniform":
        if dtype == np.bool_:
            return rng.integers(0, 2, size=spec.shape).astype(np.bool_)
        if np.issubdtype(dtype, np.integer):
            low, high = int(source.low), int(source.high)
            check_fits(spec, [low, high], f"range {low}..{high}")
            wide = np.uint64 if high > np.iinfo(np.int64).max else np.int64
            return rng.integers(low, high, size=spec.shape, endpoint=True, dtype=wide).astype(dtype)
        return rng.uniform(source.low, source.high, size=spec.shape).astype(dtype)
    if source.kind == "normal":
        values = rng.normal(source.mean, source.std, size=spec.shape)
        return values.astype(dtype) if not np.issubdtype(dtype, np.integer) else np.rint(values).astype(dtype)
    if source.kind == "file":
        arrays = load_arrays(source.path)
        key = source.key or (next(iter(arrays)) if len(arrays) == 1 else spec.name)
        if key not in arrays:
            raise InputSpecError(
                f"{spec.name}: {source.path} has no array {key!r}", f"use one of {', '.join(arrays)}"
            )
        return conform(spec, arrays[key], source.path)
    if source.kind == "image":
        return _image_array(spec)
    if source.kind == "values":
        try:
            check_fits(spec, np.asarray(source.values).ravel().tolist(), "typed values")
            array = np.asarray(source.values, dtype=dtype)
        except (ValueError, TypeError) as err:
            raise InputSpecError(
                f"{spec.name}: typed values are not numbers ({err})", "type a nested list"
            ) from err
        return conform(spec, array, "typed values")
    raise InputSpecError(
        f"{spec.name}: unknown data kind {source.kind!r}", "use uniform, normal, constant, file, values"
    )


def check_fits(spec: InputSpec, values: Sequence[Any], what: str) -> None:
    """Numbers for an integer (or bool) input must lie in its dtype's range and be whole:
    InputSpecError naming the range (``uint8 holds 0..255``) otherwise."""
    import numpy as np

    if spec.dtype == "bool" or not spec.dtype.startswith(("int", "uint")):
        return
    info = np.iinfo(np.dtype(spec.dtype))
    for value in values:
        if isinstance(value, (bool, np.bool_)):
            continue
        if not isinstance(value, (int, float, np.integer, np.floating)):
            return  # not a number: the conversion below reports it
        if not (info.min <= value <= info.max):
            raise InputSpecError(
                f"{spec.name}: {what}: {_plain(value)} does not fit {spec.dtype} ({info.min}..{info.max})",
                f"keep the values within {info.min}..{info.max}, or change the dtype",
            )


def _plain(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _image_array(spec: InputSpec) -> np.ndarray:
    """The spec's image as its 4-D shape: (batch, 3, H, W) or (batch, H, W, 3), batch repeats."""
    import numpy as np

    source = spec.data
    channels_axis = 1 if source.layout == "NCHW" else 3
    if len(spec.shape) != 4 or spec.shape[channels_axis] != 3:
        raise InputSpecError(
            f"{spec.name}: an image fills a 4-D input with 3 channels ({source.layout}), "
            f"not {format_dims(spec.shape)}",
            "use an image only for an image input, or switch the layout",
        )
    size = (spec.shape[2], spec.shape[3]) if source.layout == "NCHW" else (spec.shape[1], spec.shape[2])
    single = image_to_input(
        source.path, size, source.channel_mean, source.channel_std, source.layout, spec.dtype
    )
    return np.ascontiguousarray(np.repeat(single, spec.shape[0], axis=0))


def conform(spec: InputSpec, array: np.ndarray, origin: str) -> np.ndarray:
    """``array`` in the spec's shape (a same-size array is reshaped) and dtype, else InputSpecError."""
    import numpy as np

    if tuple(array.shape) != spec.shape:
        if array.size != int(np.prod(spec.shape)):
            raise InputSpecError(
                f"{spec.name}: {origin} holds shape {format_dims(array.shape)}, "
                f"the spec says {format_dims(spec.shape)}",
                "make the shapes agree",
            )
        array = array.reshape(spec.shape)
    return array.astype(_numpy_dtype(spec.dtype), copy=False)


def _numpy_dtype(name: str) -> Any:
    import numpy as np

    if name == "bfloat16":
        try:
            import ml_dtypes
        except ImportError as err:
            raise InputSpecError("bfloat16 inputs need ml_dtypes", "pip install ml_dtypes") from err
        return ml_dtypes.bfloat16
    try:
        return np.dtype(name).type
    except TypeError as err:
        raise InputSpecError(f"{name!r} is not a dtype", "use a numpy dtype name such as float32") from err


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Arrays from ``.npz`` (by key), ``.npy`` (key = file stem) or ``.json`` ({name: nested list})."""
    import numpy as np

    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                return {key: archive[key] for key in archive.files}
        if suffix == ".npy":
            return {path.stem: np.load(path, allow_pickle=False)}
        if suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise InputSpecError(
                    f"{path.name} must hold an object {{name: values}}", 'e.g. {"x": [[1, 2]]}'
                )
            return {str(k): np.asarray(v) for k, v in data.items()}
    except (OSError, ValueError) as err:
        if (
            "allow_pickle" in str(err) or "pickle" in str(err).lower()
        ):  # not an array file, or pickled objects
            raise InputSpecError(
                f"{path.name} is not a {suffix} array file (or holds Python objects, which are not read)",
                "save plain arrays with numpy.savez / numpy.save",
            ) from err
        reason = (err.strerror or type(err).__name__) if isinstance(err, OSError) else str(err)
        raise InputSpecError(
            f"Cannot read arrays from {path.name}: {reason}", "check the file (.npy, .npz or .json)"
        ) from err
    raise InputSpecError(f"{path.name}: unknown array file type", "use .npy, .npz or .json")


def check_provided(
    provided: Mapping[str, np.ndarray], model_inputs: Sequence[ModelInput], origin: str
) -> None:
    """Arrays given by the user must name model inputs and match declared dtypes and shapes."""
    known = {m.name: m for m in model_inputs}
    extra = [name for name in provided if name not in known]
    if extra:
        raise InputSpecError(
            f"{origin} holds {', '.join(extra)}, which the model does not take",
            f"keys must be the model's input names: {', '.join(known)}",
        )
    for name, array in provided.items():
        declared = known[name]
        if declared.dtype and str(array.dtype) != declared.dtype:
            if origin.lower().endswith(".json"):
                raise InputSpecError(
                    f"{name} in {origin}: its values do not fit {declared.dtype} exactly ({array.dtype})",
                    f"give values that {declared.dtype} holds (whole numbers for integer inputs, "
                    "within its range)",
                )
            raise InputSpecError(
                f"{name} in {origin} is {array.dtype}, the model takes {declared.dtype}",
                f"save it as {declared.dtype}",
            )
        if declared.shape is not None:
            check_rank(name, declared.shape, array.shape, f"reshape {name} in {origin}")
            for axis, (want, got) in enumerate(zip(declared.shape, array.shape, strict=True)):
                if isinstance(want, int) and want != got:
                    raise InputSpecError(
                        f"{name}: dim {axis} must be {want}, got {got}", f"fix {name} in {origin}"
                    )


def check_arrays_match_specs(specs: InputSpecs, provided: Mapping[str, np.ndarray], origin: str) -> None:
    """An array given for an input that also has a spec row must have the row's shape: the array
    does not silently override a dim the user set. InputSpecError names the first differing axis,
    its named dim when it has one (``batch is 4``), and both fixes."""
    for spec in specs:
        array = provided.get(spec.name)
        if array is None or spec.declared or tuple(array.shape) == tuple(spec.shape):
            continue
        have = "×".join(str(d) for d in array.shape) or "scalar"
        want = "×".join(str(d) for d in spec.shape) or "scalar"
        if len(array.shape) != len(spec.shape):
            raise InputSpecError(
                f"{spec.name} is {have} in {origin}, but its spec row says {want}",
                f"give {spec.name} the shape {want}, or an array of that shape",
            )
        axis = next(
            a for a, (got, set_) in enumerate(zip(array.shape, spec.shape, strict=True)) if got != set_
        )
        got, set_ = int(array.shape[axis]), spec.shape[axis]
        dim = spec.named(axis)
        if dim:
            raise InputSpecError(
                f"{spec.name} has {dim} = {got} in {origin} ({have}), but {dim} is {set_}",
                f"set {dim} to {got}, or give an array with {dim} = {set_}",
            )
        raise InputSpecError(
            f"{spec.name} has dim {axis} = {got} in {origin} ({have}), but its spec row says {want}",
            f"set {spec.name}'s shape to {', '.join(str(d) for d in array.shape)}, "
            f"or give an array of shape {want}",
        )


def image_to_input(
    image: str | Path | bytes,
    size: tuple[int, int] = (224, 224),
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    layout: str = "NCHW",
    dtype: str = "float32",
) -> np.ndarray:
    """An image file as a 1×3×H×W (or 1×H×W×3) array: RGB, resized to (height, width), scaled to
    0..1, then (x - mean) / std per channel. Needs Pillow (shipped with streamlit)."""
    import io

    import numpy as np

    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as err:
        raise InputSpecError("image inputs need Pillow", "pip install pillow") from err
    if layout not in ("NCHW", "NHWC"):
        raise InputSpecError(f"layout {layout!r} is not NCHW or NHWC", "pick NCHW or NHWC")
    try:
        opened = Image.open(io.BytesIO(image) if isinstance(image, bytes) else image)
        rgb = opened.convert("RGB").resize((size[1], size[0]), Image.Resampling.BILINEAR)
    except (OSError, UnidentifiedImageError) as err:
        raise InputSpecError(f"Cannot read the image: {err}", "upload a PNG or JPEG") from err
    scaled = np.asarray(rgb, dtype=np.float32) / 255.0
    pixels = (scaled - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    batch = pixels[None]
    if layout == "NCHW":
        batch = batch.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch.astype(dtype))
