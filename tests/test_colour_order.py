"""Colour-order contract: every source hands the pipeline BGR, and the screen, the recorder and snapshots show
the scene's true colour.

The scene is one saturated colour with three different channel values, so any channel permutation shows.
Picamera2 is replaced by a fake that fills frames in the byte order the Picamera2 manual documents for each
format, and that has exactly the methods (and parameters) the real class has for what the source calls.
"""

from __future__ import annotations

import ast
import inspect
import io
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import pytest
from PIL import Image

from edge.config import Config, EventsConfig, ScreenConfig, SourceConfig
from edge.health.doctor import check_camera
from edge.outputs.screen import EntranceScreen
from edge.outputs.screen.framebuffer import FramebufferLayout, FramebufferSink
from edge.outputs.snapshots import Snapshots
from edge.outputs.video import Recorder
from edge.sources import Source, SourceError, open_source
from edge.sources.live import LatestFrameSource, OpenCVCamera, Picamera2Camera
from edge.sources.picamera_formats import PIXEL_BYTES, STREAM_FORMAT
from edge.vision.stats import LoopStats
from edge.vision.types import Decision, Face, Frame, TrackedFace

SCENE_RGB = (220, 40, 90)
SCENE_BGR = SCENE_RGB[::-1]
WIDTH, HEIGHT = 160, 120
CODEC_TOLERANCE = 12
"""JPEG (MJPG video, snapshots) on a flat colour: a few levels per channel; a channel swap is off by 130."""

MANUAL_BYTE_ORDER = {"RGB888": "BGR", "BGR888": "RGB", "XRGB8888": "BGRA", "XBGR8888": "RGBA"}
"""Picamera2 manual, appendix A "Pixel and image formats", table 1: the bytes of a pixel as capture_array's last
axis holds them (A is fixed at 255). Written down here independently of edge/sources/picamera_formats.py."""

# Names the real picamera2 accepts for a main stream: picamera2/formats.py (raspberrypi/picamera2 at
# 06a39eaeb51ffb0f1ef083f1bec03398531860cf) RGB_FORMATS and YUV_FORMATS; Picamera2.check_stream_config also
# allows "MJPEG" and raises RuntimeError("Bad format ...") for anything else.
REAL_RGB_FORMATS = {"BGR888", "RGB888", "XBGR8888", "XRGB8888", "RGB161616", "BGR161616"}
REAL_MAIN_FORMATS = REAL_RGB_FORMATS | {"NV21", "NV12", "YUV420", "YVU420", "YVYU", "YUYV", "UYVY", "VYUY", "MJPEG"}
REAL_STREAM_KEYS = ("format", "size", "stride", "preserve_ar")
"""Picamera2._make_initial_stream_config: any other key raises ValueError("Bad key ...")."""

# The methods of class Picamera2 that Picamera2Camera calls, as defined in picamera2/picamera2.py of
# raspberrypi/picamera2 at commit ec9ab36d87979f4ea4fc247772da39f99f79d5d2 (read through the code index; the
# older stored version 02632f285e04597efc69b4a0dd43ffcd5390801d has no `allocator` in __init__).
REAL_SIGNATURES = {
    "__init__": "(self, camera_num=0, verbose_console=None, tuning=None, allocator=None)",
    "create_video_configuration": (
        "(self, main={}, lores=None, raw={}, transform=libcamera.Transform(), colour_space=None, buffer_count=6, "
        "controls={}, display='main', encode='main', queue=True, sensor={}, use_case='video')"
    ),
    "configure": "(self, camera_config=None)",
    "camera_configuration": "(self)",
    "start": "(self, config=None, show_preview=False)",
    "capture_array": "(self, name='main', wait=None, signal_function=None)",
    "stop": "(self)",
    "close": "(self)",
}

EMPTY: Mapping[str, object] = types.MappingProxyType({})
LIBCAMERA_TRANSFORM = object()
"""Stands in for the default libcamera.Transform(), which needs libcamera."""


class FakePicamera2:
    """Only the methods above, with the real parameter names and defaults; __slots__ and no __getattr__, so a call
    or attribute the real class lacks fails with AttributeError."""

    __slots__ = ("_config", "_started", "camera_num", "closed", "last_array")
    made: ClassVar[list[FakePicamera2]] = []
    libcamera_picks: ClassVar[str | None] = None
    """A main format libcamera substitutes for the requested one (configure reports it), or None."""

    def __init__(self, camera_num=0, verbose_console=None, tuning=None, allocator=None):
        self.camera_num = camera_num
        self._config: dict | None = None
        self._started = False
        self.closed = False
        self.last_array: np.ndarray | None = None
        FakePicamera2.made.append(self)

    def create_video_configuration(
        self,
        main=EMPTY,
        lores=None,
        raw=EMPTY,
        transform=LIBCAMERA_TRANSFORM,
        colour_space=None,
        buffer_count=6,
        controls=EMPTY,
        display="main",
        encode="main",
        queue=True,
        sensor=EMPTY,
        use_case="video",
    ):
        for key in main:
            if key not in REAL_STREAM_KEYS:
                raise ValueError(f"Bad key {key!r}: valid stream configuration keys are {REAL_STREAM_KEYS}")
        return {
            "use_case": use_case,
            "buffer_count": buffer_count,
            "main": {"format": "XBGR8888", "size": (1280, 720), "preserve_ar": True, **main},
            "lores": lores,
            "controls": dict(controls),
            "display": display,
            "encode": encode,
        }

    def configure(self, camera_config=None):
        if self._started:
            raise RuntimeError("Camera must be stopped before configuring")
        main = camera_config["main"]
        if not isinstance(main["format"], str) or main["format"] not in REAL_MAIN_FORMATS:
            raise RuntimeError(f"Bad format {main['format']} in stream main")
        width, height = main["size"]
        if width % 2 or height % 2:
            raise RuntimeError("width and height should be even")
        self._config = {**camera_config, "main": {**main, "format": self.libcamera_picks or main["format"]}}

    def camera_configuration(self):
        return self._config

    def start(self, config=None, show_preview=False):
        if self._config is None:
            raise RuntimeError("Camera has not been configured")
        self._started = True

    def capture_array(self, name="main", wait=None, signal_function=None):
        assert self._started, "capture_array before start would block forever on a real camera"
        time.sleep(0.002)  # the real call waits for the next frame
        stream = self._config[name]
        channel = dict(zip("RGB", SCENE_RGB, strict=True)) | {"A": 255}
        pixel = [channel[c] for c in MANUAL_BYTE_ORDER[stream["format"]]]
        width, height = stream["size"]
        self.last_array = np.full((height, width, len(pixel)), pixel, np.uint8)
        return self.last_array

    def stop(self):
        self._started = False

    def close(self):
        self.stop()
        self.closed = True


@pytest.fixture
def fake_picamera2(monkeypatch) -> type[FakePicamera2]:
    module = types.ModuleType("picamera2")
    module.Picamera2 = FakePicamera2
    monkeypatch.setitem(sys.modules, "picamera2", module)
    monkeypatch.setattr(FakePicamera2, "made", [])
    return FakePicamera2


def signature_of_source(text: str) -> list[tuple[str, object]]:
    """(name, default) per parameter of a recorded signature; a default that is not a literal is `...`."""
    arguments = ast.parse(f"def f{text}: pass").body[0].args
    assert not (arguments.vararg or arguments.kwarg or arguments.kwonlyargs or arguments.posonlyargs)
    defaults = [inspect.Parameter.empty] * (len(arguments.args) - len(arguments.defaults))
    for node in arguments.defaults:
        try:
            defaults.append(ast.literal_eval(node))
        except ValueError:
            defaults.append(...)
    return [(a.arg, d) for a, d in zip(arguments.args, defaults, strict=True)]


def test_the_fake_camera_has_the_real_picamera2_signatures() -> None:
    public = {name for name in vars(FakePicamera2) if callable(vars(FakePicamera2)[name]) and name != "__init__"}
    assert public | {"__init__"} == set(REAL_SIGNATURES), "the fake may only offer methods recorded from the source"
    for name, recorded in REAL_SIGNATURES.items():
        parameters = inspect.signature(getattr(FakePicamera2, name)).parameters.values()
        assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters), name
        fake = [(p.name, p.default) for p in parameters]
        real = signature_of_source(recorded)
        assert [n for n, _ in fake] == [n for n, _ in real], name
        for (parameter, fake_default), (_, real_default) in zip(fake, real, strict=True):
            if real_default is ...:
                assert fake_default is not inspect.Parameter.empty, f"{name}({parameter}) needs a default"
            else:
                assert fake_default == real_default, f"{name}({parameter}) default"


def test_the_fake_camera_refuses_what_the_real_api_lacks(fake_picamera2) -> None:
    camera = fake_picamera2(0)
    with pytest.raises(AttributeError):
        camera.capture_frame()  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        camera.format = "RGB888"  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        fake_picamera2(index=0)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="Bad key 'fmt'"):
        camera.create_video_configuration(main={"fmt": "RGB888"})
    for wrong in ("BGR", "bgr888", "RGB24"):
        with pytest.raises(RuntimeError, match=f"Bad format {wrong}"):
            camera.configure(camera.create_video_configuration(main={"format": wrong, "size": (64, 48)}))
    with pytest.raises(RuntimeError, match="not been configured"):
        camera.start()


def test_the_format_table_is_the_manuals() -> None:
    assert {name: "".join(b if b != "255" else "A" for b in layout) for name, layout in PIXEL_BYTES.items()} == (
        MANUAL_BYTE_ORDER
    )
    assert set(PIXEL_BYTES) <= REAL_RGB_FORMATS
    assert MANUAL_BYTE_ORDER[STREAM_FORMAT] == "BGR", "the requested format is OpenCV's order: no conversion"


def test_the_pi_camera_is_asked_for_rgb888_and_its_frames_pass_unconverted(fake_picamera2) -> None:
    camera = Picamera2Camera(0, SourceConfig(width=WIDTH, height=HEIGHT))
    try:
        (fake,) = fake_picamera2.made
        assert fake.camera_configuration()["main"]["format"] == "RGB888"
        image = camera.read()
        assert image is fake.last_array, "bytes [B, G, R] are already BGR: no copy, no conversion"
        assert tuple(image[HEIGHT // 2, WIDTH // 2]) == SCENE_BGR
    finally:
        camera.close()
    assert fake.closed


@pytest.mark.parametrize("stream_format", sorted(MANUAL_BYTE_ORDER))
def test_every_picamera2_format_reaches_the_pipeline_as_bgr(fake_picamera2, stream_format: str) -> None:
    camera = Picamera2Camera(0, SourceConfig(width=WIDTH, height=HEIGHT), stream_format)
    try:
        image = camera.read()
    finally:
        camera.close()
    assert image.shape == (HEIGHT, WIDTH, 3)
    assert {tuple(p) for p in image.reshape(-1, 3)} == {SCENE_BGR}


def test_a_format_libcamera_substitutes_without_a_conversion_is_refused(fake_picamera2, monkeypatch) -> None:
    monkeypatch.setattr(FakePicamera2, "libcamera_picks", "YUV420")
    with pytest.raises(SourceError, match="libcamera set the main stream to YUV420"):
        Picamera2Camera(0, SourceConfig(width=WIDTH, height=HEIGHT))
    assert fake_picamera2.made[0].closed, "a camera that will not be used is released"


def test_an_unknown_stream_format_is_refused_before_the_camera_opens(fake_picamera2) -> None:
    with pytest.raises(SourceError, match="'BGR' is not one of RGB888"):
        Picamera2Camera(0, SourceConfig(), "BGR")
    assert fake_picamera2.made == []


def scene_bgr_image() -> np.ndarray:
    return np.full((HEIGHT, WIDTH, 3), SCENE_BGR, np.uint8)


def write_scene_video(path: Path) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (WIDTH, HEIGHT))
    for _ in range(5):
        writer.write(scene_bgr_image())
    writer.release()
    return path


def first_jpeg_in(data: bytes) -> np.ndarray:
    """The first JPEG in a file (an MJPG .avi holds one per frame), decoded to RGB by Pillow, not OpenCV."""
    start = data.index(b"\xff\xd8\xff")
    return np.asarray(Image.open(io.BytesIO(data[start:])).convert("RGB"))


def first_image(source: Source) -> np.ndarray:
    """The first frame's image; a live source is read in a thread so that a camera that never delivers fails
    the test instead of hanging it."""
    got: list[Frame | None] = []
    reader = threading.Thread(target=lambda: got.append(next(iter(source), None)), daemon=True)
    reader.start()
    reader.join(10)
    source.close()
    reader.join(5)
    assert got and got[0] is not None, "the source delivered no frame"
    return got[0].image


def open_picamera2(stream_format: str) -> Callable[[Path], Source]:
    def make(_: Path) -> Source:
        config = SourceConfig(width=WIDTH, height=HEIGHT)
        if stream_format == STREAM_FORMAT:
            return open_source("picamera2", config)
        camera = partial(Picamera2Camera, 0, config, stream_format)
        return LatestFrameSource(camera, f"picamera2 {stream_format}", config.reconnect_max_delay)

    return make


def open_video_file(tmp_path: Path) -> Source:
    return open_source(str(write_scene_video(tmp_path / "scene.avi")), SourceConfig())


def open_capture(tmp_path: Path) -> Source:
    """The USB camera / stream path: cv2.VideoCapture in the live source's grab thread."""
    video = str(write_scene_video(tmp_path / "scene.avi"))
    return LatestFrameSource(lambda: OpenCVCamera(video, SourceConfig()), "capture", 30.0)


def write_scene_png(folder: Path) -> Path:
    """Written by Pillow from RGB values, so the file's colour does not depend on OpenCV's channel order."""
    folder.mkdir()
    path = folder / "scene.png"
    Image.fromarray(np.full((HEIGHT, WIDTH, 3), SCENE_RGB, np.uint8), "RGB").save(path)
    return path


def open_image_folder(tmp_path: Path) -> Source:
    return open_source(str(write_scene_png(tmp_path / "photos").parent), SourceConfig())


def open_image_file(tmp_path: Path) -> Source:
    return open_source(str(write_scene_png(tmp_path / "photos")), SourceConfig())


SOURCES: dict[str, tuple[Callable[[Path], Source], int]] = {
    **{f"picamera2-{name}": (open_picamera2(name), 0) for name in sorted(MANUAL_BYTE_ORDER)},
    "video-file": (open_video_file, CODEC_TOLERANCE),
    "usb-or-stream-capture": (open_capture, CODEC_TOLERANCE),
    "image-folder": (open_image_folder, 0),
    "image-file": (open_image_file, 0),
}
"""How to open each source on the scene, and how far its pixels may stray from the scene (lossy files)."""


@pytest.fixture(params=sorted(SOURCES))
def scene_frame(request, tmp_path, fake_picamera2) -> tuple[Frame, int]:
    """The first frame a source hands the pipeline, and the tolerance for its source."""
    opener, tolerance = SOURCES[request.param]
    image = first_image(opener(tmp_path))
    return Frame("0", time.time(), image), tolerance


def assert_scene(pixels: np.ndarray, order: str, tolerance: int, where: str) -> None:
    expected = np.array(SCENE_BGR if order == "BGR" else SCENE_RGB, float)
    mean = pixels.reshape(-1, 3).astype(float).mean(axis=0)
    assert np.abs(mean - expected).max() <= tolerance, f"{where}: {order} {mean.round()} for scene {expected}"


def centre(image: np.ndarray, half: int = 4) -> np.ndarray:
    y, x = image.shape[0] // 2, image.shape[1] // 2
    return image[y - half : y + half, x - half : x + half]


def test_the_scene_files_hold_the_scene_colour(tmp_path) -> None:
    """The fixtures themselves, read without OpenCV: the video's first JPEG and the PNG decode to the scene."""
    assert_scene(centre(first_jpeg_in(write_scene_video(tmp_path / "v.avi").read_bytes())), "RGB", 12, "video")
    assert_scene(centre(np.asarray(Image.open(write_scene_png(tmp_path / "p")))), "RGB", 0, "png")


def test_every_source_hands_the_pipeline_the_scene_in_bgr(scene_frame) -> None:
    frame, tolerance = scene_frame
    assert frame.image.shape == (HEIGHT, WIDTH, 3) and frame.image.dtype == np.uint8
    assert_scene(frame.image, "BGR", tolerance, "whole frame")


BARE = "no_mask"
"""The classifier's label for a bare face: drawn red, and it triggers a snapshot."""
FACE = TrackedFace(Face((4, 4, 40, 44), 0.9), 1, BARE, 0.9, BARE)
"""A confirmed bare face in the top-left corner: boxes and labels are drawn, the centre stays the scene."""


class CaptureSink:
    """What the window backend would hand cv2.imshow, which takes BGR."""

    width, height = 320, 240

    def __init__(self) -> None:
        self.shown: list[np.ndarray] = []

    def show(self, image: np.ndarray) -> None:
        self.shown.append(image)

    def close(self) -> None:
        pass


def camera_region_centre(screen: np.ndarray) -> np.ndarray:
    """Centre of the picture above the banner (bottom quarter) with its coloured rim."""
    y, x = round(screen.shape[0] * 0.38), screen.shape[1] // 2
    return screen[y - 4 : y + 4, x - 4 : x + 4]


def test_the_entrance_screen_shows_the_scene_colour(scene_frame) -> None:
    frame, tolerance = scene_frame
    sink = CaptureSink()
    EntranceScreen(ScreenConfig(), sink=sink).on_frame(frame, [FACE], LoopStats())
    assert_scene(camera_region_centre(sink.shown[0]), "BGR", tolerance, "image for the window")


def test_the_entrance_screen_framebuffer_shows_the_scene_colour(scene_frame, tmp_path) -> None:
    frame, tolerance = scene_frame
    device = tmp_path / "fb0"
    layout = FramebufferLayout(320, 240, 32, stride=320 * 4, red_offset=16)
    device.write_bytes(bytes(layout.stride * layout.height))
    screen = EntranceScreen(ScreenConfig(backend="framebuffer"), sink=FramebufferSink(str(device), layout))
    screen.on_frame(frame, [FACE], LoopStats())
    # red at bit 16 of a little-endian 32-bit word: bytes B, G, R, A in memory
    pixels = np.frombuffer(device.read_bytes(), np.uint8).reshape(240, 320, 4)
    screen.close()
    assert_scene(camera_region_centre(pixels[..., [2, 1, 0]]), "RGB", tolerance, "framebuffer")


def test_the_recorded_video_shows_the_scene_colour(scene_frame, tmp_path) -> None:
    frame, tolerance = scene_frame
    recorder = Recorder(str(tmp_path / "record.avi"))
    for _ in range(3):
        recorder.on_frame(frame, [FACE], LoopStats())
    recorder.close()
    assert_scene(centre(first_jpeg_in((tmp_path / "record.avi").read_bytes())), "RGB", tolerance + 12, "video")
    capture = cv2.VideoCapture(str(tmp_path / "record.avi"))
    ok, played = capture.read()
    capture.release()
    assert ok
    assert_scene(centre(played), "BGR", tolerance + 12, "video played back by OpenCV")


def test_recorded_frame_images_show_the_scene_colour(scene_frame, tmp_path) -> None:
    frame, tolerance = scene_frame
    Recorder(str(tmp_path / "frames")).on_frame(frame, [FACE], LoopStats())
    (written,) = (tmp_path / "frames").iterdir()
    assert_scene(centre(np.asarray(Image.open(written).convert("RGB"))), "RGB", tolerance + 12, str(written.name))


def test_snapshots_show_the_scene_colour(scene_frame, tmp_path) -> None:
    frame, tolerance = scene_frame
    snapshots = Snapshots(tmp_path / "snapshots", EventsConfig())
    snapshots.on_decision(Decision(frame.id, time.time(), FACE.track, FACE.face.box, BARE, 0.9))
    snapshots.on_frame(frame, [FACE], LoopStats())
    (jpeg,) = snapshots.files()
    assert_scene(centre(np.asarray(Image.open(jpeg).convert("RGB"))), "RGB", tolerance + 12, "snapshot")


def test_doctor_names_the_stream_format_and_its_byte_order(fake_picamera2) -> None:
    config = Config()
    config.source.uri = "picamera2"
    check = check_camera(config)
    assert check.ok is True
    assert check.detail == (
        "picamera2 importable; stream format RGB888 = bytes [B, G, R] per pixel, OpenCV BGR order, no conversion"
    )
    camera = Picamera2Camera(0, SourceConfig(width=WIDTH, height=HEIGHT))
    camera.close()
    assert fake_picamera2.made[0].camera_configuration()["main"]["format"] in check.detail, "doctor names what runs"


def test_doctor_fails_when_picamera2_is_missing(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)
    config = Config()
    config.source.uri = "picamera2"
    check = check_camera(config)
    assert check.ok is False and "python3-picamera2" in check.fix


def test_the_doctor_camera_line_does_not_load_opencv() -> None:
    code = (
        "import sys, types; sys.modules['picamera2'] = types.ModuleType('picamera2')\n"
        "from edge.config import Config; from edge.health.doctor import check_camera\n"
        "config = Config(); config.source.uri = 'picamera2'; print(check_camera(config).detail)\n"
        "print(sorted(m for m in ('cv2', 'numpy') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    detail, heavy = result.stdout.strip().splitlines()
    assert "stream format RGB888 = bytes [B, G, R]" in detail
    assert heavy == "[]"
