"""Door-page login pieces: password hashes, session expiry, login rate limit, and the frame gate."""

from __future__ import annotations

import pytest

from edge.config.password import PasswordHashError, check_hash, hash_password, verify_password
from edge.web.auth import MAX_CLIENTS, LoginRateLimit, SessionStore
from edge.web.frame_gate import FrameGate


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_hash_verifies_only_the_right_password() -> None:
    stored = hash_password("door-2026")
    assert stored.startswith("scrypt$")
    assert "door-2026" not in stored
    assert verify_password("door-2026", stored)
    assert not verify_password("door-2025", stored)


def test_hash_is_salted() -> None:
    assert hash_password("same") != hash_password("same")
    assert hash_password("same", salt=b"s" * 16) == hash_password("same", salt=b"s" * 16)


def test_empty_password_and_bad_hash_are_refused() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        hash_password("")
    with pytest.raises(PasswordHashError, match="scrypt"):
        verify_password("x", "pbkdf2$1$2")
    with pytest.raises(PasswordHashError, match="bad field"):
        verify_password("x", "scrypt$many$8$1$abc$def")


def test_sessions_expire() -> None:
    clock = FakeClock()
    sessions = SessionStore(lifetime_s=60, clock=clock)
    token = sessions.create()
    assert sessions.valid(token)
    assert not sessions.valid("forged") and not sessions.valid(None)
    clock.now += 59
    assert sessions.valid(token)
    clock.now += 2
    assert not sessions.valid(token)


def test_ended_session_is_invalid() -> None:
    sessions = SessionStore()
    token = sessions.create()
    sessions.end(token)
    assert not sessions.valid(token)


def test_login_rate_limit_per_client_and_window() -> None:
    clock = FakeClock()
    limit = LoginRateLimit(attempts=3, window_s=60, clock=clock)
    assert [limit.allow("10.0.0.5") for _ in range(4)] == [True, True, True, False]
    assert limit.allow("10.0.0.6")
    clock.now += 61
    assert limit.allow("10.0.0.5")


def test_frame_gate_is_shut_without_a_viewer() -> None:
    clock = FakeClock()
    gate = FrameGate(max_fps=2, viewer_timeout_s=5, clock=clock)
    assert not gate.due()
    gate.viewer_seen()
    assert gate.due()
    assert not gate.due()
    clock.now += 0.4
    assert not gate.due()
    clock.now += 0.2
    assert gate.due()
    clock.now += 6
    assert not gate.due()


def test_frame_gate_counts_encodes_at_its_rate() -> None:
    clock = FakeClock()
    gate = FrameGate(max_fps=2, viewer_timeout_s=5, clock=clock)
    encoded = 0
    for _ in range(300):  # 10 s at 30 fps, the viewer polling every frame
        gate.viewer_seen()
        encoded += gate.due()
        clock.now += 1 / 30
    assert 19 <= encoded <= 21


def test_frame_gate_rejects_zero_rate() -> None:
    with pytest.raises(ValueError, match="max_fps"):
        FrameGate(max_fps=0)


def test_hash_with_huge_or_odd_scrypt_parameters_is_refused_before_hashing() -> None:
    salt, digest = "c2FsdHNhbHQ", "ZGlnZXN0ZGlnZXN0ZGlnZXN0"
    for n, r, p in ((2**40, 8, 1), (3000, 8, 1), (2**14, 64, 1), (2**14, 8, 99)):
        with pytest.raises(PasswordHashError, match="out of range"):
            check_hash(f"scrypt${n}${r}${p}${salt}${digest}")
    with pytest.raises(PasswordHashError, match="salt under 8"):
        check_hash(f"scrypt$16384$8$1$c2FsdA${digest}")
    check_hash(hash_password("fine-password"))


def test_sessions_are_capped_oldest_first() -> None:
    clock = FakeClock()
    sessions = SessionStore(lifetime_s=60, max_sessions=3, clock=clock)
    tokens = []
    for _ in range(4):
        tokens.append(sessions.create())
        clock.now += 1
    assert [sessions.valid(token) for token in tokens] == [False, True, True, True]


def test_login_rate_limit_forgets_quiet_clients_so_many_addresses_cannot_fill_memory() -> None:
    clock = FakeClock()
    limit = LoginRateLimit(attempts=1, window_s=60, clock=clock)
    for index in range(MAX_CLIENTS + 200):
        assert limit.allow(f"10.1.{index // 256}.{index % 256}")
    assert len(limit._recent) <= MAX_CLIENTS
    assert not limit.allow(f"10.1.{(MAX_CLIENTS + 199) // 256}.{(MAX_CLIENTS + 199) % 256}")  # the newest kept


def _hash_line(n: int = 2**14, r: int = 8, p: int = 1, salt: bytes = b"s" * 16, digest: bytes = b"d" * 32) -> str:
    import base64

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    return f"scrypt${n}${r}${p}${b64(salt)}${b64(digest)}"


@pytest.mark.parametrize(
    ("fields", "good"),
    [
        ({"n": 2}, True),
        ({"n": 1}, False),
        ({"n": 3}, False),
        ({"n": 2**15 - 2}, False),
        ({"r": 1}, True),
        ({"r": 32, "n": 2**10}, True),
        ({"r": 0}, False),
        ({"r": 33, "n": 2**10}, False),
        ({"p": 1}, True),
        ({"p": 16}, True),
        ({"p": 0}, False),
        ({"p": 17}, False),
        ({"n": 2**19, "r": 1}, True),  # 64 MiB: the most a login may use
        ({"n": 2**19, "r": 2}, False),
        ({"salt": b"s" * 8}, True),
        ({"salt": b"s" * 7}, False),
        ({"digest": b"d" * 16}, True),
        ({"digest": b"d" * 15}, False),
    ],
)
def test_hash_parameter_bounds_are_exact(fields: dict, good: bool) -> None:
    line = _hash_line(**fields)
    if good:
        check_hash(line)
    else:
        with pytest.raises(PasswordHashError):
            check_hash(line)


def test_a_hash_needs_all_six_fields_and_the_scheme() -> None:
    for line in (_hash_line().replace("scrypt$", "bcrypt$"), _hash_line() + "$extra", "scrypt$16384$8$1$c2FsdA"):
        with pytest.raises(PasswordHashError, match="is not a password hash"):
            check_hash(line)


def test_a_hash_with_a_short_digest_verifies_with_that_length() -> None:
    import base64
    import hashlib

    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"pw", salt=salt, n=2**4, r=8, p=1, dklen=20)
    b64 = [base64.urlsafe_b64encode(raw).decode().rstrip("=") for raw in (salt, digest)]
    assert verify_password("pw", f"scrypt$16$8$1${b64[0]}${b64[1]}")
    assert not verify_password("px", f"scrypt$16$8$1${b64[0]}${b64[1]}")


def test_a_session_ends_exactly_at_its_lifetime_and_the_window_frees_an_attempt_exactly() -> None:
    clock = FakeClock()
    sessions = SessionStore(lifetime_s=60, clock=clock)
    token = sessions.create()
    clock.now += 60
    assert not sessions.valid(token)
    limit = LoginRateLimit(attempts=1, window_s=60, clock=clock)
    assert limit.allow("10.0.0.5")
    clock.now += 60
    assert limit.allow("10.0.0.5")


def test_session_tokens_are_long_and_distinct() -> None:
    sessions = SessionStore()
    tokens = {sessions.create() for _ in range(20)}
    assert len(tokens) == 20 and all(len(token) >= 43 for token in tokens)
    sessions.end("never-issued")  # ending an unknown token is harmless


def test_a_limited_client_stays_limited_while_quiet_clients_are_forgotten() -> None:
    """Beyond MAX_CLIENTS the clients without an attempt in the window go first: a client that has just used up
    its attempts is still refused although it is the oldest of the active ones."""
    clock = FakeClock()
    limit = LoginRateLimit(attempts=2, window_s=60, clock=clock)
    assert limit.allow("quiet")
    clock.now += 100
    assert limit.allow("attacker") and limit.allow("attacker") and not limit.allow("attacker")
    clock.now += 1
    for index in range(MAX_CLIENTS - 1):  # with "quiet" and "attacker": one more than MAX_CLIENTS
        assert limit.allow(f"10.2.{index // 256}.{index % 256}")
    assert not limit.allow("attacker")


def test_beyond_max_clients_the_client_with_the_oldest_attempt_is_forgotten_not_the_first_by_name() -> None:
    clock = FakeClock()
    limit = LoginRateLimit(attempts=2, window_s=60, clock=clock)
    for index in range(MAX_CLIENTS):
        assert limit.allow(f"10.3.{index // 256}.{index % 256}")
    clock.now += 1
    assert limit.allow("0-attacker") and limit.allow("0-attacker")  # sorts before every address
    assert not limit.allow("0-attacker")


def test_the_session_that_goes_at_the_cap_is_always_the_oldest() -> None:
    """Tokens are random: over 30 logins, a cap that picked by token instead of by age would keep a wrong set
    at some step (each step 2 in 3 times)."""
    clock = FakeClock()
    sessions = SessionStore(lifetime_s=600, max_sessions=3, clock=clock)
    tokens = []
    for _ in range(30):
        tokens.append(sessions.create())
        clock.now += 1
        assert [sessions.valid(token) for token in tokens[-4:]] == [False, True, True, True][-len(tokens) :]
