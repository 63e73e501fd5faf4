"""The entrance screen: the camera image with face boxes above a large status banner, readable from 2 m.

`render_screen` is a pure function of the frame and its tracked faces. `EntranceScreen` shows its
drawing in an OpenCV window (a Pi with a desktop) or writes it straight into the Linux framebuffer
(Raspberry Pi OS Lite: no desktop, no X, only the console's /dev/fb0).
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from edge.config import ScreenConfig
from edge.labels import DEFAULT_POLICY, MASK, MASK_INCORRECT, DoorState, LabelPolicy
from edge.outputs import Output
from edge.outputs.annotate import colour_for
from edge.registry import SCREEN_BACKENDS, load
from edge.types import Frame, TrackedFace

if TYPE_CHECKING:
    from edge.stats import LoopStats

log = logging.getLogger(__name__)

BANNER_COLOURS = {
    DoorState.OK: (0, 140, 0),
    DoorState.WARN: (0, 110, 210),
    DoorState.NOT_OK: (0, 0, 200),
    None: (70, 70, 70),
}
"""BGR: green, amber, red, grey (nobody confirmed); white text stays legible on all four."""
BANNER_FRACTION = 0.24
"""Share of the screen height given to the banner."""
TEXT_FRACTION = 0.42
"""Text height relative to the banner: 8-10 % of the screen height once long texts are fitted to the width,
2.3-2.8 cm on a 22-inch monitor, several times what reading from 2 m needs."""
BORDER_FRACTION = 0.012
FONT = cv2.FONT_HERSHEY_DUPLEX
DEFAULT_WINDOW_SIZE = (1280, 720)
WINDOW_TITLE = "MaskGate entrance"


@dataclass(frozen=True)
class BannerTexts:
    """The banner texts of [screen]; their defaults are the config's."""

    mask: str
    no_mask: str
    idle: str
    mask_incorrect: str

    def for_label(self, label: str | None) -> str:
        """The banner for the confirmed label that decides the door; any label without its own text is bare."""
        if label is None:
            return self.idle
        return {MASK: self.mask, MASK_INCORRECT: self.mask_incorrect}.get(label, self.no_mask)


def banner_texts(config: ScreenConfig) -> BannerTexts:
    return BannerTexts(config.mask_text, config.no_mask_text, config.idle_text, config.mask_incorrect_text)


def mirrored(image: np.ndarray, faces: list[TrackedFace]) -> tuple[np.ndarray, list[TrackedFace]]:
    width = image.shape[1]
    flipped = [
        dataclasses.replace(
            face, face=dataclasses.replace(face.face, box=(width - x2, y1, width - x1, y2), landmarks=None)
        )
        for face in faces
        for x1, y1, x2, y2 in [face.face.box]
    ]
    return cv2.flip(image, 1), flipped


def fit_into(image: np.ndarray, width: int, height: int) -> tuple[np.ndarray, float, tuple[int, int]]:
    """The image scaled to fit width x height with its aspect ratio kept, centred on black; the scale and the
    (left, top) offset map source pixels onto it."""
    canvas = np.zeros((height, width, 3), np.uint8)
    scale = min(width / image.shape[1], height / image.shape[0])
    new_w, new_h = max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    left, top = (width - new_w) // 2, (height - new_h) // 2
    canvas[top : top + new_h, left : left + new_w] = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    return canvas, scale, (left, top)


def draw_faces(
    view: np.ndarray, faces: list[TrackedFace], scale: float, offset: tuple[int, int], policy: LabelPolicy
) -> None:
    """Boxes and labels sized for the screen, not for the camera image: thick enough to see from the door."""
    thickness = max(3, round(view.shape[0] / 110))
    font_scale = view.shape[0] / 700
    text_thickness = max(2, round(font_scale * 2))
    for face in faces:
        x1, y1, x2, y2 = (round(v * scale + offset[i % 2]) for i, v in enumerate(face.face.box))
        colour = colour_for(face, policy)
        cv2.rectangle(view, (x1, y1), (x2, y2), colour, thickness)
        text = face.decision.replace("_", " ") if face.decision else "..."
        (text_w, text_h), baseline = cv2.getTextSize(text, FONT, font_scale, text_thickness)
        label_h = text_h + baseline + 2 * thickness
        top = y1 - label_h if y1 >= label_h else y1  # above the box, or inside it at the top of the picture
        cv2.rectangle(
            view, (x1 - thickness // 2, top), (x1 + text_w + 2 * thickness, top + label_h), colour, cv2.FILLED
        )
        cv2.putText(
            view,
            text,
            (x1 + thickness, top + label_h - baseline - thickness),
            FONT,
            font_scale,
            (255, 255, 255),
            text_thickness,
            cv2.LINE_AA,
        )


def draw_banner(canvas: np.ndarray, top: int, text: str, colour: tuple[int, int, int]) -> None:
    height, width = canvas.shape[0] - top, canvas.shape[1]
    canvas[top:] = colour
    target = TEXT_FRACTION * height
    (unit_w, unit_h), _ = cv2.getTextSize(text, FONT, 1.0, 1)
    scale = min(target / unit_h, 0.92 * width / unit_w)
    thickness = max(2, round(scale * 2.2))
    (text_w, text_h), _ = cv2.getTextSize(text, FONT, scale, thickness)
    origin = ((width - text_w) // 2, top + (height + text_h) // 2)
    cv2.putText(canvas, text, origin, FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def render_screen(
    image: np.ndarray,
    faces: list[TrackedFace],
    width: int,
    height: int,
    texts: BannerTexts | None = None,
    mirror: bool = True,
    policy: LabelPolicy = DEFAULT_POLICY,
) -> np.ndarray:
    """The whole screen (height x width BGR): camera image with boxes, a status banner, a status-coloured rim.
    `texts`: the banner texts, by default [screen]'s."""
    texts = texts or banner_texts(ScreenConfig())
    label = policy.worst_label(face.decision for face in faces)
    colour = BANNER_COLOURS[None if label is None else policy.state(label)]
    if mirror:
        image, faces = mirrored(image, faces)
    banner_top = height - round(height * BANNER_FRACTION)
    border = max(2, round(min(width, height) * BORDER_FRACTION))
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = colour
    view, scale, offset = fit_into(image, width - 2 * border, banner_top - border)
    draw_faces(view, faces, scale, offset, policy)
    canvas[border:banner_top, border : width - border] = view
    draw_banner(canvas, banner_top, texts.for_label(label), colour)
    return canvas


class Sink(Protocol):
    width: int
    height: int

    def show(self, image: np.ndarray) -> None: ...

    def close(self) -> None: ...


class WindowSink:
    """An OpenCV HighGUI window; needs an OpenCV built with GUI support and a desktop session."""

    @classmethod
    def from_config(cls, config: ScreenConfig) -> WindowSink:
        return cls(config.width or DEFAULT_WINDOW_SIZE[0], config.height or DEFAULT_WINDOW_SIZE[1], config.fullscreen)

    def __init__(self, width: int, height: int, fullscreen: bool) -> None:
        from edge.outputs.video import DisplayUnavailableError

        self.width, self.height = width, height
        try:
            cv2.namedWindow(WINDOW_TITLE, cv2.WINDOW_NORMAL)
            if fullscreen:
                cv2.setWindowProperty(WINDOW_TITLE, cv2.WND_PROP_FULLSCREEN, cv2.WINDOW_FULLSCREEN)
        except cv2.error as exc:
            raise DisplayUnavailableError(
                'screen.backend "window" needs a desktop session and an OpenCV with GUI support (this one has none, '
                "or DISPLAY/WAYLAND_DISPLAY is unset): install opencv-python in place of opencv-python-headless, "
                'or on Raspberry Pi OS Lite use screen.backend = "framebuffer"'
            ) from exc

    def show(self, image: np.ndarray) -> None:
        cv2.imshow(WINDOW_TITLE, image)
        cv2.waitKey(1)

    def close(self) -> None:
        cv2.destroyWindow(WINDOW_TITLE)


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
    else:
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


class EntranceScreen(Output):
    name = "screen"

    def __init__(self, config: ScreenConfig, sink: Sink | None = None, policy: LabelPolicy = DEFAULT_POLICY) -> None:
        self.texts = banner_texts(config)
        self.policy = policy
        self.mirror = config.mirror
        if sink is None:
            sink = load(SCREEN_BACKENDS, config.backend, "screen.backend").from_config(config)
        self.sink = sink
        self.width, self.height = config.width or sink.width, config.height or sink.height

    def on_frame(self, frame: Frame, faces: list[TrackedFace], stats: LoopStats) -> None:
        self.sink.show(render_screen(frame.image, faces, self.width, self.height, self.texts, self.mirror, self.policy))

    def close(self) -> None:
        self.sink.close()
