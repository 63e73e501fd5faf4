"""`maskgate-convert evaluate-crops`: face crops in class folders through the runtime, as `maskgate run` on a folder.

Collections of face crops (with_mask/, without_mask/, ...) are how masks are often measured elsewhere. Each picture
goes through what an image folder gets at run time: the detector with the stills settings (second look, border
retry, the low-score look for a face that fills the picture), the crop, the classifier, its mask threshold and the
door policy. A picture's answer is that of its widest face (the face the crop was cut around); a picture in which no
face is found has none, and counts against its class.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from convert.data.dataset import class_folders
from convert.evaluation.door_eval import (
    UNDECIDED,
    DoorEvalError,
    ReplayDetector,
    all_model_runs,
    build_detector,
    detector_line,
    pct,
    policy_record,
    rate,
    read_picture,
    stills_detector_record,
    table,
    write_json,
)
from edge.sources import IMAGE_SUFFIXES
from edge.vision.types import Frame

if TYPE_CHECKING:
    import numpy as np

    from edge.config import Config
    from edge.vision.labels import LabelPolicy

log = logging.getLogger(__name__)

REPORT_NAME = "crop_evaluation"
NO_FACE = "no face"


@dataclass
class ClassAnswers:
    """What one model answered for the pictures of one class folder."""

    answers: Counter[str] = field(default_factory=Counter)
    """The widest face's door label, UNDECIDED, or NO_FACE; one per picture."""

    def scores(self, label: str, policy: LabelPolicy) -> dict[str, object]:
        pictures = sum(self.answers.values())
        let_in = sum(
            n for answer, n in self.answers.items() if answer not in (NO_FACE, UNDECIDED) and policy.lets_in(answer)
        )
        return {
            "pictures": pictures,
            "no_face": rate(self.answers[NO_FACE], pictures),
            "undecided": rate(self.answers[UNDECIDED], pictures),
            "let_in": rate(let_in, pictures),
            "right_label": rate(self.answers[label], pictures),
            "answers": dict(sorted(self.answers.items())),
        }


def picture_or_none(path: Path) -> np.ndarray | None:
    """The picture as `maskgate run` decodes an image file; None when it cannot be read."""
    from edge.pipeline import BadFrameError
    from edge.sources.files import UnreadableImageError

    try:
        return read_picture(path)
    except (UnreadableImageError, BadFrameError) as exc:
        log.warning("skipped %s: %s", path, exc)
        return None


def evaluate_crops(folder: Path, out_dir: Path, models: Sequence[Path], config: Config) -> dict:
    from edge.app import build_policy

    if not models:
        raise DoorEvalError("name at least one model with --model")
    classes = class_folders(folder, min_classes=1)
    policy = build_policy(config)
    detector, replay = build_detector(config, stills=True), ReplayDetector()
    runs = all_model_runs(config, models, replay)
    answers = {run.name: {label: ClassAnswers() for label in classes} for run in runs}
    skipped: Counter[str] = Counter()
    for label, files in classes.items():
        for path in files:
            image = picture_or_none(path) if path.suffix.lower() in IMAGE_SUFFIXES else None
            if image is None:
                skipped[label] += 1
                continue
            replay.faces = detector.detect(image)
            for run in runs:
                tracked = run.pipeline.process(Frame(path.name, 0.0, image))[0]
                widest = max(tracked, key=lambda t: t.face.width, default=None)
                answer = NO_FACE if widest is None else widest.decision or UNDECIDED
                answers[run.name][label].answers[answer] += 1
    report = {
        "folder": str(folder),
        "detector": stills_detector_record(config, detector),
        "skipped": dict(skipped),
        "policy": policy_record(policy),
        "models": {
            name: {label: counts.scores(label, policy) for label, counts in by_class.items()}
            for name, by_class in answers.items()
        },
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / f"{REPORT_NAME}.json", report)
    (out_dir / f"{REPORT_NAME}.md").write_text(crops_markdown(report), encoding="utf-8")
    for name, by_class in report["models"].items():
        for label, scores in by_class.items():
            log.info("%s, %s: let in %s, no face %s", name, label, pct(scores["let_in"]), pct(scores["no_face"]))
    log.info("wrote %s/%s.{md,json}", out_dir, REPORT_NAME)
    return report


def crops_markdown(report: dict) -> str:
    lines = [
        "# Face crops through the runtime",
        "",
        f"Folder: `{report['folder']}`. Each picture as `maskgate run` judges an image file; its answer is its "
        f"widest face's. Let in: {', '.join(report['policy']['ok'])}. Pictures that could not be read: "
        f"{sum(report['skipped'].values())}.",
        "",
        detector_line(report["detector"]),
        "",
    ]
    for name, by_class in report["models"].items():
        lines += [f"## {name}", ""]
        lines += table(
            ["class", "pictures", "no face found", "undecided", "let in", "right label"],
            [
                [label, s["pictures"], pct(s["no_face"]), pct(s["undecided"]), pct(s["let_in"]), pct(s["right_label"])]
                for label, s in by_class.items()
            ],
        )
        lines.append("")
    return "\n".join(lines)
