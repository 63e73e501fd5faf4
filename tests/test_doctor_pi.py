"""`maskgate doctor` on a Pi: the board model, the pin factory with where its library came from, and the
self-test with its cost."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import gpiozero
import pytest

from edge.cli import main
from edge.health.doctor import check_board, check_gpio, library_source, package_source
from edge.health.self_test import REFERENCE_DIR


def test_the_board_model_is_read_from_the_device_tree(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.write_bytes(b"Raspberry Pi 5 Model B Rev 1.0\0")
    check = check_board(str(model))
    assert check.ok is True and check.detail == "Raspberry Pi 5 Model B Rev 1.0"
    model.write_bytes(b"QEMU Virtual Machine\0")
    assert check_board(str(model)).ok is None
    missing = check_board(str(tmp_path / "none"))
    assert missing.ok is None and "not a Raspberry Pi" in missing.detail


def test_package_source_tells_apt_from_pip() -> None:
    assert package_source("/usr/lib/python3/dist-packages/lgpio.py") == "apt"
    assert package_source("/opt/maskgate/venv/lib/python3.13/site-packages/gpiozero/__init__.py") == "pip"
    assert package_source(gpiozero.__file__) == "pip", "the test venv's gpiozero is pip's"


def test_library_source_names_a_missing_library() -> None:
    assert library_source("no_such_gpio_library") == "no_such_gpio_library not importable"
    assert library_source("gpiozero").startswith("gpiozero 2.") and library_source("gpiozero").endswith("from pip")


def test_a_library_that_fails_to_load_is_reported_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # lgpio, imported from a directory its user cannot write, raises FileNotFoundError for its notify file
    (tmp_path / "gpio_lib_needing_cwd.py").write_text("raise FileNotFoundError(2, 'No such file', '.lgd-nfy-3')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    detail = library_source("gpio_lib_needing_cwd")
    assert detail.startswith("gpio_lib_needing_cwd failed to load") and ".lgd-nfy-3" in detail
    assert "working directory" in detail


def test_gpio_names_the_factory_how_it_was_chosen_and_the_gpiozero_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    check = check_gpio()
    assert check.ok is True
    assert "pin factory MockFactory, named by GPIOZERO_PIN_FACTORY=mock" in check.detail
    assert re.search(r"gpiozero [0-9.]+\S* from pip", check.detail), check.detail


def test_doctor_shows_the_self_test_and_what_it_costs(model_env: Path, tmp_path: Path, capsys) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[source]\nuri = "{REFERENCE_DIR}"\n')
    main(["doctor", "--config", str(config)])
    out = capsys.readouterr().out
    assert re.search(r"\[ok  \] self-test face detector: 2 reference faces found where recorded \(\d+ ms\)", out), out
    assert re.search(r"\[ok  \] self-test classifier: 6 reference crops give the recorded answers .* \(\d+ ms\)", out)


def test_doctor_fails_the_self_test_of_a_mislabelled_model_and_names_the_machine(
    model_env: Path, default_classifier: Path, tmp_path: Path, capsys
) -> None:
    model = tmp_path / default_classifier.name
    shutil.copy(default_classifier, model)
    card = json.loads(default_classifier.with_suffix(".json").read_text())
    card["labels"] = [card["labels"][1], card["labels"][0], *card["labels"][2:]]
    model.with_suffix(".json").write_text(json.dumps(card))
    config = tmp_path / "c.toml"
    config.write_text(f'[source]\nuri = "{REFERENCE_DIR}"\n[classifier]\nmodel = "{model}"\nfast_first = false\n')
    assert main(["doctor", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] self-test classifier:" in out and "runtime ai-edge-litert" in out and "CPU " in out
