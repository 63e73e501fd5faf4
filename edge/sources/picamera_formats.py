"""picamera2 main-stream pixel formats and the bytes each one puts in memory per pixel.

libcamera names a format after the bits of a little-endian word, most significant first, so the name reads
backwards from the byte order in memory. The Picamera2 manual (appendix A, "Pixel and image formats"):
RGB888 is [B, G, R]; BGR888 is [R, G, B]; XRGB8888 is [B, G, R, 255]; XBGR8888 is [R, G, B, 255].

Imports nothing heavy: `maskgate doctor` describes the format without loading OpenCV.
"""

from __future__ import annotations

STREAM_FORMAT = "RGB888"
"""Bytes [B, G, R]: the order OpenCV and the rest of the pipeline use, so frames need no conversion."""

PIXEL_BYTES: dict[str, tuple[str, ...]] = {
    "RGB888": ("B", "G", "R"),
    "BGR888": ("R", "G", "B"),
    "XRGB8888": ("B", "G", "R", "255"),
    "XBGR8888": ("R", "G", "B", "255"),
}
"""Each format's bytes per pixel in memory, first byte first, as the capture_array array's last axis holds them."""


def describe(stream_format: str) -> str:
    """E.g. 'stream format RGB888 = bytes [B, G, R] per pixel, OpenCV BGR order, no conversion'."""
    layout = PIXEL_BYTES[stream_format]
    colours = "".join(b for b in layout if b in "RGB")
    steps = [] if colours == "BGR" else ["red and blue swapped"]
    if len(layout) == 4:
        steps.insert(0, "fourth byte dropped")
    order = "OpenCV BGR order" if colours == "BGR" else "RGB order"
    conversion = f"converted to BGR ({', '.join(steps)})" if steps else "no conversion"
    return f"stream format {stream_format} = bytes [{', '.join(layout)}] per pixel, {order}, {conversion}"
