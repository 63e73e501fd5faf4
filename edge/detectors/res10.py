"""OpenCV's res10 SSD (Caffe), the detector of the classic Keras mask detectors; needs OpenCV 4.x."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge.detectors.common import clip_faces, use_opencv_threads
from edge.errors import BackendUnavailableError, ModelLoadError
from edge.modelfiles import find as model_files
from edge.vision.types import Face

if TYPE_CHECKING:
    from edge.config import DetectorConfig

RES10_MEAN = (104.0, 177.0, 123.0)


class Res10Detector:
    @classmethod
    def find_model_files(cls, explicit: str, dirs: list[Path]) -> tuple[Path, ...]:
        return model_files.find_res10(explicit, dirs)

    @classmethod
    def from_config(cls, config: DetectorConfig, dirs: list[Path]) -> Res10Detector:
        use_opencv_threads(config.num_threads)
        prototxt, weights = cls.find_model_files(config.model, dirs)
        return cls(prototxt, weights, config)

    def __init__(self, prototxt: Path, weights: Path, config: DetectorConfig) -> None:
        if not hasattr(cv2.dnn, "readNetFromCaffe"):
            raise BackendUnavailableError(
                f"OpenCV {cv2.__version__} cannot read Caffe models (dropped in 5.0); "
                'install opencv-python-headless<5 or use detector.type = "yunet"'
            )
        try:
            self._net = cv2.dnn.readNetFromCaffe(str(prototxt), str(weights))
        except cv2.error as exc:
            raise ModelLoadError(f"cannot load res10 model {weights}: {exc.msg.strip() or exc}") from exc
        self.config = config
        self.input_label = f"{config.input_size}x{config.input_size}"
        self.engine = "opencv"

    def detect(self, frame: np.ndarray) -> list[Face]:
        height, width = frame.shape[:2]
        size = self.config.input_size
        blob = cv2.dnn.blobFromImage(frame, 1.0, (size, size), RES10_MEAN)
        self._net.setInput(blob)
        rows = self.run_model().reshape(-1, 7)
        rows = rows[rows[:, 2] >= self.config.score_threshold]
        faces = [
            Face((float(r[3] * width), float(r[4] * height), float(r[5] * width), float(r[6] * height)), float(r[2]))
            for r in rows
        ]
        return clip_faces(faces, width, height, self.config.min_face_size, self.config.max_faces)

    def run_model(self) -> np.ndarray:
        """The network's forward pass on the blob set as its input."""
        return self._net.forward()
