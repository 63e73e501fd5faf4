"""Face detectors behind one small interface; one module per backend, chosen by `detector.type`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from edge.config import DetectorConfig
    from edge.types import Face


class FaceDetector(Protocol):
    def detect(self, frame: np.ndarray) -> list[Face]: ...


DETECTOR_TYPES = ("yunet", "res10", "ultraface")


def create_detector(config: DetectorConfig, model_dirs: list) -> FaceDetector:
    """Build the configured detector; model files are looked up with edge.model_files."""
    from edge import model_files

    if config.num_threads and config.type in ("yunet", "res10"):
        import cv2

        cv2.setNumThreads(config.num_threads)  # OpenCV has one pool per process: its other calls use it too
    if config.type == "yunet":
        from edge.detectors.yunet import YuNetDetector

        return YuNetDetector(model_files.find_yunet(config.model, model_dirs), config)
    if config.type == "res10":
        from edge.detectors.res10 import Res10Detector

        prototxt, weights = model_files.find_res10(config.model, model_dirs)
        return Res10Detector(prototxt, weights, config)
    if config.type == "ultraface":
        from edge.detectors.ultraface import UltraFaceDetector

        path = model_files.find_ultraface(config.model, model_dirs)
        return UltraFaceDetector(path, config, num_threads=config.num_threads or 1)
    raise ValueError(f"detector.type: unknown detector {config.type!r}; allowed: {', '.join(DETECTOR_TYPES)}")
