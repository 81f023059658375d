"""Running models: input specs, input data, runners in an isolated worker, results.

The engine (``runtime.engine``) is what the CLI, the Python API and the app call:
``run_model``, ``bench_model``, ``model_shapes``, with a ``WorkerPool`` the caller may hold.
Nothing here imports torch, tensorflow or onnxruntime at import time.
"""
