"""systemd/install.sh: shellcheck clean, and its --root DIR --dry-run mode run for real against a temp tree."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import need_tool

REPO = Path(__file__).resolve().parent.parent
INSTALL = REPO / "systemd" / "install.sh"


PI4 = "Raspberry Pi 4 Model B Rev 1.4"
PI5 = "Raspberry Pi 5 Model B Rev 1.0"


@pytest.fixture(autouse=True)
def target(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The machine install.sh checks, described through its MASKGATE_* variables: a Pi 4 on 64-bit Trixie
    whose apt sources carry the Raspberry Pi packages (a stand-in apt-cache answers for them)."""
    folder = tmp_path_factory.mktemp("target")
    os_release = folder / "os-release"
    os_release.write_text('PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nVERSION_CODENAME=trixie\n')
    model = folder / "model"
    model.write_bytes(PI4.encode() + b"\0")
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    apt_cache = bin_dir / "apt-cache"
    apt_cache.write_text('#!/bin/sh\n[ "$1" = show ] && grep -qx "$2" "$(dirname "$0")/../apt-packages"\n')
    apt_cache.chmod(0o755)
    (folder / "apt-packages").write_text("python3-picamera2\npython3-lgpio\n")
    monkeypatch.setenv("MASKGATE_OS_RELEASE", str(os_release))
    monkeypatch.setenv("MASKGATE_BOARD_MODEL_FILE", str(model))
    monkeypatch.setenv("MASKGATE_ARCH", "arm64")
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return folder


def install(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def commands(output: str) -> list[str]:
    return [line[2:] for line in output.splitlines() if line.startswith("+ ")]


@pytest.mark.parametrize("script", [INSTALL, REPO / ".ci" / "emulated-pi"], ids=["install.sh", "emulated-pi"])
def test_shellcheck_is_clean(script: Path) -> None:
    shellcheck = need_tool("shellcheck")
    result = subprocess.run([shellcheck, str(script)], capture_output=True, text=True, timeout=120)
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
    assert any(
        c.startswith("/opt/maskgate/venv/bin/pip install") and c.endswith(f"{REPO}[pi,mqtt,metrics,web]") for c in run
    )
    assert "/opt/maskgate/venv/bin/maskgate models fetch --dest /var/lib/maskgate/models" in run
    assert "systemd-sysusers /etc/sysusers.d/maskgate.conf" in run
    assert "chown -R root:root /var/lib/maskgate/models" in run, "the service cannot swap its models"
    assert not any(c.startswith("chown -R maskgate") for c in run)
    assert run[-2:] == ["systemctl enable maskgate.service", "systemctl restart maskgate.service"]
    assert "python3-lgpio" in apt, "GPIO from apt: lgpio has no pip wheel for Trixie's Python 3.13"
    assert "dry run: nothing was installed or started" in result.stdout
    assert "MaskGate is running" not in result.stdout
    assert "board: Raspberry Pi 4 Model B Rev 1.4; OS: Debian GNU/Linux 13 (trixie) (arm64)" in result.stdout
    assert not (tmp_path / "etc/systemd/system/maskgate.service.d").exists(), "a Pi 4 auto-detects lgpio"


def test_a_pi_5_names_the_lgpio_pin_factory(tmp_path: Path, target: Path) -> None:
    (target / "model").write_bytes(PI5.encode() + b"\0")
    install("--root", str(tmp_path), "--dry-run")
    drop_in = (tmp_path / "etc/systemd/system/maskgate.service.d/gpio.conf").read_text()
    assert "[Service]\nEnvironment=GPIOZERO_PIN_FACTORY=lgpio\n" in drop_in
    install("--root", str(tmp_path), "--dry-run", "--uninstall")
    assert not (tmp_path / "etc/systemd/system/maskgate.service.d").exists()


@pytest.mark.parametrize(
    ("arch", "model", "args", "message"),
    [
        ("armhf", PI4, [], "this is a 32-bit OS (armhf); MaskGate needs Raspberry Pi OS 64-bit"),
        ("amd64", PI4, [], "this is a amd64 machine"),
        ("arm64", "QEMU Virtual Machine", [], "this is not a Raspberry Pi (board model 'QEMU Virtual Machine'"),
        ("arm64", None, [], "this is not a Raspberry Pi (board model 'unknown'"),
        ("armhf", None, ["--not-a-pi"], "32-bit OS"),
    ],
)
def test_refuses_32_bit_other_cpus_and_boards_that_are_not_a_pi(
    tmp_path: Path, target: Path, monkeypatch: pytest.MonkeyPatch, arch: str, model: str | None, args, message: str
) -> None:
    monkeypatch.setenv("MASKGATE_ARCH", arch)
    if model is None:
        (target / "model").unlink()
    else:
        (target / "model").write_text(model)
    result = install("--root", str(tmp_path), "--dry-run", *args, check=False)
    assert result.returncode == 1
    assert message in result.stderr
    assert not commands(result.stdout), "nothing is done before the refusal"


def test_plain_debian_arm64_installs_with_not_a_pi_and_without_pi_packages(tmp_path: Path, target: Path) -> None:
    (target / "model").write_text("QEMU Virtual Machine")
    result = install("--root", str(tmp_path), "--dry-run", "--not-a-pi")
    apt = next(c for c in commands(result.stdout) if "apt-get install" in c)
    assert "python3-venv" in apt and "python3-lgpio" not in apt and "python3-picamera2" not in apt
    assert "not a Raspberry Pi" in result.stderr


def test_pi_packages_missing_from_the_apt_sources_are_named(tmp_path: Path, target: Path) -> None:
    (target / "apt-packages").write_text("python3-picamera2\n")
    result = install("--root", str(tmp_path), "--dry-run")
    apt = next(c for c in commands(result.stdout) if "apt-get install" in c)
    assert "python3-picamera2" in apt and "python3-lgpio" not in apt
    assert "python3-lgpio is not in this system's apt sources" in result.stderr
    assert "python3-picamera2 is not" not in result.stderr


def test_the_os_release_checked_is_the_machines_not_the_roots(tmp_path: Path, target: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text("VERSION_CODENAME=buster\n")
    assert "buster" not in install("--root", str(tmp_path), "--dry-run").stderr
    (target / "os-release").write_text("VERSION_CODENAME=bullseye\n")
    assert "this is 'bullseye'" in install("--root", str(tmp_path), "--dry-run").stderr


def test_a_face_detector_already_there_is_kept_instead_of_downloaded(tmp_path: Path) -> None:
    models = tmp_path / "var/lib/maskgate/models"
    models.mkdir(parents=True)
    (models / "face_detection_yunet_2023mar.onnx").write_bytes(b"onnx")
    result = install("--root", str(tmp_path), "--dry-run")
    assert "keeping the face detector /var/lib/maskgate/models/face_detection_yunet_2023mar.onnx" in result.stdout
    assert not any("models fetch" in c for c in commands(result.stdout))


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
    assert "rm -rf /opt/maskgate/venv" in run, "the venv install.sh made"
    assert "rmdir --ignore-fail-on-non-empty /opt/maskgate" in run, "a checkout cloned into /opt/maskgate stays"
    assert not any(c.startswith("rm ") and c.rstrip("/").endswith(" /opt/maskgate") for c in run)
    assert "userdel maskgate" not in run

    result = install("--root", str(tmp_path), "--dry-run", "--uninstall", "--purge")
    assert not (tmp_path / "etc/maskgate").exists()
    assert not (tmp_path / "var/lib/maskgate").exists()
    assert "userdel maskgate" in commands(result.stdout)


def test_no_start_only_enables(tmp_path: Path) -> None:
    run = commands(install("--root", str(tmp_path), "--dry-run", "--no-start").stdout)
    assert "systemctl enable maskgate.service" in run
    assert not any("restart" in c or "start maskgate" in c for c in run)


@pytest.mark.parametrize("board", [PI5, "QEMU Virtual Machine"])
def test_image_mode_installs_for_any_pi_starts_nothing_and_adds_the_first_boot_unit(
    tmp_path: Path, target: Path, board: str
) -> None:
    """What systemd/maskgate-image runs inside the image's chroot: the build machine is not the board."""
    (target / "model").write_text(board)
    result = install("--root", str(tmp_path), "--dry-run", "--image")
    assert "image for any 64-bit Raspberry Pi" in result.stdout
    run = commands(result.stdout)
    assert "systemctl enable maskgate-firstboot.service" in run and run[-1] == "systemctl enable maskgate.service"
    assert not any("restart" in c or "daemon-reload" in c for c in run), "no systemd runs in an image build"
    assert "apt-get clean" in run, "no downloaded .deb files in the image"
    system = tmp_path / "etc/systemd/system"
    assert (system / "maskgate-firstboot.service").read_text() == (
        REPO / "systemd/maskgate-firstboot.service"
    ).read_text()
    assert "Environment=GPIOZERO_PIN_FACTORY=lgpio" in (system / "maskgate.service.d/image.conf").read_text()
    assert not (system / "maskgate.service.d/gpio.conf").exists(), "one image for every board"
    assert (tmp_path / "usr/local/sbin/maskgate-firstboot").stat().st_mode & 0o777 == 0o755
    assert "SystemMaxUse=" in (tmp_path / "etc/systemd/journald.conf.d/maskgate.conf").read_text()

    result = install("--root", str(tmp_path), "--dry-run", "--uninstall")
    assert "systemctl disable maskgate-firstboot.service" in commands(result.stdout)
    assert not (system / "maskgate-firstboot.service").exists()
    assert not (tmp_path / "usr/local/sbin/maskgate-firstboot").exists()
    assert not (tmp_path / "etc/systemd/journald.conf.d/maskgate.conf").exists()


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


def test_the_pi_extra_never_asks_pip_for_an_lgpio_without_a_wheel_and_gpiozero_skips_the_broken_releases() -> None:
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    (lgpio,) = [Requirement(r) for r in project["optional-dependencies"]["pi"]]
    assert lgpio.marker is not None

    def wanted(machine: str, python: str) -> bool:
        return lgpio.marker.evaluate({"platform_machine": machine, "python_version": python})

    assert wanted("aarch64", "3.11") and wanted("aarch64", "3.12")
    assert not wanted("aarch64", "3.13"), "Trixie: no cp313 wheel, apt's python3-lgpio instead"
    assert not wanted("armv7l", "3.11"), "32-bit is not supported"
    (gpiozero,) = [Requirement(r) for r in project["dependencies"] if r.startswith("gpiozero")]
    assert not gpiozero.specifier.contains("2.0.1.post1") and not gpiozero.specifier.contains("2.0.1.post2")
    assert gpiozero.specifier.contains("2.0.1.post3") and gpiozero.specifier.contains("2.0.1")


def test_dry_run_without_root_changes_nothing() -> None:
    targets = [Path(p) for p in ("/etc/systemd/system/maskgate.service", "/etc/maskgate", "/opt/maskgate")]
    before = {p: p.exists() for p in targets}
    result = install("--dry-run")
    assert "+ install -m 0644" in result.stdout, "file operations are printed"
    assert {p: p.exists() for p in targets} == before
