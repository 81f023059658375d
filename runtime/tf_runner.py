"""The SavedModel runner (``tf.saved_model.load``, one signature by key). TensorFlow is optional:
without it, loading says which extra to install. Imported only by the worker."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

from converters.errors import ModelLoadError, ModelRunError
from runtime.runners import TF_EXTRA, Runner, first_line, require_module
from runtime.specs import ModelInput

if TYPE_CHECKING:
    import numpy as np


class SavedModelRunner(Runner):
    """A SavedModel folder via ``tf.saved_model.load``, one signature (``serving_default`` unless
    ``signature`` names another)."""

    format = "savedmodel"

    def _load(self) -> None:
        require_module("tensorflow", TF_EXTRA, "a SavedModel")
        import tensorflow as tf

        if self.device == "cuda" and not tf.config.list_physical_devices("GPU"):
            raise ModelRunError(
                "cuda was asked for, but TensorFlow sees no GPU",
                "install tensorflow[and-cuda], or run on cpu",
            )
        self._tf_device = "/GPU:0" if self.device == "cuda" else "/CPU:0"
        if self.threads:
            # RuntimeError: TensorFlow already started in this worker and keeps its count
            with contextlib.suppress(RuntimeError):
                tf.config.threading.set_intra_op_parallelism_threads(self.threads)
        self.threads = tf.config.threading.get_intra_op_parallelism_threads() or self.threads
        try:
            loaded = tf.saved_model.load(str(self.path))
        except Exception as err:
            raise ModelLoadError(
                f"tf.saved_model.load cannot read {self.path.name}: {first_line(err)}",
                "re-save it with tf.saved_model.save",
            ) from err
        keys = list(loaded.signatures.keys())
        key = self.signature or (
            "serving_default" if "serving_default" in keys else (keys[0] if keys else "")
        )
        if key not in keys:
            raise ModelRunError(
                f"{self.path.name} has no signature {key!r}"
                if key
                else f"{self.path.name} has no signatures",
                f"pick one of: {', '.join(keys)}" if keys else "save the model with a serving signature",
            )
        self._loaded = loaded
        self.signature_key = key
        self.function = loaded.signatures[key]
        _, kwargs = self.function.structured_input_signature
        self.inputs = [
            ModelInput(
                name,
                spec.dtype.as_numpy_dtype.__name__ if spec.dtype != tf.string else "object",
                None if spec.shape.rank is None else tuple(spec.shape.as_list()),
            )
            for name, spec in kwargs.items()
        ]
        self.output_names = list(self.function.structured_outputs)
        self.provider = f"tensorflow {self._tf_device}"
        self.providers = [self.provider]

    def infer(self, feeds: Mapping[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
        import tensorflow as tf

        try:
            with tf.device(self._tf_device):
                result = self.function(**{k: tf.constant(v) for k, v in feeds.items()})
        except Exception as err:
            raise ModelRunError(f"tensorflow failed: {first_line(err)}", "check the input shapes") from err
        return [(name, result[name].numpy()) for name in self.output_names]
