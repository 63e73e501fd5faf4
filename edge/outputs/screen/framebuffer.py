"""The entrance screen straight into the Linux framebuffer: Raspberry Pi OS Lite has no desktop and no X, only
the console's /dev/fb0. The device's layout comes from its ioctls; frames are converted to its pixel format."""

from __future__ import annotations

import fcntl
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.config import ScreenConfig
from edge.outputs.video import DisplayUnavailableError

log = logging.getLogger(__name__)

PIXEL_BITS = (16, 24, 32)
"""Bits per pixel this writes: RGB565, and 24/32-bit with red at bit 16 (BGR in memory) or at bit 0."""

FBIOGET_VSCREENINFO, FBIOGET_FSCREENINFO = 0x4600, 0x4602
VAR_INFO = struct.Struct("=20I")
"""The first 20 __u32 of struct fb_var_screeninfo: sizes, offsets, bits per pixel and the colour bitfields."""
FIX_INFO = struct.Struct("16sL4I3HI")
"""struct fb_fix_screeninfo up to line_length, with the native size of its unsigned long."""


@dataclass(frozen=True)
class FramebufferLayout:
    width: int
    height: int
    bits_per_pixel: int
    stride: int
    """Bytes per row, at least width * bytes per pixel."""
    red_offset: int = 16
    offset: int = 0
    """Byte offset of the visible page."""

    @classmethod
    def of_device(cls, fd: int) -> FramebufferLayout:
        var = VAR_INFO.unpack(fcntl.ioctl(fd, FBIOGET_VSCREENINFO, bytes(160))[: VAR_INFO.size])
        fix = FIX_INFO.unpack(fcntl.ioctl(fd, FBIOGET_FSCREENINFO, bytes(128))[: FIX_INFO.size])
        xres, yres, _, _, xoffset, yoffset, bpp = var[:7]
        stride = fix[-1] or xres * bpp // 8
        return cls(xres, yres, bpp, stride, red_offset=var[8], offset=yoffset * stride + xoffset * bpp // 8)


def framebuffer_bytes(image: np.ndarray, layout: FramebufferLayout) -> bytes:
    """A BGR image of the layout's size in the framebuffer's pixel format, rows padded to its stride."""
    if layout.bits_per_pixel == 32:
        order = cv2.COLOR_BGR2BGRA if layout.red_offset == 16 else cv2.COLOR_BGR2RGBA
        pixels = cv2.cvtColor(image, order)
    elif layout.bits_per_pixel == 24:
        pixels = image if layout.red_offset == 16 else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif layout.bits_per_pixel == 16:
        b, g, r = (image[..., i].astype(np.uint16) for i in range(3))
        pixels = ((r >> 3) << 11 | (g >> 2) << 5 | (b >> 3)).astype("<u2")
    else:  # FramebufferSink refuses such a device when it opens it
        raise ValueError(f"framebuffer with {layout.bits_per_pixel} bits per pixel is not supported (16, 24 or 32)")
    rows = np.ascontiguousarray(pixels).reshape(layout.height, -1).view(np.uint8)
    if rows.shape[1] < layout.stride:
        rows = np.pad(rows, ((0, 0), (0, layout.stride - rows.shape[1])))
    return rows.tobytes()


class FramebufferSink:
    """Writes whole frames into a Linux framebuffer device (the console's screen on Pi OS Lite)."""

    @classmethod
    def from_config(cls, config: ScreenConfig) -> FramebufferSink:
        return cls(config.device)

    def __init__(self, device: str, layout: FramebufferLayout | None = None) -> None:
        self.device = Path(device)
        try:
            self._fd = os.open(self.device, os.O_RDWR)
        except OSError as exc:
            raise OSError(
                f"screen.device {self.device}: cannot open the framebuffer ({exc.strerror or exc}); it needs a monitor "
                "connected at boot and the video group (the service user has it)"
            ) from exc
        try:
            self.layout = layout or FramebufferLayout.of_device(self._fd)
        except OSError as exc:
            os.close(self._fd)
            raise OSError(f"screen.device {self.device} is not a framebuffer: {exc.strerror or exc}") from exc
        if self.layout.bits_per_pixel not in PIXEL_BITS:
            os.close(self._fd)
            raise DisplayUnavailableError(
                f"screen.device {self.device} has {self.layout.bits_per_pixel} bits per pixel; the screen writes "
                f"{', '.join(map(str, PIXEL_BITS))}: set the console's colour depth to one of these"
            )
        self.width, self.height = self.layout.width, self.layout.height
        log.info("framebuffer %s: %dx%d, %d bpp", self.device, self.width, self.height, self.layout.bits_per_pixel)

    def show(self, image: np.ndarray) -> None:
        if image.shape[:2] != (self.height, self.width):
            image = cv2.resize(image, (self.width, self.height))
        os.pwrite(self._fd, framebuffer_bytes(image, self.layout), self.layout.offset)

    def close(self) -> None:
        try:
            self.show(np.zeros((self.height, self.width, 3), np.uint8))  # no frozen "please enter" after a stop
        finally:
            os.close(self._fd)
