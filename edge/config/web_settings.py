"""What the [web] settings mean (the listen address, the password hash file) and their rules, which
edge.config.checks runs with every other rule before anything starts. Standard library only."""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from edge.config.password import PasswordHashError, check_hash
from edge.config.problems import ConfigError, Problem, readable_problem, secret_problem

if TYPE_CHECKING:
    from edge.config.schema import WebConfig

LOOPBACK_NAMES = ("localhost",)
INSTALL_FIX = "pip install 'maskgate[web]'"


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: only this machine can connect."""
    if address.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def allowed_hosts(config: WebConfig) -> tuple[str, ...]:
    """Host names (lower case, IPv6 in brackets) the page answers to without a password: this machine's
    names, the listen address and web.allowed_hosts."""
    address = config.address.strip().lower()
    names = ["localhost", "127.0.0.1", "[::1]", f"[{address}]" if ":" in address else address]
    names += [name.strip().lower() for name in config.allowed_hosts.split(",") if name.strip()]
    return tuple(dict.fromkeys(names))


def writable_problem(key: str, path: Path) -> Problem | None:
    """A password hash others may replace with one of their own: group- or world-writable."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        return Problem(key, f"{path} may be rewritten by others (mode {mode:04o}); fix: chmod go-w {path}")
    return None


def read_hash(config: WebConfig) -> str | None:
    """The stored password hash from web.password_file (its first line), or None when no file is set."""
    if not config.password_file:
        return None
    path = Path(config.password_file).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"web.password_file: cannot read {path}: {getattr(exc, 'strerror', exc)}") from None
    stored = lines[0].strip() if lines else ""
    try:
        check_hash(stored)
    except PasswordHashError as exc:
        raise ConfigError(f"web.password_file: {path}: {exc}; write it with `maskgate web-password {path}`") from None
    return stored


def write_hash(path: Path, stored: str) -> None:
    """Replace `path` atomically with the hash, readable by owner and group only (0640, as the config)."""
    path = path.expanduser()
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o640)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(stored + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def problems(config: WebConfig) -> Iterator[Problem]:
    """Every rule of [web]; checked only when web.enabled turns the page on."""
    if not config.enabled:
        return
    if importlib.util.find_spec("waitress") is None:
        yield Problem("web.enabled", f"is true but waitress is not installed; fix: {INSTALL_FIX}")
    if not config.address.strip():
        yield Problem("web.address", "must not be empty (127.0.0.1 keeps the page on this machine)")
    if config.trusted_proxy.strip():
        try:
            ipaddress.ip_address(config.trusted_proxy.strip())
        except ValueError:
            yield Problem("web.trusted_proxy", f"{config.trusted_proxy!r} is not an IP address (e.g. 127.0.0.1)")
    if config.password_file:
        path = Path(config.password_file).expanduser()
        if problem := (
            readable_problem("web.password_file", path)
            or secret_problem("web.password_file", path)
            or writable_problem("web.password_file", path)
        ):
            yield problem
            return
        try:
            read_hash(config)
        except ConfigError as exc:
            yield Problem("web.password_file", str(exc).removeprefix("web.password_file: "))
    elif not is_loopback(config.address):
        yield Problem(
            "web.address",
            f"{config.address!r} lets other machines connect, so the page needs a password: "
            "run `maskgate web-password FILE` and set web.password_file = FILE",
        )
