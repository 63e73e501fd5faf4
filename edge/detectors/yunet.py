"""YuNet through OpenCV's FaceDetectorYN: the default detector (fast, 5 landmarks, good recall on masks)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge import model_files
from edge.detectors.common import clip_faces, fit_within, use_opencv_threads
from edge.errors import ModelLoadError
from edge.types import Face

if TYPE_CHECKING:
    from edge.config import DetectorConfig


class YuNetDetector:
    @classmethod
    def find_model_files(cls, explicit: str, dirs: list[Path]) -> tuple[Path, ...]:
        return (model_files.find_yunet(explicit, dirs),)

    @classmethod
    def from_config(cls, config: DetectorConfig, dirs: list[Path]) -> YuNetDetector:
        use_opencv_threads(config.num_threads)
        (path,) = cls.find_model_files(config.model, dirs)
        return cls(path, config)

    def __init__(self, model_path: Path, config: DetectorConfig) -> None:
        self.config = config
        self.input_label = str(config.input_size)
        try:
            self._net = cv2.FaceDetectorYN.create(
                str(model_path),
                "",
                (config.input_size, config.input_size),
                config.score_threshold,
                config.nms_threshold,
                5000,
            )
        except cv2.error as exc:
            raise ModelLoadError(f"cannot load YuNet model {model_path}: {exc.msg.strip() or exc}") from exc
        self._input_size: tuple[int, int] | None = None

    def detect(self, frame: np.ndarray) -> list[Face]:
        small, undo = fit_within(frame, self.config.input_size)
        size = (small.shape[1], small.shape[0])
        if size != self._input_size:
            self._net.setInputSize(size)
            self._input_size = size
        rows = self.run_model(small)
        if rows is None:
            return []
        faces = []
        for row in rows:
            x, y, w, h = (float(v) * undo for v in row[:4])
            points = row[4:14].reshape(5, 2) * undo
            faces.append(Face((x, y, x + w, y + h), float(row[14]), tuple((float(px), float(py)) for px, py in points)))
        return clip_faces(faces, frame.shape[1], frame.shape[0], self.config.min_face_size, self.config.max_faces)

    def run_model(self, image: np.ndarray) -> np.ndarray | None:
        """OpenCV's whole FaceDetectorYN call: blob, network, box decoding and NMS."""
        return self._net.detect(image)[1]
