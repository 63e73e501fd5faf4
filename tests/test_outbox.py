"""The on-disk MQTT outbox: order, the bound and its drop counter, and surviving a reopen."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.outputs.outbox import Outbox, OutboxError


def payloads(outbox: Outbox, limit: int = 1000) -> list[bytes]:
    return [m.payload for m in outbox.after(0, limit)]


def test_messages_come_back_in_order_and_leave_when_deleted(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3", max_messages=100)
    ids = [outbox.put("t/event", f"e{i}".encode()) for i in range(5)]
    assert ids == sorted(ids)
    assert payloads(outbox) == [b"e0", b"e1", b"e2", b"e3", b"e4"]
    assert [m.payload for m in outbox.after(ids[1], 2)] == [b"e2", b"e3"]
    outbox.delete(ids[:2])
    assert outbox.depth == 3
    assert payloads(outbox) == [b"e2", b"e3", b"e4"]


def test_bound_drops_the_oldest_and_counts_them_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path, max_messages=3)
    for i in range(5):
        outbox.put("t", f"e{i}".encode())
    assert outbox.depth == 3
    assert outbox.dropped == 2
    assert payloads(outbox) == [b"e2", b"e3", b"e4"]
    outbox.close()

    reopened = Outbox(path, max_messages=3)
    assert reopened.depth == 3
    assert reopened.dropped == 2
    assert payloads(reopened) == [b"e2", b"e3", b"e4"]


def test_messages_being_sent_are_never_dropped(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3", max_messages=3)
    first = outbox.put("t", b"in flight")
    outbox.sending_upto = first
    for i in range(4):
        outbox.put("t", f"e{i}".encode())
    assert payloads(outbox) == [b"in flight", b"e2", b"e3"]
    assert outbox.dropped == 2


def test_ids_are_not_reused_after_the_queue_empties(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path, max_messages=10)
    last = outbox.put("t", b"a")
    outbox.delete([last])
    outbox.close()
    assert Outbox(path, max_messages=10).put("t", b"b") > last


def test_a_message_survives_a_kill_right_after_put(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    script = (
        "import os, signal, sys\n"
        "from edge.outputs.outbox import Outbox\n"
        "box = Outbox(sys.argv[1], 100)\n"
        "for i in range(50): box.put('t', b'e%d' % i)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(path)], timeout=60)
    assert result.returncode == -9
    assert payloads(Outbox(path, max_messages=100)) == [f"e{i}".encode() for i in range(50)]


def corrupt_outboxes(tmp_path: Path) -> list[Path]:
    """A file that is not a database, and a real outbox cut in half (as by a dying SD card)."""
    junk = tmp_path / "junk" / "outbox.sqlite3"
    junk.parent.mkdir()
    junk.write_bytes(b"this is not a database" * 100)
    truncated = tmp_path / "truncated" / "outbox.sqlite3"
    outbox = Outbox(truncated, max_messages=10_000)
    for i in range(2000):
        outbox.put("t", b"x" * 200 + str(i).encode())
    outbox._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    outbox.close()
    with truncated.open("r+b") as file:
        file.truncate(truncated.stat().st_size // 2)
    return [junk, truncated]


def test_a_corrupt_outbox_is_kept_aside_and_a_new_one_made_with_one_error_line(tmp_path: Path, caplog) -> None:
    """Before: exit 2 for good (systemd does not restart it), and with it the whole door off. The messages in a
    damaged file cannot be trusted to be whole; the file is kept for inspection, the door goes on."""
    for path in corrupt_outboxes(tmp_path):
        damaged = path.read_bytes()
        caplog.clear()
        with caplog.at_level("ERROR", logger="edge.outputs.outbox"):
            outbox = Outbox(path, max_messages=10)
        (kept,) = path.parent.glob("outbox.sqlite3.corrupt-*")
        assert kept.read_bytes() == damaged
        assert [r.levelname for r in caplog.records] == ["ERROR"]
        assert str(kept) in caplog.text and str(path) in caplog.text
        assert outbox.depth == 0
        outbox.put("t", b"after")
        assert payloads(outbox) == [b"after"]
        outbox.close()


def test_an_outbox_that_cannot_be_opened_is_still_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    path.mkdir()  # not a damaged database: a person must look (exit 2)
    with pytest.raises(OutboxError, match=str(path)):
        Outbox(path, max_messages=10)


@pytest.mark.parametrize(("fsync", "level"), [(True, 2), (False, 1)])
def test_fsync_sets_sqlites_synchronous_level(tmp_path: Path, fsync: bool, level: int) -> None:
    # FULL (2) puts every message on the medium before put returns; NORMAL (1) risks the last moments on power
    # loss. Nothing short of cutting the power shows the difference, so the connection's setting is read back.
    outbox = Outbox(tmp_path / "outbox.sqlite3", max_messages=10, fsync=fsync)
    assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == level
    assert outbox._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    outbox.close()


def test_a_failed_put_leaves_nothing_behind_and_the_next_put_works(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path, max_messages=10)
    outbox.put("t/event", b"before")
    with pytest.raises(OutboxError, match="cannot write"):
        outbox.put("t/event", object())  # type: ignore[arg-type] # sqlite cannot store it: fails mid-transaction
    assert outbox.depth == 1
    outbox.put("t/event", b"after")
    assert payloads(outbox) == [b"before", b"after"]
    outbox.close()
    reopened = Outbox(path, max_messages=10)
    assert (reopened.depth, payloads(reopened)) == (2, [b"before", b"after"])
    reopened.close()


def test_a_bound_of_one_keeps_the_newest_message(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3", max_messages=1)
    outbox.put("t/a", b"old")
    outbox.put("t/b", b"new")
    assert [(m.topic, m.payload) for m in outbox.after(0, 10)] == [("t/b", b"new")]
    assert (outbox.depth, outbox.dropped) == (1, 1)
    with pytest.raises(ValueError, match="at least 1, got 0"):
        Outbox(tmp_path / "zero.sqlite3", max_messages=0)


def test_one_over_the_bound_drops_exactly_one(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3", max_messages=3)
    ids = [outbox.put("t/event", f"e{i}".encode()) for i in range(4)]
    assert [m.id for m in outbox.after(0, 10)] == ids[1:]
    assert (outbox.depth, outbox.dropped) == (3, 1)


def test_deletes_are_on_disk_for_the_next_process_and_puts_work_from_any_thread(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "state" / "mqtt" / "outbox.sqlite3"  # folders made as needed
    outbox = Outbox(path, max_messages=10)
    ids = [outbox.put("t/event", f"e{i}".encode()) for i in range(3)]
    errors: list[BaseException] = []

    def put_from_the_sender_thread() -> None:
        try:
            outbox.put("t/status", b"online")
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=put_from_the_sender_thread)
    thread.start()
    thread.join(30)
    assert errors == []
    outbox.delete(ids[:2])
    other = Outbox(path, max_messages=10)  # a second connection sees the same queue, as after a restart
    assert [(m.topic, m.payload) for m in other.after(0, 10)] == [("t/event", b"e2"), ("t/status", b"online")]
    other.close()
    outbox.close()


def test_an_outbox_that_fails_under_a_put_or_a_delete_says_which_file(tmp_path: Path) -> None:
    """A failure before the transaction began (here: the connection is gone) is an OutboxError naming the file
    for put and delete alike, not an error from the rollback."""
    outbox = Outbox(tmp_path / "outbox.db", 10)
    outbox.put("t", b"1")
    outbox.close()
    with pytest.raises(OutboxError, match=r"cannot write to the MQTT outbox .*outbox\.db: "):
        outbox.put("t", b"2")
    with pytest.raises(OutboxError, match=r"cannot update the MQTT outbox .*outbox\.db: "):
        outbox.delete([1])


def torn_outbox(path: Path) -> Path:
    """A real outbox whose third page has two bytes of its header zeroed: SQLite opens it, quick_check finds it."""
    outbox = Outbox(path, max_messages=10_000)
    for i in range(300):
        outbox.put("t", b"x" * 200 + str(i).encode())
    outbox._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    outbox.close()
    with path.open("r+b") as file:
        file.seek(4096 * 2 + 3)
        file.write(b"\0\0")
    return path


def test_an_outbox_with_a_torn_page_is_kept_aside_with_the_check_s_verdict(tmp_path: Path, caplog) -> None:
    path = torn_outbox(tmp_path / "outbox.sqlite3")
    with caplog.at_level("ERROR", logger="edge.outputs.outbox"):
        outbox = Outbox(path, max_messages=10)
    assert len(list(tmp_path.glob("outbox.sqlite3.corrupt-*"))) == 1
    assert "quick_check: *** in database main ***" in caplog.text
    assert outbox.depth == 0
    outbox.close()


def test_a_damaged_outbox_is_kept_under_its_time_with_its_wal_and_shm_and_the_new_one_keeps_fsync(
    tmp_path: Path,
) -> None:
    """Another process still holds the damaged file open (its WAL and shared memory stay): all three are kept."""
    path = torn_outbox(tmp_path / "outbox.sqlite3")
    holder = sqlite3.connect(path)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE other (x)")
    try:
        outbox = Outbox(path, max_messages=10, fsync=True)
        (kept,) = tmp_path.glob("outbox.sqlite3.corrupt-*[0-9]")
        assert re.fullmatch(r"outbox\.sqlite3\.corrupt-\d{8}T\d{6}", kept.name), kept.name
        assert kept.with_name(kept.name + "-wal").exists() and kept.with_name(kept.name + "-shm").exists()
        assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2, "FULL, as asked, in the new file too"
        outbox.close()
    finally:
        holder.close()


@pytest.mark.parametrize(("taken", "expected"), [(0, "~1"), (1, "~2"), (2, "~3")])
def test_a_second_damaged_outbox_in_the_same_second_gets_the_next_number(
    tmp_path: Path, taken: int, expected: str
) -> None:
    """The names a damage in this second (or the next two, should the clock tick meanwhile) would take exist
    already, with `taken` numbered ones after them."""
    path = tmp_path / "outbox.sqlite3"
    now = time.time()
    for ahead in range(3):
        stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now + ahead))
        base = tmp_path / f"outbox.sqlite3.corrupt-{stamp}"
        for name in [base.name] + [f"{base.name}~{n}" for n in range(1, taken + 1)]:
            (tmp_path / name).write_bytes(b"earlier damage")
    path.write_bytes(b"this is not a database" * 100)
    Outbox(path, max_messages=10).close()
    (kept,) = [p for p in tmp_path.glob("outbox.sqlite3.corrupt-*") if p.read_bytes() != b"earlier damage"]
    assert kept.name.endswith(expected) and kept.name.count("~") == 1, kept.name


def test_by_default_every_put_is_on_the_medium(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3", max_messages=10)
    assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2
    outbox.close()
