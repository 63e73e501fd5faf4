"""systemd/install.sh: shellcheck clean, and its --root DIR --dry-run mode run for real against a temp tree."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import need_tool

REPO = Path(__file__).resolve().parent.parent
INSTALL = REPO / "systemd" / "install.sh"


def install(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def commands(output: str) -> list[str]:
    return [line[2:] for line in output.splitlines() if line.startswith("+ ")]


def test_shellcheck_is_clean() -> None:
    shellcheck = need_tool("shellcheck")
    result = subprocess.run([shellcheck, str(INSTALL)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout


def test_dry_run_installs_the_files_into_the_root_and_prints_the_rest(tmp_path: Path) -> None:
    result = install("--root", str(tmp_path), "--dry-run")
    unit = (tmp_path / "etc/systemd/system/maskgate.service").read_text()
    assert unit == (REPO / "systemd/maskgate.service").read_text()
    config = tmp_path / "etc/maskgate/maskgate.toml"
    assert config.read_text() == (REPO / "systemd/maskgate.toml").read_text()
    assert (config.stat().st_mode & 0o777) == 0o640, "the config may hold broker credentials"
    assert (tmp_path / "etc/maskgate").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "etc/sysusers.d/maskgate.conf").is_file()
    assert (tmp_path / "var/lib/maskgate/models").stat().st_mode & 0o777 == 0o755

    run = commands(result.stdout)
    apt = next(c for c in run if "apt-get install" in c)
    assert "python3-picamera2" in apt and "python3-venv" in apt
    assert "python3 -m venv --system-site-packages /opt/maskgate/venv" in run
    assert any(c.startswith("/opt/maskgate/venv/bin/pip install") and c.endswith(f"{REPO}[pi]") for c in run)
    assert "/opt/maskgate/venv/bin/maskgate models fetch --dest /var/lib/maskgate/models" in run
    assert "systemd-sysusers /etc/sysusers.d/maskgate.conf" in run
    assert "chown -R root:root /var/lib/maskgate/models" in run, "the service cannot swap its models"
    assert not any(c.startswith("chown -R maskgate") for c in run)
    assert run[-2:] == ["systemctl enable maskgate.service", "systemctl restart maskgate.service"]


def test_a_second_run_keeps_an_edited_config(tmp_path: Path) -> None:
    install("--root", str(tmp_path), "--dry-run")
    config = tmp_path / "etc/maskgate/maskgate.toml"
    config.write_text('[source]\nuri = "0"\n')
    result = install("--root", str(tmp_path), "--dry-run")
    assert config.read_text() == '[source]\nuri = "0"\n'
    assert "keeping" in result.stdout
    default = tmp_path / "etc/maskgate/maskgate.toml.default"
    assert default.read_text() == (REPO / "systemd/maskgate.toml").read_text(), "the shipped default, for comparison"


def test_uninstall_keeps_data_and_purge_removes_it(tmp_path: Path) -> None:
    install("--root", str(tmp_path), "--dry-run")
    (tmp_path / "var/lib/maskgate/events.jsonl").write_text("{}\n")
    result = install("--root", str(tmp_path), "--dry-run", "--uninstall")
    assert not (tmp_path / "etc/systemd/system/maskgate.service").exists()
    assert not (tmp_path / "etc/sysusers.d/maskgate.conf").exists()
    assert (tmp_path / "etc/maskgate/maskgate.toml").exists()
    assert (tmp_path / "var/lib/maskgate/events.jsonl").exists()
    run = commands(result.stdout)
    assert "systemctl disable --now maskgate.service" in run
    assert "rm -rf /opt/maskgate" in run
    assert "userdel maskgate" not in run

    result = install("--root", str(tmp_path), "--dry-run", "--uninstall", "--purge")
    assert not (tmp_path / "etc/maskgate").exists()
    assert not (tmp_path / "var/lib/maskgate").exists()
    assert "userdel maskgate" in commands(result.stdout)


def test_no_start_only_enables(tmp_path: Path) -> None:
    run = commands(install("--root", str(tmp_path), "--dry-run", "--no-start").stdout)
    assert "systemctl enable maskgate.service" in run
    assert not any("restart" in c or "start maskgate" in c for c in run)


def test_the_sysusers_file_creates_the_user_in_video_and_gpio(tmp_path: Path) -> None:
    sysusers = need_tool("systemd-sysusers")
    install("--root", str(tmp_path), "--dry-run")
    result = subprocess.run(
        [sysusers, f"--root={tmp_path}", str(tmp_path / "etc/sysusers.d/maskgate.conf")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    passwd = (tmp_path / "etc/passwd").read_text()
    assert "maskgate:x:" in passwd and ":/var/lib/maskgate:/usr/sbin/nologin" in passwd
    groups = {line.split(":")[0]: line.split(":")[3] for line in (tmp_path / "etc/group").read_text().splitlines()}
    assert "maskgate" in groups["video"].split(",")
    assert "maskgate" in groups["gpio"].split(",")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--root", "/tmp"], "--root works with --dry-run only"),
        (["--root", "/nonexistent-root", "--dry-run"], "is not a directory"),
        (["--frobnicate"], "unknown option: --frobnicate"),
        (["--dry-run", "--source", "/tmp"], "is not a MaskGate checkout"),
    ],
)
def test_bad_arguments_are_named(args: list[str], message: str) -> None:
    result = install(*args, check=False)
    assert result.returncode != 0
    assert message in result.stderr


def test_dry_run_without_root_changes_nothing() -> None:
    targets = [Path(p) for p in ("/etc/systemd/system/maskgate.service", "/etc/maskgate", "/opt/maskgate")]
    before = {p: p.exists() for p in targets}
    result = install("--dry-run")
    assert "+ install -m 0644" in result.stdout, "file operations are printed"
    assert {p: p.exists() for p in targets} == before
