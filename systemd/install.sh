#!/usr/bin/env bash
# Install MaskGate as a systemd service on Raspberry Pi OS (Bookworm or Trixie, 64-bit). Safe to run again: it
# upgrades the code, keeps an edited /etc/maskgate/maskgate.toml, and restarts the service. The checkout this
# script is in stays where it is (clone it anywhere but /opt/maskgate); the code goes into /opt/maskgate/venv.
#
#   sudo bash systemd/install.sh                  install (or upgrade) and start
#   sudo bash systemd/install.sh --uninstall      remove the service and /opt/maskgate/venv; keep config and data
#   sudo bash systemd/install.sh --uninstall --purge   also delete config, events, snapshots and the user
#   bash systemd/install.sh --root DIR --dry-run  write the files under DIR, print every command instead
#   bash systemd/install.sh --image               inside an image's chroot (systemd/maskgate-image does it)
set -euo pipefail

PREFIX=/opt/maskgate
VENV="$PREFIX/venv"
SERVICE=maskgate.service
DROP_IN_DIR="/etc/systemd/system/$SERVICE.d"
USER_NAME=maskgate
APT_PACKAGES=(python3-venv python3-pip ca-certificates)
# GPIO and the Pi camera come from Raspberry Pi OS's apt sources: lgpio has no pip wheel for Python 3.13
# (Trixie), and picamera2/libcamera are not on PyPI in a usable form.
PI_APT_PACKAGES=(python3-picamera2 python3-lgpio)
# What the platform checks read; tests and image builders describe another machine through these.
OS_RELEASE="${MASKGATE_OS_RELEASE:-/etc/os-release}"
BOARD_MODEL_FILE="${MASKGATE_BOARD_MODEL_FILE:-/sys/firmware/devicetree/base/model}" # = /proc/device-tree/model
ARCH="${MASKGATE_ARCH:-$(dpkg --print-architecture 2>/dev/null || uname -m)}"

usage() {
  sed -n '2,10s/^# \{0,1\}//p' "$0"
  echo "options: --root DIR  --dry-run  --uninstall  --purge  --no-start  --source DIR (default: this checkout)"
  echo "         --not-a-pi  install on a 64-bit Debian arm64 machine that is not a Raspberry Pi (no Pi camera/GPIO)"
  echo "         --image     inside an image for any 64-bit Pi: no board check, nothing started, the first-boot unit"
  echo "                     for /boot/firmware/maskgate.toml, a capped journal, caches removed"
}

die() {
  echo "install.sh: $*" >&2
  exit 1
}

ROOT=/
DRY_RUN=0
ACTION=install
PURGE=0
START=1
NOT_A_PI=0
IMAGE=0
SOURCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT="$2"; shift ;;
    --dry-run) DRY_RUN=1 ;;
    --uninstall) ACTION=uninstall ;;
    --purge) PURGE=1 ;;
    --no-start) START=0 ;;
    --not-a-pi) NOT_A_PI=1 ;;
    --image) IMAGE=1; START=0 ;;
    --source) [ $# -ge 2 ] || die "--source needs a directory"; SOURCE_DIR="$2"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
  shift
done

if [ "$ROOT" != / ]; then
  [ "$DRY_RUN" = 1 ] || die "--root works with --dry-run only (to build an image, run install.sh inside its chroot)"
  [ -d "$ROOT" ] || die "--root $ROOT is not a directory"
  ROOT="$(cd "$ROOT" && pwd)"
fi
R="${ROOT%/}"
[ "$DRY_RUN" = 1 ] || [ "$(id -u)" = 0 ] || die "run as root: sudo bash $0"
if [ ! -f "$SOURCE_DIR/pyproject.toml" ] || [ ! -f "$SOURCE_DIR/systemd/$SERVICE" ]; then
  die "--source $SOURCE_DIR is not a MaskGate checkout (no pyproject.toml or systemd/$SERVICE)"
fi
SOURCE_DIR="$(cd "$SOURCE_DIR" && pwd)"
case "$SOURCE_DIR/" in
  "$VENV"/*) die "the checkout $SOURCE_DIR is inside $VENV, which install.sh replaces; clone it elsewhere" ;;
esac

# A command that changes the system: printed, and run unless --dry-run.
run() {
  echo "+ $*"
  if [ "$DRY_RUN" = 0 ]; then "$@"; fi
}

# A file operation under $R: printed, and run unless it would touch the real system in a dry run.
files() {
  echo "+ $*"
  if [ "$DRY_RUN" = 0 ] || [ -n "$R" ]; then "$@"; fi
}

os_field() {
  sed -n "s/^$1=//p" "$OS_RELEASE" 2>/dev/null | tr -d '"'
}

board_model() {
  if [ -r "$BOARD_MODEL_FILE" ]; then tr -d '\0' <"$BOARD_MODEL_FILE"; fi
}

# Refuses what cannot work: a 32-bit OS (no ai-edge-litert wheels), another CPU, a board that is not a Pi
# (unless --not-a-pi), Python older than 3.11 (in a real install; a dry run cannot know the target's).
check_platform() {
  local codename model
  codename="$(os_field VERSION_CODENAME)"
  model="$(board_model)"
  case "$ARCH" in
    arm64 | aarch64) ;;
    armhf | armel | armv7l | armv6l)
      die "this is a 32-bit OS ($ARCH); MaskGate needs Raspberry Pi OS 64-bit (ai-edge-litert has no 32-bit ARM wheels)" ;;
    *) die "this is a $ARCH machine; install.sh is for 64-bit Raspberry Pi OS (elsewhere: pip install maskgate by hand)" ;;
  esac
  if [ "$IMAGE" = 1 ]; then
    # The machine building an image is not the board it will boot on: every 64-bit Pi gets the same image.
    echo "image for any 64-bit Raspberry Pi; OS: $(os_field PRETTY_NAME) ($ARCH)"
    model="Raspberry Pi (image)"
  fi
  case "$model" in
    "Raspberry Pi"*) [ "$IMAGE" = 1 ] || echo "board: $model; OS: $(os_field PRETTY_NAME) ($ARCH)" ;;
    *)
      if [ "$NOT_A_PI" = 0 ]; then
        die "this is not a Raspberry Pi (board model '${model:-unknown}' in $BOARD_MODEL_FILE); for another Debian arm64 machine pass --not-a-pi"
      fi
      echo "warning: not a Raspberry Pi ('${model:-unknown}'): installing without the Pi camera and GPIO" >&2
      ;;
  esac
  case "$codename" in
    bookworm | trixie) ;;
    *) echo "warning: made for Raspberry Pi OS Bookworm or Trixie; this is '${codename:-unknown}'" >&2 ;;
  esac
  if [ "$DRY_RUN" = 0 ] && ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    die "MaskGate needs Python 3.11 or newer (Bookworm or Trixie); found $(python3 --version 2>&1 || echo none)"
  fi
}

is_pi5() {
  [ "$IMAGE" = 0 ] || return 1 # an image names lgpio for every board (maskgate-image.conf)
  case "$(board_model)" in "Raspberry Pi 5"* | "Raspberry Pi Compute Module 5"*) return 0 ;; esac
  return 1
}

install_packages() {
  local packages=("${APT_PACKAGES[@]}")
  local package
  if [ "$NOT_A_PI" = 0 ]; then
    for package in "${PI_APT_PACKAGES[@]}"; do
      if apt-cache show "$package" >/dev/null 2>&1; then
        packages+=("$package")
      else
        echo "warning: $package is not in this system's apt sources (not Raspberry Pi OS?); the Pi camera or GPIO may not work" >&2
      fi
    done
  fi
  run apt-get update
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
}

install_files() {
  files install -d -m 0755 "$R/etc/sysusers.d" "$R/etc/systemd/system"
  files install -m 0644 "$SOURCE_DIR/systemd/maskgate.sysusers" "$R/etc/sysusers.d/maskgate.conf"
  # systemd-sysusers creates the user and its groups idempotently; gpio and video exist on Pi OS.
  run systemd-sysusers /etc/sysusers.d/maskgate.conf
  files install -d -m 0750 "$R/etc/maskgate" "$R/var/lib/maskgate"
  # Models are root's: the service may read them but not swap them (a planted model would decide the door).
  files install -d -m 0755 "$R/var/lib/maskgate/models"
  run chown "root:$USER_NAME" /etc/maskgate
  files install -m 0640 "$SOURCE_DIR/systemd/maskgate.toml" "$R/etc/maskgate/maskgate.toml.default"
  if [ -e "$R/etc/maskgate/maskgate.toml" ]; then
    echo "keeping $R/etc/maskgate/maskgate.toml (the shipped default is maskgate.toml.default)"
  else
    files install -m 0640 "$SOURCE_DIR/systemd/maskgate.toml" "$R/etc/maskgate/maskgate.toml"
  fi
  run chown "root:$USER_NAME" /etc/maskgate/maskgate.toml /etc/maskgate/maskgate.toml.default
  files install -m 0644 "$SOURCE_DIR/systemd/$SERVICE" "$R/etc/systemd/system/$SERVICE"
  if is_pi5; then
    # gpiozero's auto-detection has picked RPi.GPIO on a Pi 5 (gpiozero issue 1229), which cannot drive its GPIO.
    files install -d -m 0755 "$R$DROP_IN_DIR"
    echo "+ write $R$DROP_IN_DIR/gpio.conf (GPIOZERO_PIN_FACTORY=lgpio)"
    if [ "$DRY_RUN" = 0 ] || [ -n "$R" ]; then
      printf '# Written by install.sh on a Pi 5: name the lgpio pin factory instead of auto-detecting one.\n[Service]\nEnvironment=GPIOZERO_PIN_FACTORY=lgpio\n' >"$R$DROP_IN_DIR/gpio.conf"
    fi
  fi
}

install_code() {
  # --system-site-packages: picamera2 and libcamera come from apt and cannot be installed with pip.
  run python3 -m venv --system-site-packages "$VENV"
  # The pi extra installs lgpio from pip only where a wheel exists (Python < 3.13); elsewhere apt's python3-lgpio.
  # mqtt, metrics and web (small, pure Python): every setting maskgate-boot.toml offers works at first boot, which
  # on a flashed image has no network to fetch them (maskgate-image runs this at build time).
  run "$VENV/bin/pip" install --quiet --upgrade "${SOURCE_DIR}[pi,mqtt,metrics,web]"
  # The official detector, downloaded and checked against the sha256 pinned in edge/modelfiles/fetch.py, unless a YuNet
  # file is there already; offline, the copy inside the package is used.
  local present
  present="$(find "$R/var/lib/maskgate/models" -maxdepth 1 -name 'face_detection_yunet_*.onnx' -print -quit 2>/dev/null || true)"
  if [ -n "$present" ]; then
    echo "keeping the face detector ${present#"$R"}"
  elif ! run "$VENV/bin/maskgate" models fetch --dest /var/lib/maskgate/models; then
    echo "warning: could not download the official YuNet; the service uses the copy inside the package" >&2
  fi
  run chown "$USER_NAME:$USER_NAME" /var/lib/maskgate
  # Models are root's: the service may read them but not swap them (a planted model would decide the door).
  run chown -R root:root /var/lib/maskgate/models
  run chmod -R u=rwX,go=rX /var/lib/maskgate/models
}

# systemd runs as PID 1 (sd_booted); not in a chroot or an image build, where units can only be enabled.
systemd_running() {
  [ "$IMAGE" = 0 ] || return 1
  [ "$DRY_RUN" = 1 ] || [ -d /run/systemd/system ]
}

# What only a flashable image has: the unit that takes settings from the boot partition (systemd/maskgate-image
# puts maskgate.toml there), the service's image drop-in, a capped journal; none of the build's downloads.
install_image_files() {
  files install -d -m 0755 "$R/usr/local/sbin" "$R$DROP_IN_DIR" "$R/etc/systemd/journald.conf.d"
  files install -m 0755 "$SOURCE_DIR/systemd/maskgate-firstboot" "$R/usr/local/sbin/maskgate-firstboot"
  files install -m 0644 "$SOURCE_DIR/systemd/maskgate-firstboot.service" "$R/etc/systemd/system/maskgate-firstboot.service"
  files install -m 0644 "$SOURCE_DIR/systemd/maskgate-image.conf" "$R$DROP_IN_DIR/image.conf"
  files install -m 0644 "$SOURCE_DIR/systemd/journald-maskgate.conf" "$R/etc/systemd/journald.conf.d/maskgate.conf"
  run systemctl enable maskgate-firstboot.service
  run apt-get clean
  files rm -rf "$R/root/.cache/pip"
}

start_service() {
  if ! systemd_running; then
    run systemctl enable "$SERVICE"
    echo "systemd is not running here (a chroot or an image build): MaskGate is enabled and starts at boot"
    return
  fi
  run systemctl daemon-reload
  run systemctl enable "$SERVICE"
  if [ "$START" = 1 ]; then
    run systemctl restart "$SERVICE"
    if [ "$DRY_RUN" = 1 ]; then
      echo "dry run: nothing was installed or started"
    else
      echo "MaskGate is running: systemctl status maskgate; journalctl -u maskgate -f"
    fi
  else
    echo "MaskGate is installed and enabled; start it with: sudo systemctl start maskgate"
  fi
}

uninstall() {
  if [ "$DRY_RUN" = 1 ] || [ -e "/etc/systemd/system/$SERVICE" ]; then
    if systemd_running; then
      run systemctl disable --now "$SERVICE"
    else
      run systemctl disable "$SERVICE"
    fi
  fi
  files rm -f "$R/etc/systemd/system/$SERVICE"
  files rm -rf "$R$DROP_IN_DIR"
  if [ "$DRY_RUN" = 1 ] || [ -e "$R/etc/systemd/system/maskgate-firstboot.service" ]; then
    run systemctl disable maskgate-firstboot.service
  fi
  files rm -f "$R/etc/systemd/system/maskgate-firstboot.service" "$R/usr/local/sbin/maskgate-firstboot"
  files rm -f "$R/etc/systemd/journald.conf.d/maskgate.conf"
  if systemd_running; then run systemctl daemon-reload; fi
  # Only what install.sh made: the venv, and /opt/maskgate if that leaves it empty. Never a checkout.
  run rm -rf "$VENV"
  if [ "$DRY_RUN" = 1 ] || [ -d "$PREFIX" ]; then
    run rmdir --ignore-fail-on-non-empty "$PREFIX"
  fi
  files rm -f "$R/etc/sysusers.d/maskgate.conf"
  if [ "$PURGE" = 1 ]; then
    files rm -rf "$R/etc/maskgate" "$R/var/lib/maskgate" "$R/var/log/maskgate"
    if [ "$DRY_RUN" = 1 ] || getent passwd "$USER_NAME" >/dev/null; then
      run userdel "$USER_NAME"
    fi
    echo "MaskGate removed with its configuration, events, snapshots and user"
  else
    echo "MaskGate removed ($SERVICE, $VENV); kept /etc/maskgate and /var/lib/maskgate (events, snapshots): --purge deletes them"
  fi
}

if [ "$ACTION" = uninstall ]; then
  uninstall
else
  check_platform
  install_packages
  install_files
  install_code
  if [ "$IMAGE" = 1 ]; then install_image_files; fi
  start_service
fi
