"""MaskGate edge runtime: camera -> face detector -> int8 mask classifier -> decisions -> outputs.

Importing this package is cheap: OpenCV, numpy and the TFLite interpreter are imported by the
modules that need them, so `maskgate --help` stays fast on a Raspberry Pi.
"""

__version__ = "0.1.0"
