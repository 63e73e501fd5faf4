"""What the entrance screen shows: the camera image with face boxes above a large status banner, readable from
2 m. `render_screen` is a pure function of the frame and its tracked faces; where the drawing goes is the sinks'."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from edge.config import ScreenConfig
from edge.outputs.annotate import AWAY, colour_for
from edge.vision.labels import DEFAULT_POLICY, MASK, MASK_INCORRECT, DoorState, LabelPolicy
from edge.vision.types import Place, TrackedFace
from edge.vision.zone import WHOLE_FRAME, DoorZone

BANNER_COLOURS = {
    DoorState.OK: (0, 140, 0),
    DoorState.WARN: (0, 110, 210),
    DoorState.NOT_OK: (0, 0, 200),
    None: (70, 70, 70),
}
"""BGR: green, amber, red, grey (nobody confirmed); white text stays legible on all four."""
PLACE_TEXTS = {Place.FAR: "come closer", Place.OUTSIDE: ""}
"""What a face away from the door is labelled with on the screen and the page instead of a verdict."""
BANNER_FRACTION = 0.24
"""Share of the screen height given to the banner."""
TEXT_FRACTION = 0.42
"""Text height relative to the banner: 8-10 % of the screen height once long texts are fitted to the width,
2.3-2.8 cm on a 22-inch monitor, several times what reading from 2 m needs."""
BORDER_FRACTION = 0.012
FONT = cv2.FONT_HERSHEY_DUPLEX


@dataclass(frozen=True)
class BannerTexts:
    """The banner texts of [screen]; their defaults are the config's."""

    mask: str
    no_mask: str
    idle: str
    mask_incorrect: str
    closer: str = ScreenConfig.closer_text

    def for_label(self, label: str | None) -> str:
        """The banner for the confirmed label that decides the door; any label without its own text is bare."""
        if label is None:
            return self.idle
        return {MASK: self.mask, MASK_INCORRECT: self.mask_incorrect}.get(label, self.no_mask)

    def for_faces(self, label: str | None, faces: list[TrackedFace]) -> str:
        """for_label, but with nobody confirmed and a face seen too far away to decide: come closer."""
        if label is None and any(face.place is Place.FAR for face in faces):
            return self.closer
        return self.for_label(label)


def banner_texts(config: ScreenConfig) -> BannerTexts:
    return BannerTexts(
        config.mask_text, config.no_mask_text, config.idle_text, config.mask_incorrect_text, config.closer_text
    )


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
        text = face.decision.replace("_", " ") if face.decision else PLACE_TEXTS.get(face.place, "...")
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
    zone: DoorZone = WHOLE_FRAME,
) -> np.ndarray:
    """The whole screen (height x width BGR): camera image with boxes, a status banner, a status-coloured rim,
    and the door zone's region outlined when it is not the whole frame. `texts`: the banner texts, by default
    [screen]'s."""
    texts = texts or banner_texts(ScreenConfig())
    label = policy.worst_label(face.decision for face in faces)
    colour = BANNER_COLOURS[None if label is None else policy.state(label)]
    x1, y1, x2, y2 = zone.region(image.shape[1], image.shape[0])
    if mirror:
        x1, x2 = image.shape[1] - x2, image.shape[1] - x1
        image, faces = mirrored(image, faces)
    banner_top = height - round(height * BANNER_FRACTION)
    border = max(2, round(min(width, height) * BORDER_FRACTION))
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = colour
    view, scale, offset = fit_into(image, width - 2 * border, banner_top - border)
    if not zone.whole_frame:
        corners = [round(v * scale + offset[i % 2]) for i, v in enumerate((x1, y1, x2, y2))]
        cv2.rectangle(view, tuple(corners[:2]), tuple(corners[2:]), AWAY, max(2, round(view.shape[0] / 220)))
    draw_faces(view, faces, scale, offset, policy)
    canvas[border:banner_top, border : width - border] = view
    draw_banner(canvas, banner_top, texts.for_faces(label, faces), colour)
    return canvas
