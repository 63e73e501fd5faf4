"""MaskGate edge runtime: camera -> face detector -> int8 mask classifier -> decisions -> outputs.

Importing this package is cheap: OpenCV, numpy and the TFLite interpreter are imported by the
modules that need them, so `maskgate --help` stays fast on a Raspberry Pi.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("maskgate")  # pyproject.toml holds the one version
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
