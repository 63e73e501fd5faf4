"""Loading a TFLite interpreter from whichever runtime is installed (edge.registry.TFLITE_RUNTIMES).

Order: ai-edge-litert (the maintained runtime, a hard dependency), tflite-runtime (legacy wheels,
Python <= 3.11, numpy<2), and tensorflow.lite as a last resort on build machines. The last is
imported by name only when the first two are missing, so the runtime never needs TensorFlow.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edge.errors import ModelLoadError
from edge.registry import TFLITE_RUNTIMES, resolve

log = logging.getLogger(__name__)


def interpreter_class(backend: str = "auto") -> tuple[str, type]:
    """The Interpreter class of the named runtime (edge.registry.TFLITE_RUNTIMES), or of the first that imports."""
    names = list(TFLITE_RUNTIMES) if backend == "auto" else [backend]
    errors = []
    for name in names:
        try:
            return name, resolve(TFLITE_RUNTIMES[name])
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
    raise ModelLoadError(
        "no TFLite runtime could be imported (" + "; ".join(errors) + "); install one with: pip install ai-edge-litert"
    )


XNNPACK_NOTICE = "Created TensorFlow Lite XNNPACK delegate for CPU."
"""Printed by the runtime's C++ logger, which neither TF_CPP_MIN_LOG_LEVEL nor any Python call turns off."""


@contextmanager
def native_stderr_without(notice: str) -> Iterator[None]:
    """Hold back what native code writes to file descriptor 2 inside, then write it out again without the lines
    containing `notice`; anything else the runtime says (a warning, an error) still reaches stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [line for line in held.read().splitlines(keepends=True) if notice.encode() not in line]
            if kept:
                os.write(2, b"".join(kept))


def load_interpreter(path: Path, num_threads: int = 1, backend: str = "auto") -> Any:
    """An allocated interpreter for the model file; a missing, corrupt or truncated file names the file."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"model file not found: {path}")
    name, cls = interpreter_class(backend)
    try:
        with native_stderr_without(XNNPACK_NOTICE):
            interpreter = cls(model_path=str(path), num_threads=num_threads)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelLoadError(
            f"cannot load TFLite model {path} (corrupt, truncated or not a .tflite file?): {exc}"
        ) from exc
    log.debug("loaded %s with %s, %d thread(s)", path, name, num_threads)
    return interpreter
