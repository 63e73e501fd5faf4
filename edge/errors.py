"""The one error contract of every command.

    exit 0  success
    exit 1  a bug: any exception but a SetupError, with its traceback; systemd restarts the service.
            Also `doctor` and `models` when they ran and found problems.
    exit 2  a SetupError: something the operator fixes (config, model files, camera, display, permissions,
            missing files or packages). One log line names the thing and the fix; the systemd unit does not
            restart (RestartPreventExitStatus=2). argparse's usage errors exit 2 too.

Standard library only, so any module can import it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

EXIT_SETUP = 2
OWN_PACKAGES = ("edge", "convert")
INSTALL_HINTS = {
    "cv2": "pip install 'opencv-python-headless>=4.11,<5'",
    "onnxruntime": 'pip install onnxruntime, or set detector.engine = "opencv"',
}


class SetupError(Exception):
    """A problem of this machine's setup, not of the code; restarting will not fix it."""


class BackendUnavailableError(SetupError):
    """A configured backend cannot run here: its package is missing or this build of it lacks a feature."""


class UsageError(SetupError, ValueError):
    """A command-line value that argparse cannot check on its own."""


class ModelNotFoundError(SetupError, FileNotFoundError):
    """A model file is in none of the model directories, or the configured path does not exist."""


class ModelLoadError(SetupError, ValueError):
    """A model file is there but cannot be loaded (corrupt, truncated, wrong format), or no runtime can run it."""


class OutputError(SetupError):
    """An output the config turns on cannot open its file, device or port."""


def run_command(command: Callable[[], int], log: logging.Logger) -> int:
    """The contract, for `maskgate` and `maskgate-convert`: a SetupError is one logged line and exit 2; anything
    else propagates (traceback, exit 1)."""
    try:
        return command()
    except SetupError as exc:
        log.error("%s", exc)
        return EXIT_SETUP


@contextmanager
def os_errors_as(error: type[SetupError], what: str, fix: str = "") -> Iterator[None]:
    """Turn an OSError (missing file, no permission, busy device, port in use) inside into `error`, naming
    `what`. For code that opens what the config names: there an OSError is the machine's, not a bug."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, SetupError):
            raise
        reason = exc.strerror or str(exc)
        if exc.filename and exc.strerror and str(exc.filename) not in what:
            reason += f": {exc.filename}"
        raise error(f"{what}: {reason}" + (f"; fix: {fix}" if fix else "")) from exc


@contextmanager
def third_party_imports(what: str) -> Iterator[None]:
    """Turn a third-party package that cannot be imported inside into a BackendUnavailableError naming `what`.
    A failing import of our own code stays what it is: a bug."""
    try:
        yield
    except ImportError as exc:
        package = (exc.name or "").split(".")[0]
        if package in OWN_PACKAGES:
            raise
        package = package or "a package"
        fix = INSTALL_HINTS.get(package, f"install {package}")
        raise BackendUnavailableError(f"{what}: {package} cannot be imported ({exc}); fix: {fix}") from exc
