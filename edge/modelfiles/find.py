"""Where model files are looked for, and finding each one.

Search order: an explicit path from the config, then models.dir, $MASKGATE_MODEL_DIR, the user's data dir,
/var/lib/maskgate/models; the default classifier also ships inside this package. Files may sit
directly in a model directory or one level down (yunet/, res10/, ultraface/), as in ../shared/models.
A YuNet detector also ships inside the package (edge/models/YUNET.md), verified by its pinned sha256.

Trust: a model decides the door, so it must come from a place the owner controls. The folders the config or
the environment name are the owner's choice; the implicit ones (the user's data dir, /var/lib/maskgate/models)
are searched only when this process cannot write them (the service's home is its own writable state folder,
where anything that subverts the process could plant a model for the next restart). A model file or its folder
that its group or everyone may write is refused wherever it is. The first folder that has a file wins (the
detector too: the newest release within that folder), so models.dir pins both models.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from dataclasses import dataclass
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


@dataclass(frozen=True)
class ModelDir:
    """One place models are looked for: who names it, and why it is left out of the search (if it is)."""

    path: Path
    named_by: str
    skipped: str = ""


def writable_by_this_user(path: Path) -> bool:
    """Whether this process (not root) could write `path`, or create it: a folder that does not exist yet is
    judged by its nearest existing parent. os.access sees read-only mounts (the unit's ReadOnlyPaths=) too.
    Root is the machine's owner: what root can write, the owner controls."""
    if os.geteuid() == 0:
        return False
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return os.access(existing, os.W_OK)


def search_plan(configured: str = "") -> list[ModelDir]:
    """Every model folder in search order, the packaged one last, each with who names it and, for an implicit
    folder this process can write, why it is skipped."""
    plan = [ModelDir(Path(configured).expanduser(), "models.dir in the config")] if configured else []
    if env := os.environ.get("MASKGATE_MODEL_DIR"):
        plan.append(ModelDir(Path(env).expanduser(), "$MASKGATE_MODEL_DIR"))
    for path, named_by in ((user_model_dir(), "this user's data folder"), (SYSTEM_MODEL_DIR, "root's model folder")):
        skipped = ""
        if writable_by_this_user(path):
            skipped = f"skipped: this user can write it; to use its models set models.dir = {str(path)!r}"
        plan.append(ModelDir(path, named_by, skipped))
    return [*plan, ModelDir(packaged_model_dir(), "the package")]


_warned_skipped: set[Path] = set()


def model_dirs(configured: str = "") -> list[Path]:
    """The folders searched, in order (the packaged one, searched last, is not among them)."""
    dirs = []
    for entry in search_plan(configured)[:-1]:
        if not entry.skipped:
            if entry.path.is_dir():
                refuse_loose_mode(entry.path, f"model folder ({entry.named_by})")
            dirs.append(entry.path)
        elif entry.path not in _warned_skipped and any(_model_files_in(entry.path)):
            _warned_skipped.add(entry.path)
            log.warning("model files in %s (%s) are not used: %s", entry.path, entry.named_by, entry.skipped)
    return dirs


def _model_files_in(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return [p for suffix in (".onnx", ".tflite", ".caffemodel") for p in directory.rglob(f"*{suffix}")]


def check_trusted(path: Path) -> Path:
    """`path`, after checking that neither it nor its folder may be written by its group or everyone (anyone
    there could swap the model). The packaged copies are part of the installed code and not checked here."""
    if path.parent == packaged_model_dir():
        return path
    for what, item in (("model file", path), ("model folder", path.parent)):
        refuse_loose_mode(item, what)
    return path


def refuse_loose_mode(item: Path, what: str) -> None:
    from edge.errors import ModelLoadError

    mode = stat.S_IMODE(item.stat().st_mode)
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        who = "everyone" if mode & stat.S_IWOTH else "its group"
        raise ModelLoadError(
            f"{what} {item} may be written by {who} (mode {mode:04o}), who could swap the model that decides "
            f"the door; fix: sudo chmod go-w {item} (and make root its owner)"
        )


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
    return check_trusted(explicit)


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
    """The explicit file, else the newest release in the first model directory that has one, else the packaged
    copy. Releases are not ranked across folders: a later one in a folder further down cannot beat models.dir."""
    if explicit:
        return _explicit(explicit, "YuNet model")
    for directory in dirs:
        found = sorted(_candidates([directory], "face_detection_yunet_*.onnx"), key=yunet_release_key)
        if found:
            return check_trusted(found[0])
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
            return check_trusted(prototxt), check_trusted(weights)
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
    return check_trusted(found[0])


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
    return check_trusted(found[0])


def why_chosen(path: Path, explicit_key: str, explicit: str, configured: str = "") -> str:
    """Why `path` is the model in use, for doctor and `maskgate models`."""
    if explicit:
        return f"{explicit_key} names it"
    for entry in search_plan(configured):
        if not entry.skipped and (path.parent == entry.path or path.parent.parent == entry.path):
            if entry.named_by == "the package":
                return "the packaged default: no model folder before it has one"
            return f"the first model folder that has one: {entry.path} ({entry.named_by})"
    return f"from {path.parent}"


def classifier_path(config: Config) -> Path:
    return find_classifier(config.classifier.model, model_dirs(config.models.dir))
