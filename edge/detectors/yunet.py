"""YuNet: the default detector (fast, 5 landmarks, good recall on masks), its network run by onnxruntime
(edge.detectors.yunet_onnx) or by OpenCV's FaceDetectorYN (detector.engine).

With detector.second_look_size the same frame is also looked at with a longer side (up to the frame's own
size) and the faces of both passes are merged by non-maximum suppression. Downscaled to input_size, faces
of 32-47 px in a 960 px photo are 14-20 px, where YuNet misses many masked ones; the second pass sees
them at full size. Its faces need detector.second_look_score (a pass over more pixels has more chances to
find faces in texture).

With detector.retry_border (on for image files and folders) a picture in which neither pass finds a face is
looked at again inside a black border, enlarged to input_size if smaller: a tight face crop, which shows
YuNet no head outline, is found that way. If that finds nothing either, a face below score_threshold (down
to detector.retry_score) is taken when it fills the picture, as a face in a face crop does: a masked face cut
at its edges often scores 0.3-0.5.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from edge.detectors.common import clip_faces, fit_within, look_framed, nms, use_opencv_threads
from edge.detectors.yunet_onnx import FixedInputSizeError, OnnxYuNet
from edge.errors import ModelLoadError
from edge.modelfiles import find as model_files
from edge.vision.types import Face

if TYPE_CHECKING:
    from edge.config import DetectorConfig

log = logging.getLogger(__name__)

FACE_CROP_FILL = 0.4
"""A face at least this share of the picture's shorter side wide makes the picture a face crop, where the
retry takes a face below score_threshold."""


class _Pass(Protocol):
    def detect(self, image: np.ndarray) -> np.ndarray | None:
        """Rows of x, y, w, h, five landmarks (x, y), score; None when no face (FaceDetectorYN's answer)."""
        ...


class OpenCvYuNet:
    """One FaceDetectorYN instance; it keeps the input size it was last given (resizing it costs)."""

    def __init__(self, model_path: Path, score_threshold: float, nms_threshold: float) -> None:
        try:
            self.net = cv2.FaceDetectorYN.create(str(model_path), "", (320, 320), score_threshold, nms_threshold, 5000)
        except cv2.error as exc:
            raise ModelLoadError(f"cannot load YuNet model {model_path}: {exc.msg.strip() or exc}") from exc
        self.input_size: tuple[int, int] | None = None

    def detect(self, image: np.ndarray) -> np.ndarray | None:
        size = (image.shape[1], image.shape[0])
        if size != self.input_size:
            self.net.setInputSize(size)
            self.input_size = size
        return self.net.detect(image)[1]


def yunet_pass(model_path: Path, config: DetectorConfig, score_threshold: float, share: _Pass | None = None) -> _Pass:
    """`share`: the first pass, whose onnxruntime session a second pass uses (one copy of the network and its
    working memory instead of two)."""
    if isinstance(share, OnnxYuNet):
        return OnnxYuNet(model_path, score_threshold, config.nms_threshold, share=share)
    if config.engine == "onnxruntime":
        try:
            return OnnxYuNet(model_path, score_threshold, config.nms_threshold, config.num_threads)
        except FixedInputSizeError as exc:
            log.warning('%s; running it with OpenCV instead (detector.engine = "opencv")', exc)
    return OpenCvYuNet(model_path, score_threshold, config.nms_threshold)


class YuNetDetector:
    @classmethod
    def find_model_files(cls, explicit: str, dirs: list[Path]) -> tuple[Path, ...]:
        return (model_files.find_yunet(explicit, dirs),)

    @classmethod
    def from_config(cls, config: DetectorConfig, dirs: list[Path]) -> YuNetDetector:
        use_opencv_threads(config.num_threads)
        (path,) = cls.find_model_files(config.model, dirs)
        model_files.check_yunet(path)
        return cls(path, config)

    def __init__(self, model_path: Path, config: DetectorConfig) -> None:
        self.config = config
        self.input_label = str(config.input_size)
        if config.second_look_size > config.input_size:
            self.input_label += f" + {config.second_look_size}"
        self._first = yunet_pass(model_path, config, config.score_threshold)
        self._second: _Pass | None = None
        if config.second_look_size > config.input_size:
            self._second = yunet_pass(model_path, config, config.second_look_score, share=self._first)
        self._crop_look: _Pass | None = None
        if config.retry_border > 0 and config.retry_score < config.score_threshold:
            self._crop_look = yunet_pass(model_path, config, config.retry_score, share=self._first)
        self.engine = "onnxruntime" if isinstance(self._first, OnnxYuNet) else "opencv"
        """What runs the network: detector.engine, or opencv for a file onnxruntime cannot resize."""

    def detect(self, frame: np.ndarray) -> list[Face]:
        faces = self._both_looks(frame)
        if not faces and self.config.retry_border > 0:
            faces = look_framed(self._both_looks, frame, self.config.retry_border, self.config.input_size)
            if not faces and self._crop_look is not None:
                faces = self._face_filling(frame, self._crop_look)
        return clip_faces(faces, frame.shape[1], frame.shape[0], self.config.min_face_size, self.config.max_faces)

    def _both_looks(self, frame: np.ndarray) -> list[Face]:
        faces = self._look(self._first, frame, self.config.input_size)
        second_size = min(self.config.second_look_size, max(frame.shape[:2]))
        if self._second is not None and second_size > self.config.input_size:
            faces = merge(faces + self._look(self._second, frame, second_size), self.config.nms_threshold)
        return faces

    def _face_filling(self, frame: np.ndarray, crop_look: _Pass) -> list[Face]:
        """The best face of a low-score look inside the border that is wide enough to make the picture a face
        crop; none if no face is."""
        faces = look_framed(
            lambda image: self._look(crop_look, image, self.config.input_size),
            frame,
            self.config.retry_border,
            self.config.input_size,
        )
        min_width = FACE_CROP_FILL * min(frame.shape[:2])
        wide = [face for face in faces if face.width >= min_width]
        return [max(wide, key=lambda face: face.score)] if wide else []

    def _look(self, net: _Pass, frame: np.ndarray, max_side: int) -> list[Face]:
        small, undo = fit_within(frame, max_side, self.config.downscale)
        rows = self.run_model(small, net)
        if rows is None:
            return []
        faces = []
        for row in rows:
            x, y, w, h = (float(v) * undo for v in row[:4])
            points = row[4:14].reshape(5, 2) * undo
            faces.append(Face((x, y, x + w, y + h), float(row[14]), tuple((float(px), float(py)) for px, py in points)))
        return faces

    def run_model(self, image: np.ndarray, net: _Pass | None = None) -> np.ndarray | None:
        """The whole network call: blob, network, box decoding and NMS (once per pass; the first pass's net
        unless told)."""
        return (net or self._first).detect(image)


def merge(faces: list[Face], nms_threshold: float) -> list[Face]:
    """The faces of two passes with overlapping boxes merged: the higher score's box and landmarks stay."""
    if len(faces) < 2:
        return faces
    boxes = np.array([f.box for f in faces], dtype=np.float32)
    scores = np.array([f.score for f in faces], dtype=np.float32)
    return [faces[i] for i in nms(boxes, scores, 0.0, nms_threshold)]
