"""Locating the project's shared data and third-party models (../shared beside the repo).

Tests, benchmarks and the conversion stage read these files in place; nothing is copied into
the repo. $MASKGATE_SHARED overrides the location.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_dir() -> Path | None:
    """The shared directory, or None when it is absent (a user's fresh clone)."""
    if env := os.environ.get("MASKGATE_SHARED"):
        path = Path(env).expanduser()
        return path if path.is_dir() else None
    for candidate in (REPO_ROOT.parent / "shared", Path.cwd().parent / "shared"):
        if (candidate / "models").is_dir():
            return candidate
    return None


def shared_path(relative: str) -> Path | None:
    """A file or folder inside the shared directory, or None if it (or the directory) is missing."""
    base = shared_dir()
    if base is None:
        return None
    path = base / relative
    return path if path.exists() else None
