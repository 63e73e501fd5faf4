"""Loading a TFLite interpreter from whichever runtime is installed.

Order: ai-edge-litert (the maintained runtime, a hard dependency), tflite-runtime (legacy wheels,
Python <= 3.11, numpy<2), and tensorflow.lite as a last resort on build machines. The last is
imported by name only when the first two are missing, so the runtime never needs TensorFlow.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

from edge.errors import ModelLoadError

log = logging.getLogger(__name__)

BACKENDS = {
    "ai-edge-litert": "ai_edge_litert.interpreter",
    "tflite-runtime": "tflite_runtime.interpreter",
    "tensorflow": "tensorflow.lite.python.interpreter",
}


def interpreter_class(backend: str = "auto") -> tuple[str, type]:
    """The Interpreter class of the named backend, or of the first one that imports."""
    names = list(BACKENDS) if backend == "auto" else [backend]
    errors = []
    for name in names:
        try:
            module = importlib.import_module(BACKENDS[name])
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
            continue
        return name, module.Interpreter
    raise ModelLoadError(
        "no TFLite runtime could be imported (" + "; ".join(errors) + "); install one with: pip install ai-edge-litert"
    )


def load_interpreter(path: Path, num_threads: int = 1, backend: str = "auto") -> Any:
    """An allocated interpreter for the model file; a missing, corrupt or truncated file names the file."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"model file not found: {path}")
    name, cls = interpreter_class(backend)
    try:
        interpreter = cls(model_path=str(path), num_threads=num_threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelLoadError(
            f"cannot load TFLite model {path} (corrupt, truncated or not a .tflite file?): {exc}"
        ) from exc
    log.debug("loaded %s with %s, %d thread(s)", path, name, num_threads)
    return interpreter
