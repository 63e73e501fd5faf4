"""Reading a config file without trusting it: only a regular file, at most MAX_CONFIG_BYTES, and bounded in how
deep it nests and how many parts a dotted key has before tomllib sees it (tomllib recurses once per level, and
its time grows with the square of a dotted key's parts: 4 KB of `[` is a RecursionError, 100 KB of `a.a.a...`
takes minutes and gigabytes). Standard library only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from edge.config.problems import ConfigFileError

MAX_CONFIG_BYTES = 1_000_000
"""A real config is a few KB; the whole reference config with every comment is under 40 KB."""
MAX_NESTING = 32
"""Arrays and inline tables open at once; the config's own values never nest deeper than 2."""
MAX_KEY_PARTS = 64
"""Parts of one dotted key (`section.key` is 2): at most this many dots on a line, outside strings."""


def read_config_text(path: Path) -> str:
    """The file's text, newlines made `\\n` (as Path.read_text does); a ConfigFileError when it is not a regular
    file, too large, not UTF-8 or nests too deep. FileNotFoundError and other OSErrors propagate."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))  # a FIFO must not block the open
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            reason = f"{kind}; fix: pass --config a TOML file"
            raise ConfigFileError(f"config file {path} is {reason}", reason)
        chunks, size = [], 0
        while size <= MAX_CONFIG_BYTES and (chunk := os.read(fd, 65536)):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > MAX_CONFIG_BYTES:
        reason = f"larger than {MAX_CONFIG_BYTES} bytes (a config is a few KB)"
        raise ConfigFileError(f"config file {path} is {reason}", reason)
    try:
        text = b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(f"config file {path} is not valid TOML: {exc}", f"not valid TOML: {exc}") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if reason := nesting_problem(text):
        raise ConfigFileError(f"config file {path} is not a config: {reason}", f"not a config: {reason}")
    return text


def nesting_problem(text: str) -> str:
    """Why the text nests too deep or has too long a dotted key, or "". A quick scan, not a TOML parser: it skips
    comments and one-line strings and counts every other dot of a line (the config's values are scalars, so only
    keys and floats have dots); multi-line strings (none in a config) are scanned as if they were values."""
    depth = 0
    for number, line in enumerate(text.split("\n"), 1):
        quote, escaped, dots = "", False, 0
        for char in line:
            if quote:
                if escaped:
                    escaped = False
                elif char == "\\" and quote == '"':
                    escaped = True
                elif char == quote:
                    quote = ""
            elif char in "\"'":
                quote = char
            elif char == "#":
                break
            elif char in "[{":
                depth += 1
                if depth > MAX_NESTING:
                    return f"line {number} nests more than {MAX_NESTING} arrays or tables deep"
            elif char in "]}":
                depth = max(depth - 1, 0)
            elif char == ".":
                dots += 1
                if dots >= MAX_KEY_PARTS:
                    return f"line {number} has a dotted key of more than {MAX_KEY_PARTS} parts"
    return ""
