"""The door page's password hash: salted scrypt, one line `scrypt$n$r$p$salt$digest` in the file
web.password_file names. `maskgate web-password` writes it, edge.config.web_settings checks its form before
anything starts, and the door page (edge.web.server) verifies a login against it.

Stdlib only (hashlib.scrypt, secrets, hmac): nothing here needs a third-party library.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
"""About 16 MiB and tens of ms per hash on a Pi: slow for a guesser, fine for one login."""
HASH_SCHEME = "scrypt"
MAX_N = 2**20
MAX_MEMORY = 64 * 1024 * 1024
"""A hash file asking for more scrypt memory than this is refused: a login must not exhaust a Pi Zero."""


class PasswordHashError(ValueError):
    """A stored password hash is not in the `scrypt$n$r$p$salt$digest` form."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, salt: bytes | None = None) -> str:
    if not password:
        raise ValueError("the door-page password must not be empty")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return f"{HASH_SCHEME}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != HASH_SCHEME:
        # never quote the line: it may be the password itself, written there by mistake
        raise PasswordHashError("the first line is not a password hash (scrypt$n$r$p$salt$digest)")
    try:
        n, r, p = (int(value) for value in parts[1:4])
        salt, expected = _unb64(parts[4]), _unb64(parts[5])
    except ValueError as error:
        raise PasswordHashError(f"password hash has a bad field: {error}") from error
    if n < 2 or n & (n - 1) or n > MAX_N or not 1 <= r <= 32 or not 1 <= p <= 16 or 128 * n * r > MAX_MEMORY:
        raise PasswordHashError(f"password hash has scrypt parameters n={n} r={r} p={p} out of range")
    if len(salt) < 8 or len(expected) < 16:
        raise PasswordHashError("password hash has a salt under 8 or a digest under 16 bytes")
    return n, r, p, salt, expected


def check_hash(stored: str) -> None:
    """Raise PasswordHashError unless `stored` is a hash verify_password can use (read at start, not at login)."""
    _parse(stored)


def verify_password(password: str, stored: str) -> bool:
    n, r, p, salt, expected = _parse(stored)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=MAX_MEMORY + 1024 * 1024
    )
    return hmac.compare_digest(digest, expected)
