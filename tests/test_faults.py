"""Fault suite (issue 12): hostile files, full disks, silent brokers, signals and people who follow each other,
driven for real: bomb files are made at test time, disk-full comes from RLIMIT_FSIZE in a child process."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.cli import main


def png_bomb(path: Path, side: int) -> Path:
    """A valid 1-bit grey PNG of side x side pixels: a few hundred KB on disk, side**2 * 3 bytes as decoded BGR."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\0" * (1 + (side + 7) // 8)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


@pytest.fixture
def hostile_folder(facemask_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "hostile"
    folder.mkdir()
    png_bomb(folder / "a_bomb_40000.png", 40_000)
    png_bomb(folder / "b_bomb_30000.png", 30_000)
    cv2.imwrite(str(folder / "c_one_pixel.png"), np.zeros((1, 1, 3), np.uint8))
    (folder / "d_text.jpg").write_text("not a picture")
    (folder / "e_empty.png").write_bytes(b"")
    face = sorted((facemask_dir / "without_mask").glob("*.jpg"))[0]
    (folder / "z_face.jpg").write_bytes(face.read_bytes())
    return folder


def test_the_bomb_is_what_it_claims(tmp_path: Path) -> None:
    bomb = png_bomb(tmp_path / "bomb.png", 40_000)
    assert bomb.stat().st_size < 1_000_000
    from edge.sources.files import image_size

    assert image_size(bomb) == (40_000, 40_000)


def log_messages(stderr: str) -> list[str]:
    """The message part of each `time LEVEL logger: message` line maskgate logged."""
    return [line.split(": ", 1)[1] for line in stderr.splitlines() if ": " in line]


def test_run_skips_bombs_and_junk_counts_them_and_finishes_the_folder(
    model_env, hostile_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    events = tmp_path / "events.jsonl"
    assert main(["run", "--source", str(hostile_folder), "--events", str(events)]) == 0
    messages = log_messages(capsys.readouterr().err)
    (done,) = [m for m in messages if m.startswith("done: ")]
    summary = json.loads(done.removeprefix("done: "))
    assert summary["skipped_files"] == 4, "two bombs, a text file and an empty file"
    assert summary["frames"] == 1 and summary["skipped_frames"] == 1, "the face decided; the 1x1 frame skipped"
    assert [json.loads(line)["frame"] for line in events.read_text().splitlines()] == ["z_face.jpg"]
    skips = [m for m in messages if m.startswith("skipping ")]
    assert len(skips) == 5, skips
    assert any("a_bomb_40000.png: 40000x40000 is 1600 MP, over source.max_image_pixels" in s for s in skips)


def test_a_folder_of_only_unreadable_files_is_an_error_not_a_success(model_env, tmp_path: Path) -> None:
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "a.jpg").write_text("text")
    png_bomb(folder / "b.png", 40_000)
    assert main(["run", "--source", str(folder), "--events", "-"]) == 2


def test_classify_goes_through_the_whole_batch(default_classifier, hostile_folder: Path, capsys) -> None:
    assert main(["classify", str(hostile_folder)]) == 1
    printed = [json.loads(line)["file"] for line in capsys.readouterr().out.splitlines()]
    assert [Path(p).name for p in printed] == ["z_face.jpg"], "every bad file skipped, the last one classified"
