"""`python benchmarks/run_edge.py ARGS...` = `maskgate ARGS...`, with the TensorFlow backend importable.

edge.tflite names the module `tensorflow.lite` for the "tensorflow" backend, but in TensorFlow 2.21
that module does not export Interpreter (only the lazily built `tf.lite` API does). Until edge/tflite.py
points at `tensorflow.lite.python.interpreter`, the grid runs the tf.lite cells through this wrapper.
"""

from __future__ import annotations

import importlib
import sys

from edge import tflite
from edge.cli import main


def patch_tensorflow_backend() -> None:
    try:
        module = importlib.import_module(tflite.BACKENDS["tensorflow"])
    except ImportError:
        return
    if not hasattr(module, "Interpreter"):
        tflite.BACKENDS["tensorflow"] = "tensorflow.lite.python.interpreter"


if __name__ == "__main__":
    patch_tensorflow_backend()
    sys.exit(main())
