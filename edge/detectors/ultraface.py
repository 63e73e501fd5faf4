"""Ultra-Light-Fast UltraFace RFB-320 as TFLite, run by the same interpreter as the classifier.

The shared model has no post-processing inside, so the prior boxes, box decoding and NMS of the
upstream project are done here.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge.detectors.common import clip_faces, nms
from edge.modelfiles import find as model_files
from edge.modelfiles.tflite import interpreter_class, load_interpreter
from edge.vision.types import Face

if TYPE_CHECKING:
    from edge.config import DetectorConfig

MIN_BOXES = ((10, 16, 24), (32, 48), (64, 96), (128, 192, 256))
STRIDES = (8, 16, 32, 64)
CENTER_VARIANCE, SIZE_VARIANCE = 0.1, 0.2


def prior_boxes(width: int, height: int) -> np.ndarray:
    """Prior boxes (cx, cy, w, h), relative to the input, in the order the network emits them."""
    priors = []
    for stride, sizes in zip(STRIDES, MIN_BOXES, strict=True):
        cols, rows = int(np.ceil(width / stride)), int(np.ceil(height / stride))
        for row, col in itertools.product(range(rows), range(cols)):
            cx, cy = (col + 0.5) * stride / width, (row + 0.5) * stride / height
            priors.extend((cx, cy, size / width, size / height) for size in sizes)
    return np.clip(np.array(priors, dtype=np.float32), 0.0, 1.0)


class UltraFaceDetector:
    @classmethod
    def find_model_files(cls, explicit: str, dirs: list[Path]) -> tuple[Path, ...]:
        return (model_files.find_ultraface(explicit, dirs),)

    @classmethod
    def from_config(cls, config: DetectorConfig, dirs: list[Path]) -> UltraFaceDetector:
        (path,) = cls.find_model_files(config.model, dirs)
        return cls(path, config, num_threads=config.num_threads or 1)

    def __init__(self, model_path: Path, config: DetectorConfig, num_threads: int = 1) -> None:
        self.config = config
        self._interpreter = load_interpreter(model_path, num_threads)
        detail = self._interpreter.get_input_details()[0]
        self._input_index = detail["index"]
        _, self._height, self._width, _ = (int(v) for v in detail["shape"])
        self.input_label = f"{self._width}x{self._height}"
        self.engine = interpreter_class()[0]
        outputs = {d["name"]: d["index"] for d in self._interpreter.get_output_details()}
        self._boxes_index, self._scores_index = outputs["Identity"], outputs["Identity_1"]
        self._priors = prior_boxes(self._width, self._height)

    def detect(self, frame: np.ndarray) -> list[Face]:
        height, width = frame.shape[:2]
        rgb = cv2.cvtColor(cv2.resize(frame, (self._width, self._height)), cv2.COLOR_BGR2RGB)
        self._interpreter.set_tensor(self._input_index, ((rgb.astype(np.float32) - 127.0) / 128.0)[None])
        self.run_model()
        raw = self._interpreter.get_tensor(self._boxes_index)[0]
        scores = self._interpreter.get_tensor(self._scores_index)[0][:, 1]
        centers = raw[:, :2] * CENTER_VARIANCE * self._priors[:, 2:] + self._priors[:, :2]
        sizes = np.exp(raw[:, 2:] * SIZE_VARIANCE) * self._priors[:, 2:]
        boxes = np.hstack([centers - sizes / 2, centers + sizes / 2]) * np.array([width, height, width, height])
        candidates = np.flatnonzero(scores >= self.config.score_threshold)
        keep = nms(boxes[candidates], scores[candidates], self.config.score_threshold, self.config.nms_threshold)
        faces = [Face(tuple(float(v) for v in boxes[candidates[i]]), float(scores[candidates[i]])) for i in keep]
        return clip_faces(faces, width, height, self.config.min_face_size, self.config.max_faces)

    def run_model(self) -> None:
        """The interpreter's invoke on the input tensor already set."""
        self._interpreter.invoke()
