"""Regenerate the sample SavedModel: ``python sample_models/make_savedmodel.py`` (needs TensorFlow:
``pip install "modellens[tensorflow]"``).

* ``savedmodel_cnn/``     a small Keras 3 CNN (Conv2D, BatchNormalization, ReLU6, a depthwise
                          separable block, global pooling, Dense) written by ``model.export()``:
                          signatures ``serve`` and ``serving_default``, input ``x`` 1×32×32×3 float32.
* ``savedmodel_cnn.zip``  the same folder zipped (the folder at the top), for the app's uploader.

Weights are seeded random values; nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import sys
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NAME = "savedmodel_cnn"
SEED = 0


def build_cnn() -> Any:
    """The sample network (Keras 3, functional API), seeded."""
    import keras

    keras.utils.set_random_seed(SEED)
    layers = keras.layers
    x = keras.Input((32, 32, 3), name="x")
    y = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    y = layers.BatchNormalization(name="stem_bn")(y)
    y = layers.ReLU(6.0, name="stem_relu")(y)
    y = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="block_1_depthwise")(y)
    y = layers.BatchNormalization(name="block_1_depthwise_bn")(y)
    y = layers.ReLU(6.0, name="block_1_depthwise_relu")(y)
    y = layers.Conv2D(32, 1, use_bias=False, name="block_1_project")(y)
    y = layers.BatchNormalization(name="block_1_project_bn")(y)
    y = layers.GlobalAveragePooling2D(name="pool")(y)
    y = layers.Dense(10, activation="softmax", name="logits")(y)
    return keras.Model(x, y, name="savedmodel_cnn")


def write_zip(folder: Path, zip_path: Path) -> None:
    """Zip ``folder`` with the folder itself at the top (as a person zipping it would)."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            archive.write(path, path.relative_to(folder.parent).as_posix())


def main(out_dir: Path = HERE) -> Path:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    target = out_dir / NAME
    shutil.rmtree(target, ignore_errors=True)
    model = build_cnn()
    model.export(str(target), verbose=False)
    write_zip(target, out_dir / f"{NAME}.zip")
    return target


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE))
