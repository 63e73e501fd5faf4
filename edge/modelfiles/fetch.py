"""Downloading official model files, verified against a pinned sha256 before they are kept."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from edge.errors import SetupError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PinnedFile:
    name: str
    url: str
    sha256: str


YUNET_2023MAR = PinnedFile(
    name="face_detection_yunet_2023mar.onnx",
    url="https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx",
    sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
)

NO_NETWORK_FIX = (
    "without a network: `maskgate models fetch --url file:///path/to/face_detection_yunet_2023mar.onnx`, or copy "
    "the file into one of these directories, or set MASKGATE_MODEL_DIR to the folder that holds it"
)


class FetchError(SetupError, RuntimeError):
    pass


def fetch(pinned: PinnedFile, dest_dir: Path, url: str | None = None, timeout: float = 60.0) -> Path:
    """Download into dest_dir; the file appears only if its sha256 matches, so a bad download leaves nothing."""
    source = url or pinned.url
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / pinned.name
    if target.is_file() and sha256_of(target) == pinned.sha256:
        log.info("%s already present and verified", target)
        return target
    digest = hashlib.sha256()
    handle, temporary = tempfile.mkstemp(prefix=".fetch-", dir=dest_dir)
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(source, timeout=timeout) as response:
            while chunk := response.read(1 << 16):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != pinned.sha256:
            raise FetchError(
                f"{source}: sha256 {digest.hexdigest()} does not match the pinned {pinned.sha256}; file discarded"
            )
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; the service user must read what root fetched
        os.replace(temporary, target)
    except (OSError, ValueError) as exc:  # ValueError: urllib refuses the URL itself
        raise FetchError(
            f"cannot download {source}: {exc}\nMaskGate runs without it (a YuNet copy ships in the package); "
            f"for the official release {NO_NETWORK_FIX.replace('these directories', 'the user model directory')}"
        ) from exc
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    log.info("fetched %s (sha256 verified)", target)
    return target


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 16):
            digest.update(chunk)
    return digest.hexdigest()
