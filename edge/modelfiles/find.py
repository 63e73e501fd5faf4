"""Where model files are looked for, and finding each one.

Search order: an explicit path from the config, then $MASKGATE_MODEL_DIR, the user's data dir,
/var/lib/maskgate/models; the default classifier also ships inside this package. Files may sit
directly in a model directory or one level down (yunet/, res10/, ultraface/), as in ../shared/models.
A YuNet detector also ships inside the package (edge/models/YUNET.md), verified by its pinned sha256.
"""

from __future__ import annotations

import logging
import os
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from edge.errors import ModelNotFoundError

if TYPE_CHECKING:
    from edge.config import Config

log = logging.getLogger(__name__)

SYSTEM_MODEL_DIR = Path("/var/lib/maskgate/models")
DEFAULT_CLASSIFIER = "mask_classifier_int8.tflite"
PACKAGED_YUNET = "face_detection_yunet_2026may.onnx"
PACKAGED_YUNET_SHA256 = "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0"
RES10_FILES = ("deploy.prototxt", "res10_300x300_ssd_iter_140000.caffemodel")
ULTRAFACE_FILE = "version-RFB-320_without_postprocessing.tflite"
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def user_model_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("maskgate")) / "models"


def model_dirs(configured: str = "") -> list[Path]:
    dirs = [Path(configured).expanduser()] if configured else []
    if env := os.environ.get("MASKGATE_MODEL_DIR"):
        dirs.append(Path(env).expanduser())
    dirs += [user_model_dir(), SYSTEM_MODEL_DIR]
    return dirs


def packaged_model_dir() -> Path:
    return Path(str(resources.files("edge") / "models"))


def origin(path: Path) -> str:
    """How `maskgate models`, doctor and the log describe where a model file comes from."""
    if path.parent == packaged_model_dir():
        return "packaged"
    return f"NOT the packaged default: from {path.parent}"


def _candidates(dirs: list[Path], pattern: str) -> list[Path]:
    found = []
    for directory in dirs:
        found += sorted(directory.glob(pattern)) + sorted(directory.glob(f"*/{pattern}"))
    return [p for p in found if p.is_file()]


def _not_found(what: str, pattern: str, dirs: list[Path], fix: str) -> ModelNotFoundError:
    searched = "\n  ".join(str(d) for d in dirs)
    return ModelNotFoundError(f"{what} not found: no {pattern} in\n  {searched}\nFix: {fix}")


def _explicit(path: str, what: str) -> Path:
    explicit = Path(path).expanduser()
    if not explicit.is_file():
        raise ModelNotFoundError(f"{what} {explicit} does not exist (set in the config)")
    return explicit


def yunet_release_key(path: Path) -> tuple[int, int, int]:
    """Sort key: newest release first by the date in the name, float before int8 of the same date."""
    match = re.search(r"(\d{4})([a-z]{3})", path.name)
    year, month = (int(match[1]), MONTHS.index(match[2]) if match[2] in MONTHS else 0) if match else (0, 0)
    return (-year, -month, int("int8" in path.name))


def packaged_yunet() -> Path:
    """The YuNet copy inside the package, after checking its pinned sha256 (a damaged install is refused)."""
    from edge.errors import ModelLoadError
    from edge.modelfiles.fetch import sha256_of

    path = packaged_model_dir() / PACKAGED_YUNET
    if not path.is_file():
        raise ModelNotFoundError(f"the packaged YuNet {path} is missing: reinstall maskgate")
    if (digest := sha256_of(path)) != PACKAGED_YUNET_SHA256:
        raise ModelLoadError(f"the packaged YuNet {path} has sha256 {digest}, not the pinned one: reinstall maskgate")
    return path


def check_yunet(path: Path) -> str:
    """The file's sha256, after checking it against the pinned one when its name is a release maskgate pins (the
    packaged one, the one `maskgate models fetch` gets): a damaged or renamed file is refused. Other names are
    used as they are, with their sha256 in the log."""
    from edge.errors import ModelLoadError
    from edge.modelfiles.fetch import YUNET_2023MAR, sha256_of

    pinned = {PACKAGED_YUNET: PACKAGED_YUNET_SHA256, YUNET_2023MAR.name: YUNET_2023MAR.sha256}
    digest = sha256_of(path)
    expected = pinned.get(path.name)
    if expected is None:
        log.warning("YuNet model %s is not a release maskgate pins; using it as it is (sha256 %s)", path, digest)
    elif digest != expected:
        raise ModelLoadError(
            f"YuNet model {path} has sha256 {digest}, but {path.name} is pinned to {expected}: the file is damaged "
            "or not the release its name says; fix: `maskgate models fetch`, or remove it to use the packaged YuNet"
        )
    return digest


def find_yunet(explicit: str, dirs: list[Path]) -> Path:
    """The explicit file, else the newest release in the model directories, else the packaged copy."""
    if explicit:
        return _explicit(explicit, "YuNet model")
    found = sorted(_candidates(dirs, "face_detection_yunet_*.onnx"), key=yunet_release_key)
    if found:
        return found[0]
    if (packaged_model_dir() / PACKAGED_YUNET).is_file():
        return packaged_yunet()
    from edge.modelfiles.fetch import NO_NETWORK_FIX

    raise _not_found(
        "YuNet face detector", "face_detection_yunet_*.onnx", dirs, f"run `maskgate models fetch`; {NO_NETWORK_FIX}"
    )


def find_res10(explicit: str, dirs: list[Path]) -> tuple[Path, Path]:
    if explicit:
        weights = _explicit(explicit, "res10 weights")
        prototxt = weights.with_name(RES10_FILES[0])
        if not prototxt.is_file():
            raise ModelNotFoundError(f"res10 needs {prototxt} beside {weights}")
        return prototxt, weights
    for weights in _candidates(dirs, RES10_FILES[1]):
        if (prototxt := weights.with_name(RES10_FILES[0])).is_file():
            return prototxt, weights
    raise _not_found(
        "res10 SSD face detector",
        " + ".join(RES10_FILES),
        dirs,
        "copy deploy.prototxt and the .caffemodel from OpenCV's samples into one of these directories",
    )


def find_file(explicit: str, dirs: list[Path], pattern: str, what: str, fix: str) -> Path:
    """The explicit path from the config, else the first file matching pattern in dirs (or one level down).
    `what` names the model and `fix` says how to get it in the error when there is none."""
    if explicit:
        return _explicit(explicit, what)
    found = _candidates(dirs, pattern)
    if not found:
        raise _not_found(what, pattern, dirs, fix)
    return found[0]


def find_ultraface(explicit: str, dirs: list[Path]) -> Path:
    return find_file(
        explicit,
        dirs,
        ULTRAFACE_FILE,
        "UltraFace detector",
        "copy it from Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB into one of these directories",
    )


def find_classifier(explicit: str, dirs: list[Path]) -> Path:
    if explicit:
        return _explicit(explicit, "classifier model")
    search = [*dirs, packaged_model_dir()]
    found = _candidates(search, DEFAULT_CLASSIFIER)
    if not found:
        raise _not_found(
            "mask classifier",
            DEFAULT_CLASSIFIER,
            search,
            "reinstall maskgate, or build one with `maskgate-convert` and set classifier.model",
        )
    return found[0]


def classifier_path(config: Config) -> Path:
    return find_classifier(config.classifier.model, model_dirs(config.models.dir))
