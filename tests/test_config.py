import re
from pathlib import Path

import pytest

from edge import config as cfg
from edge.cli import main
from edge.config import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "maskgate.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_valid_and_a_file_overrides_them(tmp_path):
    assert cfg.load(None).detector.type == "yunet"
    config = cfg.load(
        write(tmp_path, '[detector]\ntype = "res10"\nscore_threshold = 0.5\n[tracker]\nvote_window = 7\n')
    )
    assert (config.detector.type, config.detector.score_threshold, config.tracker.vote_window) == ("res10", 0.5, 7)
    assert config.tracker.vote_min == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[detector]\ntipe = 'yunet'\n",
            r"detector\.tipe: unknown key; did you mean detector\.type\? allowed keys in \[detector\]: type, model",
        ),
        ("[detektor]\n", r"detektor: unknown section; did you mean detector\? allowed sections: source, detector"),
        ("[detector]\ntype = 'haar'\n", r"detector\.type: 'haar' is not allowed; allowed values: 'yunet', 'res10'"),
        (
            "[detector]\nscore_threshold = 1.5\n",
            r"detector\.score_threshold: 1\.5 is out of range; allowed: 0\.0 to 1\.0",
        ),
        ("[classifier]\nnum_threads = 'two'\n", r"classifier\.num_threads: expected int, got str"),
        ("[classifier]\nbatch = 1\n", r"classifier\.batch: expected bool, got int"),
        ("[tracker]\nvote_min = true\n", r"tracker\.vote_min: expected int, got bool"),
        ("[tracker]\nvote_window = 3\nvote_min = 4\n", r"tracker\.vote_min: 4 must not exceed tracker\.vote_window"),
        ("detector = 3\n", r"\[detector\] must be a table"),
    ],
)
def test_bad_keys_and_values_name_the_key_and_what_is_allowed(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as caught:
        cfg.load(path)
    assert str(path) in str(caught.value)


def test_broken_toml_and_missing_file_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        cfg.load(write(tmp_path, "[detector\n"))
    with pytest.raises(ConfigError, match=r"config file not found: .*nope.toml"):
        cfg.load(tmp_path / "nope.toml")


def test_config_check_names_a_broken_file_once(tmp_path, capsys):
    from edge.cli import main

    path = write(tmp_path, "[detector\n")
    assert main(["config", "--check", str(path)]) == 2
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"{path}: file: not valid TOML: ") and first.count(str(path)) == 1


def test_a_key_far_from_every_allowed_one_gets_no_guess(tmp_path):
    with pytest.raises(ConfigError, match=r"tracker\.zzz: unknown key; allowed keys") as caught:
        cfg.load(write(tmp_path, "[tracker]\nzzz = 1\n"))
    assert "did you mean" not in str(caught.value)


def test_cli_overrides_are_validated_like_the_file():
    config = cfg.load(None)
    cfg.override(config, "output.display", "window")
    assert config.output.display == "window"
    with pytest.raises(ConfigError, match=r"output.display: 'tv' is not allowed"):
        cfg.override(config, "output.display", "tv")


def test_every_key_has_a_documented_reference_row():
    rows = cfg.reference()
    assert any(key == "detector.type" for key, *_ in rows)
    assert all(doc for *_, doc in rows), [key for key, _, _, doc in rows if not doc]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[service]\nmax_frame_age = nan\n", "service.max_frame_age"),
        ("[alerts]\nrelay_seconds = nan\n", "alerts.relay_seconds"),
        ("[alerts]\ncooldown = inf\n", "alerts.cooldown"),
        ("[detector]\nscore_threshold = -inf\n", "detector.score_threshold"),
    ],
)
def test_nan_and_infinity_are_refused_naming_the_key(tmp_path, text, key):
    """TOML allows nan and inf; every range comparison with nan is false, so nan passed every bound."""
    with pytest.raises(ConfigError, match=re.escape(key) + r": -?(nan|inf) is not a number"):
        cfg.load(write(tmp_path, text))


def test_every_problem_is_reported_at_once_with_its_key(tmp_path):
    text = (
        "[service]\nmax_frame_age = nan\n[alerts]\ngreen_led = 17\nbuzzer = 17\nrelay_seconds = 0\n"
        "[tracker]\nvote_window = 2\n[detektor]\n[events]\nsnapshots = true\n"
    )
    problems = cfg.check_file(write(tmp_path, text))
    assert [p.key for p in problems] == [
        "service.max_frame_age",
        "alerts.relay_seconds",
        "detektor",
        "tracker.vote_min",
        "alerts.buzzer",
        "events.snapshot_dir",
    ]
    with pytest.raises(ConfigError, match=r"6 problems: service\.max_frame_age: nan .*; alerts\.relay_seconds"):
        cfg.load(tmp_path / "maskgate.toml")


def test_cross_field_rules_see_the_cli_flags_too(tmp_path):
    path = write(tmp_path, "[events]\nsnapshots = true\n")
    with pytest.raises(ConfigError, match=r"events\.snapshot_dir: events\.snapshots is on but has no folder"):
        cfg.load(path)
    assert cfg.load(path, {"output.events": str(tmp_path / "events.jsonl")}).events.snapshots
    with pytest.raises(ConfigError, match=r"output\.display: 'tv' is not allowed"):
        cfg.load(path, {"output.display": "tv", "output.events": "events.jsonl"})


def test_config_check_prints_every_problem_and_exits_2(tmp_path, capsys):
    bad = write(tmp_path, "[alerts]\nrelay_seconds = nan\n[tracker]\nvote_min = 6\n")
    assert main(["config", "--check", str(bad)]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{bad}: alerts.relay_seconds: nan is not a number; give a finite value",
        f"{bad}: tracker.vote_min: 6 must not exceed tracker.vote_window (5)",
        f"2 problem(s) in {bad}",
    ]
    good = tmp_path / "good.toml"
    good.write_text("[tracker]\nvote_min = 2\n")
    assert main(["config", "--check", str(good)]) == 0
    assert capsys.readouterr().out == f"{good}: OK\n"
    assert main(["config", "--check", str(tmp_path / "absent.toml")]) == 2
    assert f"{tmp_path / 'absent.toml'}: file: not found" in capsys.readouterr().out


def test_the_shipped_config_passes_the_check(capsys):
    shipped = Path(__file__).parent.parent / "systemd" / "maskgate.toml"
    assert main(["config", "--check", str(shipped)]) == 0, capsys.readouterr().out
