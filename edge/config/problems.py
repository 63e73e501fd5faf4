"""What a config rule reports: a Problem under its key, many of them in one ConfigError, and the rules every
section uses for the files it names (readable, not open to every user). Imports only edge.errors: every other
module of edge.config imports this one."""

from __future__ import annotations

import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edge.errors import SetupError


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the config, under the key that holds it."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class ConfigError(SetupError, ValueError):
    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)

    @classmethod
    def of(cls, problems: Sequence[Problem], where: str = "") -> ConfigError:
        text = str(problems[0]) if len(problems) == 1 else f"{len(problems)} problems: " + "; ".join(map(str, problems))
        return cls(f"{where}: {text}" if where else text, problems)


class ConfigFileError(ConfigError):
    """The file itself cannot be read as TOML; `reason` says why without repeating its path."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def readable_problem(key: str, path: Path) -> Problem | None:
    """A problem when the file `key` names is missing, not a file, or unreadable by this user."""
    try:
        with path.open("rb"):
            return None
    except ValueError:  # a NUL in the name: the per-key check reports it, this keeps the rest going
        return Problem(key, "the file name contains a NUL byte")
    except OSError as exc:
        return Problem(key, f"cannot read {path}: {exc.strerror or exc}")


def secret_problem(key: str, path: Path) -> Problem | None:
    """A secret readable by every user of the machine. Group-readable stays allowed: the service reads its
    files as root:maskgate 0640, like the config."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        return Problem(key, f"{path} is open to every user (mode {mode:04o}); fix: chmod o-rw {path}")
    return None
