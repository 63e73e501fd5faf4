"""The model card: the JSON file beside a .tflite that says how to feed it and what it answers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edge.errors import SetupError
from edge.vision.crop import CropRule

NORMALISATIONS = ("folded", "mobilenet_v2", "unit")
"""folded: the model takes raw 0..255 pixels; mobilenet_v2: x / 127.5 - 1; unit: x / 255."""
OUTPUT_KINDS = ("probabilities", "logits")
"""logits: the runtime applies softmax(logits / temperature), so scores are calibrated and never saturate."""


class ModelCardError(SetupError, ValueError):
    pass


@dataclass(frozen=True)
class FastModel:
    """A smaller model the card's model is paired with (decision.fast_model): it labels each face first and
    keeps the answers it is at least `min_score` sure of; chosen on validation crops by maskgate-convert."""

    file: str
    """File name, beside the card's model."""
    sha256: str
    min_score: float

    def beside(self, model_path: Path) -> Path:
        """The fast model's file, which lies beside the model whose card names it."""
        return model_path.parent / self.file


@dataclass(frozen=True)
class ModelCard:
    labels: tuple[str, ...]
    crop: CropRule
    normalisation: str = "folded"
    colour: str = "RGB"
    raw: dict | None = None
    mask_threshold: float | None = None
    """Lowest probability at which a face counts as masked (chosen on validation data); None = plain argmax."""
    output_kind: str = "probabilities"
    temperature: float = 1.0
    fast_model: FastModel | None = None

    def verify_model(self, model_path: Path) -> str:
        """The model's sha256, after checking it is the one the card names (`model_sha256`): a model swapped
        or damaged under its card, or a card copied beside another model, is refused."""
        from edge.modelfiles.fetch import sha256_of

        card_path = model_path.with_suffix(".json")
        expected = (self.raw or {}).get("model_sha256")
        if not expected:
            raise ModelCardError(
                f"model card {card_path} has no model_sha256: add the model's sha256 (sha256sum {model_path.name})"
            )
        actual = sha256_of(model_path)
        if actual != expected:
            raise ModelCardError(
                f"{model_path} has sha256 {actual}, but its model card {card_path} names {expected}: "
                "the model or its card was replaced or damaged"
            )
        return actual

    @classmethod
    def for_model(cls, model_path: Path) -> ModelCard:
        return cls.load(model_path.with_suffix(".json"))

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelCardError(
                f"model card {path} not found: every classifier needs its card JSON beside it"
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelCardError(f"model card {path} is not valid JSON: {exc}") from None
        try:
            labels = tuple(str(label) for label in data["labels"])
            crop = data.get("crop", {})
            rule = CropRule(size=int(data["input"]["size"]), margin=float(crop.get("margin", CropRule.margin)))
            normalisation = data["input"].get("normalisation", "folded")
            colour = data["input"].get("colour", "RGB")
            decision = data.get("decision", {})
            threshold = decision.get("mask_threshold")
            mask_threshold = None if threshold is None else float(threshold)
            output_kind = data.get("output", {}).get("kind", "probabilities")
            temperature = float(decision.get("temperature", 1.0))
            fast = decision.get("fast_model")
            fast_model = (
                None if fast is None else FastModel(str(fast["file"]), str(fast["sha256"]), float(fast["min_score"]))
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelCardError(f"model card {path} lacks or garbles {exc}; needs labels and input.size") from None
        if len(labels) < 2:
            raise ModelCardError(f"model card {path}: labels must name at least two classes, got {list(labels)}")
        if normalisation not in NORMALISATIONS:
            raise ModelCardError(f"model card {path}: input.normalisation {normalisation!r} not in {NORMALISATIONS}")
        if colour not in ("RGB", "BGR"):
            raise ModelCardError(f"model card {path}: input.colour must be RGB or BGR, got {colour!r}")
        if mask_threshold is not None and not 0.0 <= mask_threshold <= 1.0:
            raise ModelCardError(f"model card {path}: decision.mask_threshold must be within 0..1, got {threshold!r}")
        if output_kind not in OUTPUT_KINDS:
            raise ModelCardError(f"model card {path}: output.kind {output_kind!r} not in {OUTPUT_KINDS}")
        if not 0.01 <= temperature <= 100:
            raise ModelCardError(f"model card {path}: decision.temperature must be within 0.01..100, got {temperature}")
        if fast_model is not None and not 0.5 < fast_model.min_score <= 1.0:
            raise ModelCardError(
                f"model card {path}: decision.fast_model.min_score must be within 0.5..1, got {fast_model.min_score}"
            )
        return cls(labels, rule, normalisation, colour, data, mask_threshold, output_kind, temperature, fast_model)
