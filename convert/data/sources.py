"""Where training photos come from and under which terms: model cards list every source a model used."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceTerms:
    repo: str
    what: str
    licence: str
    commercial_use: str


SOURCES = {
    "chandrikadeb7": SourceTerms(
        "chandrikadeb7/Face-Mask-Detection",
        "real photos, mostly loose face crops",
        "repository MIT; images collected from the web (RMFD, search engines)",
        "unclear: the images' own rights were never cleared",
    ),
    "prajnasb": SourceTerms(
        "prajnasb/observations",
        "real faces with a synthetic surgical mask pasted on",
        "no licence file",
        "unclear: no licence granted",
    ),
    "jolignier": SourceTerms(
        "jolignier/face-mask-dataset-ilc-2021",
        "real web photos, hand-annotated faces in three classes",
        "no licence file",
        "unclear: no licence granted",
    ),
    "elaysason": SourceTerms(
        "elaysason/Mask-Wearing-Deciding-With-Deep-Learning",
        "real face crops in the wild (profiles, glasses, blur)",
        "no licence file",
        "unclear: no licence granted",
    ),
    "xerow03": SourceTerms(
        "xerow03/UTKFace (copy of UTKFace)",
        "aligned bare faces of children, adults and elderly people",
        "UTKFace: non-commercial research only",
        "no",
    ),
    "baskoroadiw": SourceTerms(
        "baskoroadiw/MaskedFaceSegmentation-Dataset (MaskedFace-Net samples on FFHQ faces)",
        "synthetic masks, correctly and incorrectly worn, on real faces",
        "MaskedFace-Net CC BY-NC-SA 4.0; FFHQ CC BY-NC-SA 4.0",
        "no (NonCommercial; ShareAlike may extend to the model)",
    ),
    "vyivanov": SourceTerms(
        "vyivanov/ds-masters_hack-1",
        "real photos of masked children, men and women, many mask types",
        "no licence file",
        "unclear: no licence granted",
    ),
}


def terms_of(source: str) -> SourceTerms:
    return SOURCES.get(source, SourceTerms(source, "user data", "as its owner grants", "ask its owner"))


def sources_record(kept_by_source: dict[str, dict[str, int]]) -> list[dict]:
    """One entry per source a model trained on: repository, crops per class, licence, commercial use."""
    record = []
    for source, counts in sorted(kept_by_source.items()):
        terms = terms_of(source)
        record.append(
            {
                "source": source,
                "repository": terms.repo,
                "what": terms.what,
                "crops": counts,
                "licence": terms.licence,
                "commercial_use": terms.commercial_use,
            }
        )
    return record
