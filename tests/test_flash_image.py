"""The flashable image: systemd/maskgate-image and the first-boot settings from the boot partition.

The quick tests run everywhere: shellcheck, the builder's refusals, and systemd/maskgate-firstboot against a
temporary tree. The real build (marked `image`, left out of the plain `pytest` run; `.ci/run` runs it after
`.ci/emulated-pi`, which makes the arm64 root file system it needs) builds a stand-in for Raspberry Pi OS
Lite (an MBR with a FAT boot partition and an ext4 root made from that file system), runs the builder on it,
then mounts the result and checks it, and runs the first-boot script, `maskgate doctor` and a short
`maskgate run` inside it under qemu; then boots a second boot-partition file with MQTT (a real mosquitto on
this machine's loopback), the metrics endpoint and the door page on, and runs the door with it as the service.
"""

from __future__ import annotations

import grp
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from conftest import machine_cannot, missing, need_root, need_shared, need_tool
from mqtt_broker import Mosquitto, Subscriber, free_port

REPO = Path(__file__).resolve().parent.parent
BUILDER = REPO / "systemd" / "maskgate-image"
FIRSTBOOT = REPO / "systemd" / "maskgate-firstboot"
BOOT_TOML = REPO / "systemd" / "maskgate-boot.toml"
PI_CACHE = Path(os.environ.get("MASKGATE_PI_CACHE", "/var/cache/maskgate-pi"))
SECTOR = 512


@pytest.mark.parametrize("script", [BUILDER, FIRSTBOOT], ids=["maskgate-image", "maskgate-firstboot"])
def test_shellcheck_is_clean(script: Path) -> None:
    shellcheck = need_tool("shellcheck")
    result = subprocess.run([shellcheck, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout


def test_the_boot_partition_config_passes_the_config_check() -> None:
    result = subprocess.run(
        [str(REPO / ".venv/bin/maskgate"), "config", "--check", str(BOOT_TOML)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = BOOT_TOML.read_text()
    for wanted in ("device_id", "green_led", "broker", "password_file", 'display = "none"', "port = 0"):
        assert wanted in text, f"the boot config should show {wanted}"


def boot_config_with_every_output(broker: str, metrics_port: int, web_port: int) -> str:
    """The shipped boot file with MQTT, the metrics endpoint and the door page on, as someone would edit it:
    the lines of its [mqtt] and [metrics] tables changed in place (TOML allows each table once), [web] added."""
    text = BOOT_TOML.read_text()
    for pattern, line in ((r'^broker = ""', f'broker = "{broker}"'), (r"^port = 0\b", f"port = {metrics_port}")):
        text, count = re.subn(pattern, line, text, count=1, flags=re.MULTILINE)
        assert count == 1, f"the boot file no longer has a line {pattern!r}: update this test"
    assert "[web]" not in text, "the boot file has a [web] table now: edit its lines instead"
    text += f"\n[web]\nenabled = true  # the door page\nport = {web_port}\n"
    settings = tomllib.loads(text)
    assert (settings["mqtt"]["broker"], settings["metrics"]["port"]) == (broker, metrics_port)
    assert (settings["web"]["enabled"], settings["web"]["port"]) == (True, web_port)
    return text


def test_the_boot_partition_config_with_mqtt_metrics_and_the_door_page_passes_the_config_check(tmp_path: Path) -> None:
    config = tmp_path / "maskgate.toml"
    config.write_text(boot_config_with_every_output("mqtt://127.0.0.1:1883", 9108, 8080))
    result = subprocess.run(
        [sys.executable, "-m", "edge", "config", "--check", str(config)], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the first argument must be 'build'"),
        (["build", "--out", "x.img"], "--base is required"),
        (["build", "--base", "/nonexistent.img.xz", "--out", "x.img"], "is not a file"),
        (["build", "--base", __file__, "--out", "x.img", "--grow", "lots"], "not a whole number"),
        (["build", "--base", __file__, "--out", "/nonexistent/x.img"], "does not exist"),
    ],
)
def test_the_builder_names_bad_arguments(args: list[str], message: str) -> None:
    result = subprocess.run(["bash", str(BUILDER), *args], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert message in result.stderr


def test_the_builder_refuses_a_base_that_is_not_a_disk_image(tmp_path: Path) -> None:
    need_root("the builder checks the base image only as root")
    need_tool("sfdisk")
    base = tmp_path / "notes.img"
    base.write_bytes(b"not a disk image" * 4096)
    result = subprocess.run(
        ["bash", str(BUILDER), "build", "--base", str(base), "--out", str(tmp_path / "out.img")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "has no MBR partition table" in result.stderr or "qemu" in result.stderr, result.stderr
    assert not list(tmp_path.glob("out.img*")), "a failed build leaves nothing behind"


# ---- systemd/maskgate-firstboot against a temporary tree ----


@pytest.fixture
def firstboot_tree(tmp_path: Path) -> dict[str, Path]:
    boot, etc = tmp_path / "boot", tmp_path / "etc/maskgate"
    boot.mkdir()
    return {"boot": boot, "etc": etc, "issue": tmp_path / "issue.d/maskgate.issue", "console": tmp_path / "tty1"}


def firstboot(tree: dict[str, Path]) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "MASKGATE_BOOT_DIR": str(tree["boot"]),
        "MASKGATE_ETC_DIR": str(tree["etc"]),
        "MASKGATE_BIN": str(REPO / ".venv/bin/maskgate"),
        "MASKGATE_ISSUE_FILE": str(tree["issue"]),
        "MASKGATE_CONSOLE": str(tree["console"]),
        "MASKGATE_GROUP": grp.getgrgid(os.getgid()).gr_name,
        "MASKGATE_RUN_AS": "",
    }
    return subprocess.run(["bash", str(FIRSTBOOT)], capture_output=True, text=True, env=env, timeout=120)


def test_firstboot_moves_a_good_config_off_the_boot_partition(firstboot_tree: dict[str, Path]) -> None:
    need_root("the first-boot script gives files to root (install -o root)")
    tree = firstboot_tree
    # As Notepad may save it: a byte-order mark and Windows line ends.
    windows = "\ufeff" + BOOT_TOML.read_text().replace("\n", "\r\n")
    (tree["boot"] / "maskgate.toml").write_text(windows, encoding="utf-8", newline="")
    (tree["boot"] / "maskgate-mqtt-password.txt").write_bytes(b"s3cret\r\n")
    tree["console"].write_text("")

    result = firstboot(tree)

    assert result.returncode == 0, result.stdout + result.stderr
    config = tree["etc"] / "maskgate.toml"
    assert config.read_text() == BOOT_TOML.read_text()
    assert config.stat().st_mode & 0o777 == 0o640 and config.stat().st_uid == 0
    assert tree["etc"].stat().st_mode & 0o777 == 0o750
    password = tree["etc"] / "mqtt-password"
    assert password.read_bytes() == b"s3cret\n" and password.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tree["boot"].iterdir()) == [], "settings and secrets never stay on FAT"
    assert "<6>maskgate-firstboot: applied" in result.stdout
    assert not tree["issue"].exists() and tree["console"].read_text() == ""


def test_firstboot_rejects_a_bad_config_and_shows_why(firstboot_tree: dict[str, Path]) -> None:
    need_root("the first-boot script gives files to root (install -o root)")
    tree = firstboot_tree
    tree["etc"].mkdir(parents=True)
    (tree["etc"] / "maskgate.toml").write_text("# the config in use before\n")
    bad = BOOT_TOML.read_text().replace("green_led = 17", "green_led = 99")
    (tree["boot"] / "maskgate.toml").write_text(bad)
    tree["console"].write_text("")

    result = firstboot(tree)

    assert result.returncode == 1
    assert "<3>maskgate-firstboot: maskgate.toml: alerts.green_led" in result.stdout
    rejected = tree["etc"] / "maskgate.toml.rejected"
    assert rejected.read_text() == bad and rejected.stat().st_mode & 0o777 == 0o640
    assert (tree["etc"] / "maskgate.toml").read_text() == "# the config in use before\n"
    assert not (tree["boot"] / "maskgate.toml").exists(), "a rejected file may hold secrets too"
    errors = (tree["boot"] / "maskgate-errors.txt").read_bytes().decode()
    assert "alerts.green_led" in errors and "\r\n" in errors, "readable in Windows' Notepad"
    for shown in (tree["issue"].read_text(), tree["console"].read_text()):
        assert "MaskGate is NOT running" in shown and "alerts.green_led" in shown

    # A corrected file on the next boot clears every trace of the problem.
    (tree["boot"] / "maskgate.toml").write_text(BOOT_TOML.read_text())
    assert firstboot(tree).returncode == 0
    assert not rejected.exists() and not tree["issue"].exists()
    assert not (tree["boot"] / "maskgate-errors.txt").exists()
    assert (tree["etc"] / "maskgate.toml.previous").read_text() == "# the config in use before\n"


def test_firstboot_without_a_file_changes_nothing(firstboot_tree: dict[str, Path]) -> None:
    need_root("the first-boot script makes /etc/maskgate as root")
    result = firstboot(firstboot_tree)
    assert result.returncode == 0 and "nothing to apply" in result.stdout
    assert list(firstboot_tree["etc"].iterdir()) == []


# ---- the real build (pytest -m image; .ci/run runs it after .ci/emulated-pi) ----


def skip_loudly(reason: str, machine: bool = False) -> None:
    """A loud skip; with `machine`, for what this kind of machine cannot do at all, allowed even under CI=true.
    Anything else fails under CI=true."""
    line = "#" * 80
    print(f"\n{line}\n# SKIPPED: the flashable-image build test did not run.\n# Reason: {reason}\n{line}", flush=True)
    if machine:
        machine_cannot(reason)
    missing(reason)


def need_image_build_tools() -> None:
    """Root, loop devices and arm64 under binfmt_misc, or a loud skip (never a silent one)."""
    if os.geteuid() != 0:
        skip_loudly("needs root (loop devices, mount, chroot): sudo .venv/bin/python -m pytest -m image")
    if not shutil.which("losetup") or subprocess.run(["losetup", "-f"], capture_output=True).returncode != 0:
        skip_loudly("no free loop device here (a container without /dev/loop*?)", machine=True)
    binfmt = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    if not binfmt.exists() or "enabled" not in binfmt.read_text():
        skip_loudly("qemu-aarch64 is not registered with binfmt_misc (.ci/emulated-pi registers it)", machine=True)
    for tool in ("sfdisk", "mkfs.vfat", "mkfs.ext4", "xz", "mtype"):
        need_tool(tool)


def arm64_root() -> Path:
    root = PI_CACHE / "bookworm-arm64"
    if not (root / ".maskgate-base").exists():
        reason = f"no arm64 root file system in {root}: .ci/emulated-pi makes it (sudo .ci/emulated-pi bookworm)"
        skip_loudly(reason + " (.ci/run runs .ci/emulated-pi first)")
    return root


def run(*command: str | Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], check=True, capture_output=True, text=True, **kwargs)


def make_stand_in_base(rootfs: Path, folder: Path) -> Path:
    """A small Raspberry Pi OS Lite stand-in: MBR, FAT32 boot partition at 4 MiB, ext4 root from `rootfs`
    (made by mke2fs -d: no mount needed), as .img.xz like the download."""
    boot_mib, used = 64, int(run("du", "-sm", rootfs).stdout.split()[0])
    root_mib = used + used // 4 + 64
    boot, root, image = folder / "boot.vfat", folder / "root.ext4", folder / "raspios-stand-in.img"
    run("mkfs.vfat", "-F", "32", "-n", "bootfs", "-C", boot, str(boot_mib * 1024))
    run("mkfs.ext4", "-q", "-L", "rootfs", "-d", rootfs, root, f"{root_mib}M")
    with image.open("wb") as out:
        out.truncate((4 + boot_mib + root_mib) * 1024 * 1024)
    table = f"label: dos\nstart=8192, size={boot_mib * 2048}, type=c\nstart={(4 + boot_mib) * 2048}, type=83\n"
    run("sfdisk", "--quiet", image, input=table)
    run("dd", f"if={boot}", f"of={image}", "bs=1M", "seek=4", "conv=notrunc,sparse")
    run("dd", f"if={root}", f"of={image}", "bs=1M", f"seek={4 + boot_mib}", "conv=notrunc,sparse")
    boot.unlink()
    root.unlink()
    run("xz", "-0", "-T0", image)
    return image.with_suffix(".img.xz")


def partitions(image: Path) -> list[tuple[int, int]]:
    table = json.loads(run("sfdisk", "--json", image).stdout)["partitiontable"]
    return [(p["start"] * SECTOR, p["size"] * SECTOR) for p in table["partitions"]]


@contextmanager
def mounted(image: Path, mountpoint: Path) -> Iterator[Path]:
    """The root partition at `mountpoint` through losetup -o/--sizelimit; always unmounted and detached again.
    (The boot partition is read with mtools: some kernels here have no vfat.)"""
    root_at, root_size = partitions(image)[1]
    with ExitStack() as stack:
        loop = run("losetup", "-f", "--show", "-o", root_at, "--sizelimit", root_size, image).stdout.strip()
        stack.callback(subprocess.run, ["losetup", "-d", loop], check=False)
        run("mount", loop, mountpoint)
        stack.callback(subprocess.run, ["umount", mountpoint], check=False)
        yield mountpoint


def boot_file(image: Path, name: str) -> str:
    """A file from the image's FAT boot partition, read with mtools."""
    boot_at = partitions(image)[0][0]
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    return run("mtype", "-i", f"{image}@@{boot_at}", f"::{name}", env=env).stdout


@contextmanager
def chroot_mounts(root: Path) -> Iterator[None]:
    """/proc, /sys, /dev and a Pi 4's /proc/cpuinfo for programs run inside (as .ci/emulated-pi)."""
    cpuinfo = root / "tmp/cpuinfo"  # LiteRT's cpuinfo parser crashes on an x86 one under qemu
    cpu = (
        "processor\t: {}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n"
        "CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n"
    )
    board = "Hardware\t: BCM2835\nRevision\t: c03114\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"
    cpuinfo.write_text("".join(cpu.format(n) for n in range(os.cpu_count() or 1)) + board)
    with ExitStack() as stack:
        for args, target in (
            (["-t", "proc", "proc"], root / "proc"),
            (["--bind", cpuinfo], root / "proc/cpuinfo"),
            (["-t", "sysfs", "sysfs"], root / "sys"),
            (["--bind", "/dev"], root / "dev"),
        ):
            run("mount", *args, target)
            stack.callback(subprocess.run, ["umount", "-l", target], check=False)
        yield


def inside(root: Path, script: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8", "QEMU_CPU": "cortex-a72"}
    return subprocess.run(["chroot", root, "bash", "-c", script], capture_output=True, text=True, env=env, timeout=900)


def owner(path: Path, root: Path) -> str:
    """user:group of `path` by the image's own /etc/passwd and /etc/group."""
    names = {}
    for table in ("passwd", "group"):
        names[table] = {
            int(f[2]): f[0] for f in (line.split(":") for line in (root / "etc" / table).read_text().splitlines())
        }
    stat = path.stat()
    return f"{names['passwd'][stat.st_uid]}:{names['group'][stat.st_gid]}"


@pytest.mark.image
@pytest.mark.timeout(3600)  # builds and boots an image under qemu: tens of minutes
def test_a_built_image_has_maskgate_installed_enabled_and_configured_from_the_boot_partition(tmp_path: Path) -> None:
    need_image_build_tools()
    rootfs = arm64_root()
    photos = sorted((need_shared("data/facemask") / "with_mask").glob("*.jpg"))[:2]
    work = tmp_path / "image-build"
    work.mkdir()
    try:
        started = time.monotonic()
        base = make_stand_in_base(rootfs, work)
        base_seconds = time.monotonic() - started
        out = work / "maskgate-door.img"
        started = time.monotonic()
        build = subprocess.run(
            [BUILDER, "build", "--base", base, "--out", out, "--grow", "1024", "--xz-level", "1"],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        build_seconds = time.monotonic() - started
        assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
        image_xz = work / "maskgate-door.img.xz"
        print(
            f"\nstand-in base {base.stat().st_size / 1e6:.0f} MB xz ({base_seconds:.0f} s to make); "
            f"build {build_seconds:.0f} s; image {image_xz.stat().st_size / 1e6:.0f} MB xz"
            f"\n{build.stdout}\n{build.stderr}"
        )
        assert not run("losetup", "-j", f"{work}/maskgate-door.img.partial").stdout, "the builder left a loop device"
        run("sha256sum", "-c", "maskgate-door.img.xz.sha256", cwd=work)
        base.unlink()
        run("xz", "-d", "-T0", image_xz)
        image = work / "maskgate-door.img"
        mountpoint = work / "mnt"
        mountpoint.mkdir()
        assert boot_file(image, "maskgate.toml") == BOOT_TOML.read_text()
        with mounted(image, mountpoint) as root:
            check_installed_files(root)
            # What the Pi mounts at /boot/firmware, copied there for the first-boot script.
            (root / "boot/firmware/maskgate.toml").write_text(boot_file(image, "maskgate.toml"))
            check_inside_under_qemu(root, photos)
            check_every_output_under_qemu(root, work / "broker")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_installed_files(root: Path) -> None:
    maskgate = root / "opt/maskgate/venv/bin/maskgate"
    assert maskgate.is_file() and os.access(maskgate, os.X_OK)
    assert (root / "opt/maskgate/venv/bin/python").exists()
    for unit in ("maskgate.service", "maskgate-firstboot.service"):
        link = root / "etc/systemd/system/multi-user.target.wants" / unit
        assert link.is_symlink() and os.readlink(link) == f"/etc/systemd/system/{unit}", unit
        state = subprocess.run(["systemctl", f"--root={root}", "is-enabled", unit], capture_output=True, text=True)
        assert state.stdout.strip() == "enabled", unit
    firstboot_unit = (root / "etc/systemd/system/maskgate-firstboot.service").read_text()
    assert firstboot_unit == (REPO / "systemd/maskgate-firstboot.service").read_text()
    assert (root / "usr/local/sbin/maskgate-firstboot").stat().st_mode & 0o777 == 0o755
    drop_in = (root / "etc/systemd/system/maskgate.service.d/image.conf").read_text()
    assert "ConditionPathExists=!/etc/maskgate/maskgate.toml.rejected" in drop_in
    assert "SystemMaxUse=" in (root / "etc/systemd/journald.conf.d/maskgate.conf").read_text()

    assert not list((root / "boot/firmware").iterdir()), "the boot partition's files are on the FAT partition"
    etc = root / "etc/maskgate"
    assert owner(etc, root) == "root:maskgate" and etc.stat().st_mode & 0o777 == 0o750
    config = etc / "maskgate.toml"
    assert owner(config, root) == "root:maskgate" and config.stat().st_mode & 0o777 == 0o640
    models = root / "var/lib/maskgate/models"
    assert owner(models, root) == "root:root" and models.stat().st_mode & 0o777 == 0o755
    # The official YuNet if the build machine could download it, else the copy inside the package: either
    # way in the image, nothing is fetched at boot.
    packaged = list(
        (root / "opt/maskgate/venv/lib").glob("python3*/site-packages/edge/models/face_detection_yunet_*.onnx")
    )
    assert list(models.glob("face_detection_yunet_*.onnx")) or packaged, "no face detector in the image"
    for model in models.iterdir():
        assert owner(model, root) == "root:root" and model.stat().st_mode & 0o777 == 0o644, model
    assert owner(root / "var/lib/maskgate", root) == "maskgate:maskgate"

    # The build's helpers are gone: nothing of the build machine stays in the image.
    assert not (root / "usr/sbin/policy-rc.d").exists(), "apt would never start services on the Pi"
    assert not (root / "var/tmp/maskgate-src").exists() and not (root / "root/.cache/pip").exists()
    assert not list((root / "var/cache/apt/archives").glob("*.deb"))
    assert not (root / "etc/resolv.conf.maskgate-image").exists()


def check_inside_under_qemu(root: Path, photos: list[Path]) -> None:
    (root / "home/pi/photos").mkdir(parents=True)
    for photo in photos:
        shutil.copy(photo, root / "home/pi/photos")
    with chroot_mounts(root):
        # First boot as the Pi would run it: the file on FAT checked as the maskgate user, then moved.
        first = inside(root, "/usr/local/sbin/maskgate-firstboot")
        assert first.returncode == 0, first.stdout + first.stderr
        assert not (root / "boot/firmware/maskgate.toml").exists()
        config = root / "etc/maskgate/maskgate.toml"
        assert config.read_text() == BOOT_TOML.read_text()
        assert owner(config, root) == "root:maskgate" and config.stat().st_mode & 0o777 == 0o640

        doctor = inside(
            root,
            # As the service: its user, and its working directory (lgpio writes its notification pipes there).
            "cd /var/lib/maskgate && runuser -u maskgate -- "
            "/opt/maskgate/venv/bin/maskgate doctor --config /etc/maskgate/maskgate.toml",
        )
        print(doctor.stdout)
        assert "[ok  ] config" in doctor.stdout, doctor.stdout + doctor.stderr
        assert "[ok  ] self-test classifier" in doctor.stdout, doctor.stdout + doctor.stderr

        run_door = inside(
            root,
            "cd /home/pi && "
            "sed 's|^uri = .*|uri = \"/home/pi/photos\"|' /etc/maskgate/maskgate.toml >/home/pi/photos.toml && "
            "GPIOZERO_PIN_FACTORY=mock /opt/maskgate/venv/bin/maskgate run --config /home/pi/photos.toml "
            "--events /home/pi/events.jsonl",
        )
        assert run_door.returncode == 0, run_door.stdout[-2000:] + run_door.stderr[-2000:]
    events = [json.loads(line) for line in (root / "home/pi/events.jsonl").read_text().splitlines()]
    assert events and all(e["label"] for e in events), events


def check_every_output_under_qemu(root: Path, broker_dir: Path) -> None:
    """A second boot with every output of the boot file on: MQTT to a real mosquitto on this machine's loopback
    (a qemu-user chroot shares this machine's network), the metrics endpoint and the door page. The image has
    their extras installed, so the file is accepted and the door runs with them, with no network at boot."""
    broker_dir.mkdir()
    broker = Mosquitto(broker_dir).start()
    try:
        metrics_port, web_port = free_port(), free_port()
        while web_port == metrics_port:
            web_port = free_port()
        settings = boot_config_with_every_output(broker.url, metrics_port, web_port)
        (root / "boot/firmware/maskgate.toml").write_text(settings)
        events = Subscriber(broker, ["maskgate/+/event"])
        try:
            with chroot_mounts(root):
                started = time.monotonic()
                first = inside(root, "/usr/local/sbin/maskgate-firstboot")
                assert first.returncode == 0, first.stdout + first.stderr
                assert not (root / "boot/firmware/maskgate.toml").exists()
                assert (root / "etc/maskgate/maskgate.toml").read_text() == settings
                assert (root / "etc/maskgate/maskgate.toml.previous").read_text() == BOOT_TOML.read_text()
                firstboot_seconds = time.monotonic() - started

                check = inside(
                    root,
                    "runuser -u maskgate -- /opt/maskgate/venv/bin/maskgate config --check /etc/maskgate/maskgate.toml",
                )
                assert check.returncode == 0, check.stdout + check.stderr
                assert check.stdout.strip() == "/etc/maskgate/maskgate.toml: OK", check.stdout

                # As maskgate.service runs it (its user, working and state directory), the photos for a camera.
                for folder in (root / "home/pi", root / "home/pi/photos"):
                    folder.chmod(0o755)
                for photo in (root / "home/pi/photos").iterdir():
                    photo.chmod(0o644)
                started = time.monotonic()
                door = inside(
                    root,
                    "cd /var/lib/maskgate && runuser -u maskgate -- env STATE_DIRECTORY=/var/lib/maskgate "
                    "GPIOZERO_PIN_FACTORY=mock /opt/maskgate/venv/bin/maskgate run "
                    "--config /etc/maskgate/maskgate.toml --source /home/pi/photos",
                )
                run_seconds = time.monotonic() - started
            assert door.returncode == 0, door.stdout[-2000:] + door.stderr[-3000:]
            log = door.stderr
            print(
                f"\nsecond boot with MQTT, metrics and the door page: first-boot script {firstboot_seconds:.0f} s, "
                f"maskgate run {run_seconds:.0f} s under qemu\n" + "\n".join(log.splitlines()[-25:])
            )
            assert f"MQTT: connected to {broker.url}" in log, log[-3000:]
            assert f"metrics: serving Prometheus metrics on http://127.0.0.1:{metrics_port}/metrics" in log, log[-3000:]
            assert f"web: door page on http://127.0.0.1:{web_port}/" in log, log[-3000:]
            assert "not yet delivered" not in log, log[-3000:]

            logged = [json.loads(line) for line in (root / "var/lib/maskgate/events.jsonl").read_text().splitlines()]
            assert logged and all(e["label"] for e in logged), logged
            published = [json.loads(m.payload) for m in events.take(len(logged), timeout=30)]
            assert all(e["label"] for e in published), published
            decisions = [sorted((e["frame"], e["track"], e["label"]) for e in got) for got in (published, logged)]
            assert decisions[0] == decisions[1], "the broker got the decisions of the event log"
        finally:
            events.close()
    finally:
        broker.stop()
