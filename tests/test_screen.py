"""The entrance screen, tested on pixels: banner colour and text size, boxes, mirroring, letterboxing,
the framebuffer pixel formats, and a rendering of a real image through the real pipeline."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import missing

from edge.config import ConfigError, ScreenConfig, from_dict
from edge.outputs.screen import EntranceScreen
from edge.outputs.screen.framebuffer import FramebufferLayout, FramebufferSink, framebuffer_bytes
from edge.outputs.screen.render import BANNER_COLOURS, BANNER_FRACTION, BannerTexts, banner_texts, render_screen
from edge.outputs.video import DisplayUnavailableError
from edge.vision.labels import DEFAULT_POLICY, MASK, MASK_INCORRECT, NO_MASK, DoorState, LabelPolicy
from edge.vision.stats import LoopStats
from edge.vision.types import Face, Frame, TrackedFace

W, H = 1280, 720
DEFAULT_TEXTS = banner_texts(ScreenConfig())
BANNER_TOP = H - round(H * BANNER_FRACTION)


def camera_image(width: int = 640, height: int = 480) -> np.ndarray:
    """A mid-grey scene with a gentle gradient: no pixel is white, red or green."""
    ramp = np.linspace(60, 160, width, dtype=np.uint8)
    return np.repeat(np.repeat(ramp[None, :, None], height, axis=0), 3, axis=2)


def tracked(box: tuple[float, float, float, float], decision: str | None, track: int = 1) -> TrackedFace:
    return TrackedFace(Face(box, 0.9), track, decision or MASK, 0.9, decision)


def banner(screen: np.ndarray) -> np.ndarray:
    return screen[BANNER_TOP:]


def white_rows_and_cols(region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    white = np.all(region > 230, axis=2)
    return np.flatnonzero(white.any(axis=1)), np.flatnonzero(white.any(axis=0))


@pytest.mark.parametrize(
    ("decisions", "status", "policy"),
    [
        ([NO_MASK], DoorState.NOT_OK, DEFAULT_POLICY),
        ([MASK], DoorState.OK, DEFAULT_POLICY),
        ([], None, DEFAULT_POLICY),
        ([None], None, DEFAULT_POLICY),
        ([MASK, NO_MASK], DoorState.NOT_OK, DEFAULT_POLICY),
        (["other"], DoorState.NOT_OK, DEFAULT_POLICY),
        ([MASK_INCORRECT], DoorState.NOT_OK, DEFAULT_POLICY),
        ([MASK, MASK_INCORRECT], DoorState.WARN, LabelPolicy.from_config("warn")),
    ],
)
def test_banner_colour_follows_the_confirmed_decisions(decisions: list, status, policy: LabelPolicy) -> None:
    faces = [tracked((100 + 200 * i, 100, 250 + 200 * i, 300), d, i + 1) for i, d in enumerate(decisions)]
    screen = render_screen(camera_image(), faces, W, H, policy=policy)
    assert screen.shape == (H, W, 3)
    corner = banner(screen)[5:15, 5:15].reshape(-1, 3)
    assert (corner == BANNER_COLOURS[status]).all()
    rim = screen[2, W // 2]
    assert tuple(rim) == BANNER_COLOURS[status], "the rim around the camera image has the status colour too"


@pytest.mark.parametrize(
    ("decision", "expected"),
    [(MASK, "Mask OK - please enter"), (NO_MASK, "Please wear a mask"), (MASK_INCORRECT, "Please cover your nose")],
)
def test_each_confirmed_class_gets_its_own_banner_text(decision: str, expected: str) -> None:
    faces = [tracked((100, 100, 250, 300), decision, 1)]
    assert DEFAULT_TEXTS.for_label(DEFAULT_POLICY.worst_label(f.decision for f in faces)) == expected
    with_wrong_mask = [*faces, tracked((300, 100, 450, 300), NO_MASK, 2)]
    assert DEFAULT_TEXTS.for_label(DEFAULT_POLICY.worst_label(f.decision for f in with_wrong_mask)) == (
        "Please wear a mask"
    ), "a bare face in view outranks any other label"


@pytest.mark.parametrize("text", [DEFAULT_TEXTS.mask, DEFAULT_TEXTS.no_mask, DEFAULT_TEXTS.idle])
def test_banner_text_is_large_and_centred(text: str) -> None:
    texts = BannerTexts(mask=text, no_mask=text, idle=text, mask_incorrect=text)
    screen = render_screen(camera_image(), [], W, H, texts)
    rows, cols = white_rows_and_cols(banner(screen))
    assert rows.size and cols.size, "no text in the banner"
    text_height = rows[-1] - rows[0]
    # 7 % of the screen height is ~2 cm on a 22-inch monitor: easily read from 2 m.
    assert text_height >= 0.07 * H, f"text only {text_height} px high"
    assert (cols[-1] - cols[0]) <= 0.95 * W
    assert abs((cols[0] + cols[-1]) / 2 - W / 2) < 0.03 * W
    assert not np.all(screen[:BANNER_TOP] > 230, axis=2).any(), "white only in the banner"


def test_box_is_drawn_where_the_face_is_and_mirrored() -> None:
    image = camera_image(640, 480)  # fills the 1280x720 area above the banner at scale ~1.14, centred
    face = tracked((40, 100, 200, 300), NO_MASK)

    def red_columns(screen: np.ndarray) -> np.ndarray:
        area = screen[20 : BANNER_TOP - 20, 20 : W - 20]
        return np.flatnonzero(np.all(np.abs(area.astype(int) - (0, 0, 230)) < 40, axis=2).any(axis=0)) + 20

    plain = red_columns(render_screen(image, [face], W, H, mirror=False))
    mirrored = red_columns(render_screen(image, [face], W, H, mirror=True))
    assert plain.size and mirrored.size
    assert plain.mean() < W / 2 < mirrored.mean(), "a face on the camera's left is on the screen's right"
    assert abs((plain.mean() - W / 2) + (mirrored.mean() - W / 2)) < 20, "mirror images of each other"


def test_undecided_faces_get_a_box_but_no_verdict() -> None:
    screen = render_screen(camera_image(), [tracked((200, 100, 400, 300), None)], W, H, mirror=False)
    assert (banner(screen)[5, 5] == BANNER_COLOURS[None]).all()
    yellow = np.all(np.abs(screen[:BANNER_TOP].astype(int) - (0, 200, 230)) < 30, axis=2)
    assert yellow.sum() > 500, "the undecided face's box"


def test_portrait_images_are_letterboxed_not_stretched() -> None:
    screen = render_screen(camera_image(300, 600), [], W, H)
    border = round(min(W, H) * 0.012)
    view = screen[border:BANNER_TOP, border : W - border]
    picture = np.flatnonzero(~np.all(view == 0, axis=(0, 2)))
    assert picture.size < view.shape[1] / 2, "black side bars"
    assert (picture[-1] - picture[0] + 1) / view.shape[0] == pytest.approx(0.5, abs=0.01)


def test_render_is_pure() -> None:
    image = camera_image()
    before = image.copy()
    faces = [tracked((100, 100, 200, 200), MASK)]
    first = render_screen(image, faces, W, H)
    assert np.array_equal(image, before)
    assert np.array_equal(first, render_screen(image, faces, W, H))


@pytest.mark.parametrize(
    ("bits", "red_offset", "pixel"),
    [(32, 16, [30, 20, 10, 255]), (32, 0, [10, 20, 30, 255]), (24, 16, [30, 20, 10]), (16, 11, None)],
)
def test_framebuffer_pixel_formats(bits: int, red_offset: int, pixel: list[int] | None) -> None:
    image = np.zeros((4, 6, 3), np.uint8)
    image[2, 3] = (30, 20, 10)  # B, G, R
    bytes_per_pixel = bits // 8
    layout = FramebufferLayout(6, 4, bits, stride=6 * bytes_per_pixel + 8, red_offset=red_offset)
    data = framebuffer_bytes(image, layout)
    assert len(data) == 4 * layout.stride
    start = 2 * layout.stride + 3 * bytes_per_pixel
    if bits == 16:
        value = int.from_bytes(data[start : start + 2], "little")
        assert (value >> 11, (value >> 5) & 0x3F, value & 0x1F) == (10 >> 3, 20 >> 2, 30 >> 3)
    else:
        assert list(data[start : start + bytes_per_pixel]) == pixel
    assert data[layout.stride - 8 : layout.stride] == bytes(8), "row padding"


def test_entrance_screen_writes_whole_frames_to_a_framebuffer_and_blanks_it_on_close(tmp_path: Path) -> None:
    device = tmp_path / "fb0"
    layout = FramebufferLayout(320, 180, 32, stride=320 * 4)
    device.write_bytes(bytes(layout.stride * layout.height))
    screen = EntranceScreen(ScreenConfig(backend="framebuffer"), sink=FramebufferSink(str(device), layout))
    faces = [tracked((100, 100, 300, 300), NO_MASK)]
    image = camera_image()
    screen.on_frame(Frame("1", time.time(), image), faces, LoopStats())
    expected = framebuffer_bytes(render_screen(image, faces, 320, 180), layout)
    assert device.read_bytes() == expected
    pixels = np.frombuffer(device.read_bytes(), np.uint8).reshape(180, 320, 4)
    assert tuple(pixels[175, 5, :3]) == BANNER_COLOURS[DoorState.NOT_OK]
    screen.close()
    assert not any(device.read_bytes()[i] for i in range(0, len(expected), 4)), "blue channel black everywhere"


def test_a_missing_framebuffer_names_the_device(tmp_path: Path) -> None:
    with pytest.raises(OSError, match=r"screen\.device .*fb9.*framebuffer"):
        EntranceScreen(ScreenConfig(backend="framebuffer", device=str(tmp_path / "fb9")))


def test_a_regular_file_is_not_a_framebuffer(tmp_path: Path) -> None:
    (tmp_path / "fb0").write_bytes(b"x")
    with pytest.raises(OSError, match="is not a framebuffer"):
        EntranceScreen(ScreenConfig(backend="framebuffer", device=str(tmp_path / "fb0")))


def test_a_framebuffer_of_a_depth_it_cannot_write_is_refused_when_opened(tmp_path: Path) -> None:
    device = tmp_path / "fb0"
    device.write_bytes(bytes(320 * 180))
    with pytest.raises(DisplayUnavailableError, match=r"screen\.device .*fb0 has 8 bits per pixel; .*16, 24, 32"):
        FramebufferSink(str(device), FramebufferLayout(320, 180, 8, stride=320))


def test_non_ascii_banner_text_is_refused_with_the_config() -> None:
    german = {"no_mask_text": "Bitte Maske tragen \u2013 danke"}
    with pytest.raises(ConfigError, match=r"screen\.no_mask_text: .*ASCII"):
        from_dict({"output": {"display": "screen"}, "screen": german})
    assert from_dict({"screen": german}).screen.no_mask_text == german["no_mask_text"]  # no screen, no check


def test_window_backend_without_a_gui_says_what_to_do() -> None:
    info = cv2.getBuildInformation()
    gui = info.split("GUI:")[1].split("\n")[0].strip() if "GUI:" in info else ""
    if gui not in ("NONE", ""):
        missing(f"this OpenCV has a GUI ({gui}); the error path needs a headless build (opencv-python-headless)")
    with pytest.raises(DisplayUnavailableError, match="framebuffer"):
        EntranceScreen(ScreenConfig(backend="window"))
    from edge.outputs.video import Window

    with pytest.raises(DisplayUnavailableError, match="--display none"):
        Window()


def test_real_image_through_the_real_pipeline(
    model_env: Path, default_classifier: Path, facemask_dir: Path, tmp_path: Path
) -> None:
    from edge import app
    from edge.config import Config
    from edge.pipeline import Pipeline

    config = Config()
    tracker = app.build_tracker(config, per_frame=True)
    pipeline = Pipeline(app.build_detector(config), app.build_classifier(config), tracker)
    for name in ("with_mask/chandrikadeb7_2b367ad6f66d.jpg", "without_mask/chandrikadeb7_1bee6f2399e1.jpg"):
        image = cv2.imread(str(facemask_dir / name))
        faces, _ = pipeline.process(Frame(name, time.time(), image))
        assert len(faces) == 1, f"{name}: YuNet should find the one face"
        screen = render_screen(image, faces, W, H)
        assert (banner(screen)[5, 5] == BANNER_COLOURS[DEFAULT_POLICY.state(faces[0].decision)]).all()
        rows, _ = white_rows_and_cols(banner(screen))
        assert rows[-1] - rows[0] >= 0.07 * H
        assert cv2.imwrite(str(tmp_path / (Path(name).stem + ".png")), screen)


def test_the_screen_outlines_the_door_zone_on_the_side_the_viewer_sees_it():
    from edge.outputs.annotate import AWAY
    from edge.vision.zone import DoorZone

    def away_columns(screen: np.ndarray) -> np.ndarray:
        picture = screen[: round(H * (1 - BANNER_FRACTION)) - 1]  # the banner's anti-aliased text has greys too
        return np.flatnonzero(np.all(picture == AWAY, axis=2).any(axis=0))

    image = np.full((480, 640, 3), (90, 20, 20), np.uint8)
    assert away_columns(render_screen(image, [], W, H, mirror=False)).size == 0, "the whole frame draws no outline"
    left_half = DoorZone(right=0.5)
    plain = away_columns(render_screen(image, [], W, H, mirror=False, zone=left_half))
    mirrored = away_columns(render_screen(image, [], W, H, mirror=True, zone=left_half))
    assert plain.size and plain.max() < W * 0.55, "the region is the camera's left half"
    assert mirrored.size and mirrored.min() > W * 0.45, "mirrored like the picture: the viewer's right half"
