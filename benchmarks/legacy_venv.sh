#!/usr/bin/env bash
# A separate venv with the legacy tflite-runtime backend, for the benchmark grid's tflite-runtime cells.
# tflite-runtime 2.14 (the last release) has wheels for CPython <= 3.11 only and needs numpy<2, so it
# cannot share the main venv (numpy 2). The grid runs its cells with this venv's python and PYTHONPATH
# set to the repo, so maskgate itself is not installed here; only the runtime's dependencies are.
# Usage: bash benchmarks/legacy_venv.sh [VENV_DIR] [PYTHON3.11]
set -euo pipefail
venv="${1:-$HOME/.cache/maskgate/legacy-venv}"
python="${2:-python3.11}"
"$python" -c 'import sys; assert sys.version_info[:2] <= (3, 11), "tflite-runtime needs Python <= 3.11"'
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q "tflite-runtime==2.14.0" "numpy<2" "opencv-python-headless>=4.11,<5" "platformdirs>=3"
echo "$venv/bin/python"
