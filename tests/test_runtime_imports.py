"""The runtime must import and run with TensorFlow and Keras unavailable, as on a Pi."""

import subprocess
import sys
import textwrap

BLOCK_TENSORFLOW = textwrap.dedent(
    """
    import importlib.abc, sys

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in ("tensorflow", "keras", "tf_keras", "convert"):
                raise ImportError(f"{name} is blocked: the runtime must not need it")
            return None

    sys.meta_path.insert(0, Block())
    """
)


def run_blocked(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_TENSORFLOW + textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_every_edge_module_imports_without_tensorflow():
    result = run_blocked(
        """
        import importlib, pkgutil, edge
        names = [m.name for m in pkgutil.walk_packages(edge.__path__, "edge.") if m.name != "edge.__main__"]
        for name in names:
            importlib.import_module(name)
        print(len(names))
        """
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 20


def test_the_classifier_runs_without_tensorflow(default_classifier):
    result = run_blocked(
        f"""
        import numpy as np
        from edge.vision.classifier import MaskClassifier
        probabilities = MaskClassifier({str(default_classifier)!r}).classify([np.zeros((224, 224, 3), np.uint8)])
        print(probabilities.shape)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(1, 3)"


def test_importing_edge_and_its_cli_stays_light():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, edge.cli; print(sorted(m for m in ('cv2', 'numpy', 'ai_edge_litert') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]", "maskgate --help must not import OpenCV, numpy or the interpreter"
