"""Face detectors behind one small interface; one module per backend, named in edge.registry.DETECTORS.

May import edge.vision (the plain types), edge.modelfiles, edge.config, edge.registry and edge.errors; never a
source, an output or anything that builds the loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from edge import registry

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np

    from edge.config import DetectorConfig
    from edge.vision.types import Face


class FaceDetector(Protocol):
    input_label: str
    """The input the network sees, for reports: "320" (longest side), "300x300"."""
    engine: str
    """What runs the network, for reports: "onnxruntime", "opencv", or the TFLite runtime's package."""

    @classmethod
    def find_model_files(cls, explicit: str, dirs: list[Path]) -> tuple[Path, ...]:
        """Its model files, the weights last; `explicit` is detector.model. Raises ModelNotFoundError."""
        ...

    @classmethod
    def from_config(cls, config: DetectorConfig, dirs: list[Path]) -> FaceDetector: ...

    def detect(self, frame: np.ndarray) -> list[Face]: ...

    def run_model(self, *args: Any) -> Any:
        """The network's own call and nothing else (what `maskgate bench` times); detect() calls it."""
        ...


def detector_class(name: str) -> type[FaceDetector]:
    return registry.load(registry.DETECTORS, name, "detector.type")


def create_detector(config: DetectorConfig, model_dirs: list[Path]) -> FaceDetector:
    """Build the configured detector; its model files are looked up in model_dirs."""
    return detector_class(config.type).from_config(config, model_dirs)
