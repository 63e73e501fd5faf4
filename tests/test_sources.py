import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import SourceConfig
from edge.sources import SourceError, describe, open_source
from edge.sources.live import LatestFrameSource, OpenCVCamera
from edge.vision.stats import LoopStats


def write_video(path: Path, frames: int = 12) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), i * 10, np.uint8))
    writer.release()
    return path


def test_source_strings_select_the_right_kind(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "clip.mp4").write_bytes(b"")
    assert describe("0") == describe("/dev/video2") == "camera"
    assert describe("picamera2") == describe("picam:1") == "picamera2"
    assert describe("rtsp://10.0.0.2/stream") == describe("http://cam.local/mjpg") == "stream"
    assert describe(str(tmp_path)) == "folder"
    assert describe(str(tmp_path / "a.jpg")) == "image"
    assert describe(str(tmp_path / "clip.mp4")) == "video"
    with pytest.raises(SourceError, match=r"'missing.mp4': no such file or folder"):
        describe("missing.mp4")


def test_folder_source_yields_one_frame_per_file_named_by_file_and_skips_bad_files(tmp_path):
    cv2.imwrite(str(tmp_path / "b.png"), np.zeros((10, 12, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "c.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "notes.txt").write_text("ignored")
    source = open_source(str(tmp_path), SourceConfig())
    frames = list(source)
    assert [f.id for f in frames] == ["a.jpg", "b.png"]
    assert frames[1].image.shape == (10, 12, 3)
    assert source.skipped == 1 and source.per_frame_decisions


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match="has no image files"):
        open_source(str(tmp_path), SourceConfig())


def test_video_file_source_yields_every_frame_in_order(tmp_path):
    frames = list(open_source(str(write_video(tmp_path / "clip.avi")), SourceConfig()))
    assert [f.id for f in frames] == [str(i) for i in range(12)]
    assert frames[5].image.mean() == pytest.approx(50, abs=3)


def test_a_corrupt_video_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(SourceError, match=r"cannot open video file .*bad.mp4"):
        open_source(str(bad), SourceConfig())


class FlakyCamera:
    """Delivers `frames` frames, then nothing (unplugged); counts how often it was opened."""

    opened = 0

    def __init__(self, frames: int) -> None:
        FlakyCamera.opened += 1
        if FlakyCamera.opened == 2:
            raise OSError("device busy")
        self.left = frames

    def read(self):
        time.sleep(0.002)
        if self.left <= 0:
            return None
        self.left -= 1
        return np.full((4, 4, 3), self.left, np.uint8)

    def close(self) -> None:
        pass


def test_a_camera_that_disappears_is_reopened_with_backoff_and_the_stream_goes_on(caplog):
    FlakyCamera.opened = 0
    source = LatestFrameSource(lambda: FlakyCamera(20), "flaky", reconnect_max_delay=0.05, first_delay=0.01)
    try:
        got = []
        for frame in source:
            got.append(frame)
            if FlakyCamera.opened >= 3 and len(got) >= 3:
                break
    finally:
        source.close()
    assert source.reconnects >= 1
    stats = LoopStats(source=source)
    assert stats.summary()["camera_reconnects"] == source.reconnects, "the run's closing summary reports them"
    assert FlakyCamera.opened >= 3, "failed open (device busy) must be retried"
    assert "unavailable (device busy); retrying" in caplog.text


def test_a_live_source_hands_out_only_the_newest_frame():
    class FastCamera:
        count = 0

        def read(self):
            FastCamera.count += 1
            time.sleep(0.001)
            return np.full((2, 2, 3), FastCamera.count % 256, np.uint8)

        def close(self):
            pass

    source = LatestFrameSource(FastCamera, "fast", reconnect_max_delay=30.0)
    try:
        iterator = iter(source)
        first = next(iterator)
        deadline = time.monotonic() + 30  # a slow pipeline: the camera grabs 20 frames meanwhile
        while FastCamera.count < int(first.id) + 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        second = next(iterator)
    finally:
        source.close()
    assert int(second.id) - int(first.id) > 10, "stale frames must be dropped, not queued"
    assert source.dropped > 10


def test_close_ends_iteration_of_a_live_source_promptly():
    source = LatestFrameSource(lambda: FlakyCamera(0), "dead", reconnect_max_delay=0.05, first_delay=0.01)
    FlakyCamera.opened = 0
    done = threading.Event()

    def consume():
        for _ in source:
            pass
        done.set()

    thread = threading.Thread(target=consume)
    thread.start()
    source.close()
    assert done.wait(3)


def test_opencv_capture_reads_a_stream_like_source(tmp_path):
    camera = OpenCVCamera(str(write_video(tmp_path / "clip.avi")), SourceConfig())
    try:
        assert camera.read().shape == (48, 64, 3)
    finally:
        camera.close()
    with pytest.raises(SourceError, match="cannot open camera"):
        OpenCVCamera(str(tmp_path / "nothing.avi"), SourceConfig())


def test_a_stalled_camera_is_logged_once_then_reminded_and_its_return_is_logged(caplog, monkeypatch):
    """A camera stuck in its read (a frozen driver) gives the loop nothing: one warning, a reminder later, and
    a line when frames flow again; the log names the camera and how long it gave nothing."""
    import edge.sources.live as live

    monkeypatch.setattr(live, "STALL_WARNING_S", 1.5)
    monkeypatch.setattr(live, "STALL_REMINDER_S", 2.0)
    release = threading.Event()

    class FrozenCamera:
        def __init__(self) -> None:
            self.reads = 0

        def read(self):
            self.reads += 1
            if self.reads > 1:
                release.wait(60)
                release.clear()
            return np.zeros((2, 2, 3), np.uint8)

        def close(self):
            release.set()

    caplog.set_level("WARNING", logger="edge.sources.live")
    source = LatestFrameSource(FrozenCamera, "frozen", reconnect_max_delay=30.0)
    got: list = []
    iterator = iter(source)
    got.append(next(iterator))
    consumer = threading.Thread(target=lambda: got.append(next(iterator)), daemon=True)
    consumer.start()
    try:
        deadline = time.monotonic() + 30
        while "still gives no frames" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.1)
        stalls = [r.getMessage() for r in caplog.records if "gives no frames" in r.getMessage()]
        assert stalls[0].startswith("camera frozen gives no frames: none for "), stalls
        assert stalls[1].startswith("camera frozen still gives no frames"), stalls
        assert len(got) == 1
        release.set()
        consumer.join(10)
        assert len(got) == 2
        assert "camera frozen delivers frames again after" in caplog.text
    finally:
        source.close()


def test_a_large_picture_is_decoded_at_a_reduced_size_and_a_huge_file_is_not_read(tmp_path: Path) -> None:
    from edge.sources.files import UnreadableImageError, max_file_bytes, read_image

    big = tmp_path / "big.jpg"
    cv2.imwrite(str(big), np.full((3000, 4000, 3), 90, np.uint8))
    assert read_image(big).shape == (1500, 2000, 3), "4000 px decoded at 1/2, still over DECODE_MIN_SIDE"
    small = tmp_path / "small.jpg"
    cv2.imwrite(str(small), np.full((1500, 3000, 3), 90, np.uint8))
    assert read_image(small).shape == (1500, 3000, 3), "halving would go under DECODE_MIN_SIDE"

    padded = tmp_path / "padded.jpg"
    with padded.open("wb") as file:
        file.write(small.read_bytes())
        file.truncate(max_file_bytes(5_000_000) + 1)
    with pytest.raises(UnreadableImageError, match=r"the file is 24 MB, more than a picture within"):
        read_image(padded, max_pixels=5_000_000)
    assert read_image(padded, max_pixels=0).shape == (1500, 3000, 3), "0 = no limit, as for pixels"


def test_the_border_retry_canvas_is_bounded_and_boxes_map_back(tmp_path: Path) -> None:
    from edge.detectors.common import RETRY_MAX_SIDE, look_framed
    from edge.vision.types import Face

    seen = []

    def detect(canvas: np.ndarray) -> list[Face]:
        seen.append(canvas.shape)
        side = canvas.shape[0]
        return [Face((side * 0.4, side * 0.4, side * 0.6, side * 0.6), 0.9, ((side * 0.5, side * 0.5),) * 5)]

    image = np.zeros((5000, 5000, 3), np.uint8)
    (face,) = look_framed(detect, image, 0.25, min_side=416)
    assert max(seen[0][:2]) <= RETRY_MAX_SIDE
    assert face.box == pytest.approx((1750, 1750, 3250, 3250), abs=5), "the canvas's middle fifth, in image pixels"
    assert face.landmarks[0] == pytest.approx((2500, 2500), abs=5)
    seen.clear()
    look_framed(detect, np.zeros((100, 100, 3), np.uint8), 0.25, min_side=416)
    assert seen[0][:2] == (416, 416), "a small crop is still enlarged to min_side"
