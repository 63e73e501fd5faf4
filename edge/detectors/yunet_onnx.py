"""YuNet's network run by onnxruntime, its outputs decoded the way OpenCV's FaceDetectorYN decodes them.

On this project's 2-core x86 machine onnxruntime runs the network in less than half of OpenCV's DNN time on the
same cores, for the same faces (tests compare the two on real photos). What OpenCV does around the network is
small enough to do here: pad the image to a multiple of 32 with black, feed BGR pixels as float, decode the three
strides' anchor-free outputs, and merge with OpenCV's own non-maximum suppression on whole-pixel boxes.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from edge.errors import ModelLoadError, third_party_imports

log = logging.getLogger(__name__)

STRIDES = (8, 16, 32)
INPUT_MULTIPLE = 32
TOP_K = 5000


class FixedInputSizeError(ModelLoadError):
    """The file's input height and width are fixed numbers (the official 2023mar release: 640x640), which
    onnxruntime enforces; OpenCV's DNN resizes such a network for any input, onnxruntime cannot."""


class OnnxYuNet:
    """One YuNet network with its thresholds; detect() answers as FaceDetectorYN.detect()[1] does."""

    def __init__(
        self,
        model_path: Path,
        score_threshold: float,
        nms_threshold: float,
        num_threads: int = 0,
        share: OnnxYuNet | None = None,
    ) -> None:
        """`share`: another pass over the same file, whose session (and memory) this one uses."""
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self._blobs: dict[tuple[int, int], np.ndarray] = {}
        self._grids: dict[tuple[int, int], np.ndarray] = {}
        if share is not None:
            self.session, self.input_name, self.output_names = share.session, share.input_name, share.output_names
            return
        with third_party_imports('detector.engine = "onnxruntime"'):
            import onnxruntime
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = num_threads
        # Idle worker threads would otherwise spin between calls: CPU (heat on a Pi) for no frame.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types, not importable by one stable name
            raise ModelLoadError(f"cannot load YuNet model {model_path} with onnxruntime: {exc}") from exc
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        if any(isinstance(side, int) for side in model_input.shape[2:]):
            raise FixedInputSizeError(
                f"{model_path} takes only {model_input.shape[3]}x{model_input.shape[2]} images in onnxruntime "
                "(its input size is fixed)"
            )
        self.output_names = [output.name for output in self.session.get_outputs()]
        expected = {f"{kind}_{stride}" for kind in ("cls", "obj", "bbox", "kps") for stride in STRIDES}
        if set(self.output_names) != expected:
            raise ModelLoadError(
                f"{model_path} is not a YuNet model this decoder knows: outputs {sorted(self.output_names)}, "
                f"expected {sorted(expected)}"
            )

    def detect(self, image: np.ndarray) -> np.ndarray | None:
        """Rows of x, y, w, h, five landmarks (x, y), score, in the image's pixels; None when no face."""
        blob = self._blob(image)
        answers = self.session.run(self.output_names, {self.input_name: blob})
        outputs = dict(zip(self.output_names, answers, strict=True))
        padded_height, padded_width = blob.shape[2:]
        found = []
        for stride in STRIDES:
            face_score = np.clip(outputs[f"cls_{stride}"][0, :, 0], 0.0, 1.0)
            object_score = np.clip(outputs[f"obj_{stride}"][0, :, 0], 0.0, 1.0)
            scores = np.sqrt(face_score * object_score)
            kept = np.flatnonzero(scores >= self.score_threshold)
            if kept.size == 0:
                continue
            cells = self._grid(padded_height // stride, padded_width // stride)[kept]
            boxes = outputs[f"bbox_{stride}"][0, kept]
            centres = (cells + boxes[:, :2]) * stride
            sizes = np.exp(boxes[:, 2:4]) * stride
            landmarks = (outputs[f"kps_{stride}"][0, kept].reshape(-1, 5, 2) + cells[:, None, :]) * stride
            found.append(np.column_stack([centres - sizes / 2, sizes, landmarks.reshape(-1, 10), scores[kept]]))
        if not found:
            return None
        faces = np.concatenate(found).astype(np.float32)
        # FaceDetectorYN suppresses on boxes truncated to whole pixels; so does this, to keep the same faces.
        boxes_xywh, face_scores = np.trunc(faces[:, :4]).tolist(), faces[:, 14].tolist()
        kept = np.asarray(
            cv2.dnn.NMSBoxes(boxes_xywh, face_scores, self.score_threshold, self.nms_threshold, top_k=TOP_K)
        ).reshape(-1)
        return faces[kept] if kept.size else None

    def _blob(self, image: np.ndarray) -> np.ndarray:
        """The image as a 1x3xHxW float blob padded to multiples of 32 with black. The buffer is kept for the next
        image of the same size: only the image's own pixels are written, so its padding stays black."""
        height, width = image.shape[:2]
        blob = self._blobs.get((height, width))
        if blob is None:
            padded = (-(-height // INPUT_MULTIPLE) * INPUT_MULTIPLE, -(-width // INPUT_MULTIPLE) * INPUT_MULTIPLE)
            blob = np.zeros((1, 3, *padded), np.float32)
            self._blobs = {(height, width): blob}
        blob[0, :, :height, :width] = image.transpose(2, 0, 1)
        return blob

    def _grid(self, rows: int, cols: int) -> np.ndarray:
        """Each anchor's cell as (column, row), in the order of the network's outputs."""
        grid = self._grids.get((rows, cols))
        if grid is None:
            row_index, col_index = np.mgrid[0:rows, 0:cols]
            grid = np.column_stack([col_index.ravel(), row_index.ravel()]).astype(np.float32)
            if len(self._grids) >= 2 * len(STRIDES):
                self._grids.clear()
            self._grids[(rows, cols)] = grid
        return grid
