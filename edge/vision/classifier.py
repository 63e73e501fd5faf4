"""Mask classification with any TFLite image classifier (int8, uint8 or float input and output)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.modelfiles.tflite import ModelLoadError, load_interpreter
from edge.vision.labels import MASK, UNSURE
from edge.vision.model_card import ModelCard


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class MaskClassifier:
    """`classify(crops)` -> class probabilities, one row per BGR crop of card.crop.size pixels."""

    def __init__(
        self,
        model_path: Path,
        num_threads: int = 2,
        batch: bool = False,
        backend: str = "auto",
        card: ModelCard | None = None,
        mask_threshold: float | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.card = card or ModelCard.for_model(self.model_path)
        self.labels = self.card.labels
        self.mask_threshold = mask_threshold if mask_threshold is not None else self.card.mask_threshold
        self._interpreter = load_interpreter(self.model_path, num_threads, backend)
        self._batch = batch
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self._check_shapes()
        self._batch_size = 1

    def _check_shapes(self) -> None:
        shape = tuple(int(v) for v in self._input["shape"])
        size = self.card.crop.size
        if len(shape) != 4 or shape[1:] != (size, size, 3):
            raise ModelLoadError(
                f"{self.model_path}: input tensor {shape} does not fit crops of {size}x{size}x3 from its model card"
            )
        classes = int(self._output["shape"][-1])
        if classes != len(self.labels):
            raise ModelLoadError(
                f"{self.model_path}: output has {classes} classes but the model card names {len(self.labels)}: "
                f"{list(self.labels)}"
            )

    @property
    def input_size(self) -> int:
        return self.card.crop.size

    def _prepare(self, crops: np.ndarray) -> np.ndarray:
        pixels = crops[..., ::-1] if self.card.colour == "RGB" else crops
        dtype = self._input["dtype"]
        if dtype == np.float32:
            return self._normalise(pixels)
        scale, zero_point = self._input["quantization"]
        if self.card.normalisation == "folded" and scale == 1.0:
            # raw pixels with scale 1: uint8 passes through, int8 shifts by the zero point
            if zero_point == 0 and dtype == np.uint8:
                return pixels
            return (pixels.astype(np.int16) + zero_point).astype(dtype)
        info = np.iinfo(dtype)
        return np.clip(np.round(self._normalise(pixels) / scale + zero_point), info.min, info.max).astype(dtype)

    def _normalise(self, pixels: np.ndarray) -> np.ndarray:
        pixels = pixels.astype(np.float32)
        if self.card.normalisation == "mobilenet_v2":
            return pixels / 127.5 - 1.0
        if self.card.normalisation == "unit":
            return pixels / 255.0
        return pixels

    def _read_output(self) -> np.ndarray:
        raw = self._interpreter.get_tensor(self._output["index"])
        if self._output["dtype"] != np.float32:
            scale, zero_point = self._output["quantization"]
            raw = (raw.astype(np.float32) - zero_point) * scale
        raw = raw.reshape(raw.shape[0], -1)
        if self.card.output_kind == "logits":
            return softmax(raw / self.card.temperature)
        return raw

    def _invoke(self, batch: np.ndarray) -> np.ndarray:
        if batch.shape[0] != self._batch_size:
            self._interpreter.resize_tensor_input(self._input["index"], list(batch.shape))
            self._interpreter.allocate_tensors()
            self._batch_size = batch.shape[0]
        self._interpreter.set_tensor(self._input["index"], batch)
        self.run_model()
        return self._read_output()

    def raw_outputs(self, crops: list[np.ndarray]) -> np.ndarray:
        """The output tensor as the model gives it (uint8 or int8 for a quantized model), one row per crop:
        what the self-test compares with the answers recorded in the model card."""
        rows = []
        for crop in crops:
            self._invoke(np.ascontiguousarray(self._prepare(crop[None])))
            rows.append(self._interpreter.get_tensor(self._output["index"]).reshape(1, -1).copy())
        return np.concatenate(rows)

    def run_model(self) -> None:
        """The interpreter's invoke on the input tensor already set (what `maskgate bench` times)."""
        self._interpreter.invoke()

    def parts(self) -> list[tuple[str, MaskClassifier]]:
        """The models behind this classifier, named as the self-test reports them."""
        return [("classifier", self)]

    @property
    def fast_first(self) -> str | None:
        """`fast model >= min_score` of a fast-first pair (FastFirstClassifier); None: one model labels."""
        return None

    def label_of(self, probabilities: np.ndarray) -> tuple[str, float]:
        """The label of one row of probabilities and its score; a mask below the threshold is UNSURE, so the
        face stays undecided until surer frames come."""
        best = int(probabilities.argmax())
        label, score = self.labels[best], float(probabilities[best])
        if label == MASK and self.mask_threshold is not None and score < self.mask_threshold:
            return UNSURE, score
        return label, score

    def classify(self, crops: list[np.ndarray] | np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        stacked = np.ascontiguousarray(self._prepare(np.stack(list(crops))))
        if self._batch:
            probabilities = self._invoke(stacked)
        else:
            probabilities = np.concatenate([self._invoke(stacked[i : i + 1]) for i in range(len(stacked))])
        return probabilities.astype(np.float32)


class FastFirstClassifier:
    """A pair: the small `fast` model labels every face first; faces it is at least `min_score` sure of keep
    its answer, the rest are classified by `main`. Everything else (labels, crop, mask threshold, self-test
    answers) is the main model's; `min_score` lies above both cards' mask thresholds, so the fast model keeps
    no mask answer its own card would call unsure. `label_of` applies the main model's threshold (a higher
    classifier.mask_threshold too) to every answer."""

    def __init__(self, main: MaskClassifier, fast: MaskClassifier, min_score: float) -> None:
        if fast.labels != main.labels:
            raise ModelLoadError(
                f"fast model {fast.model_path} answers {list(fast.labels)}, but {main.model_path} "
                f"answers {list(main.labels)}: a pair must have the same labels"
            )
        floor = max(main.card.mask_threshold or 0.0, fast.card.mask_threshold or 0.0)
        if not floor <= min_score <= 1.0:
            raise ModelLoadError(
                f"fast model {fast.model_path}: min_score {min_score} must lie within {floor:g}..1 "
                "(at or above both model cards' mask thresholds)"
            )
        self.main, self.fast, self.min_score = main, fast, min_score
        self.card, self.labels, self.model_path = main.card, main.labels, main.model_path
        self.mask_threshold = main.mask_threshold
        self.fast_answers = 0
        """Faces whose label the fast model gave (the rest were classified by both)."""
        self.main_answers = 0

    @property
    def input_size(self) -> int:
        return self.main.input_size

    def parts(self) -> list[tuple[str, MaskClassifier]]:
        return [("classifier", self.main), ("fast classifier", self.fast)]

    @property
    def fast_first(self) -> str:
        return f"{self.fast.model_path.name} >= {self.min_score:g}"

    def raw_outputs(self, crops: list[np.ndarray]) -> np.ndarray:
        return self.main.raw_outputs(crops)

    def label_of(self, probabilities: np.ndarray) -> tuple[str, float]:
        return self.main.label_of(probabilities)

    def classify(self, crops: list[np.ndarray] | np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return self.main.classify(crops)
        import cv2

        side = self.fast.input_size
        small = [cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA) for crop in crops]
        probabilities = self.fast.classify(small)
        unsure = np.flatnonzero(probabilities.max(axis=1) < self.min_score)
        if unsure.size:
            probabilities[unsure] = self.main.classify([crops[i] for i in unsure])
        self.main_answers += int(unsure.size)
        self.fast_answers += len(crops) - int(unsure.size)
        return probabilities
