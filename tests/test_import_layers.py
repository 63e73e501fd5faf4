"""The folder layers of pyproject.toml's [tool.importlinter] hold, and an import that breaks one fails `lint-imports`
(which .ci/run runs): each case plants one such import into a copy of the packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = "edge: each folder imports only the folders below it"
CIRCLES = "no import circles between the modules or folders of one folder"
NO_CONVERT = "edge (the Pi runtime) never imports convert (the build stage)"
NO_TENSORFLOW = "edge never imports TensorFlow or Keras"
CONVERT_LAYERS = "convert: the command over quantization over evaluation over training over data"


def copy_packages(dest: Path) -> Path:
    """edge/ and convert/ (their Python files; not the model files) and pyproject.toml, into dest."""
    skip = shutil.ignore_patterns("__pycache__", "*.tflite", "*.onnx", "*.caffemodel", "selftest")
    for package in ("edge", "convert"):
        shutil.copytree(ROOT / package, dest / package, ignore=skip)
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the copy: it alone is on the path, so the graph is the copy's, not the checkout's."""
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "250"}
    command = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run(
        [sys.executable, "-c", command, "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def plant(path: Path, line: str) -> None:
    path.write_text(path.read_text() + "\n\n" + line + "\n")


def test_the_packages_keep_every_contract(tmp_path):
    result = lint_imports(copy_packages(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        # A vision part reaching up to an output: against the layers.
        ("edge/vision/labels.py", "import edge.outputs.events  # noqa", LAYERS),
        # The same as a lazy import inside a function: it counts all the same.
        ("edge/config/problems.py", "def planted():\n    from edge.app import build_outputs  # noqa", LAYERS),
        # Two modules of one folder importing each other (web.page imports web.auth).
        ("edge/web/auth.py", "def planted():\n    from edge.web import page  # noqa", CIRCLES),
        ("edge/errors.py", "def planted():\n    import convert.cli  # noqa", NO_CONVERT),
        ("edge/vision/stats.py", "def planted():\n    import tensorflow  # noqa", NO_TENSORFLOW),
        ("convert/data/dataset.py", "def planted():\n    from convert.training import train  # noqa", CONVERT_LAYERS),
    ],
    ids=[
        "vision-imports-outputs",
        "lazy-import-of-app",
        "circle-in-web",
        "edge-imports-convert",
        "tensorflow",
        "data-imports-training",
    ],
)
def test_a_planted_import_breaks_its_contract(tmp_path, module, line, contract):
    root = copy_packages(tmp_path)
    plant(root / module, line)
    result = lint_imports(root)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = [text for text in result.stdout.splitlines() if text.endswith(" BROKEN")]
    assert f"{contract} BROKEN" in broken, result.stdout
