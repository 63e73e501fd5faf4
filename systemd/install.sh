#!/usr/bin/env bash
# Install MaskGate as a systemd service on Raspberry Pi OS (Bookworm or Trixie). Safe to run again: it
# upgrades the code, keeps an edited /etc/maskgate/maskgate.toml, and restarts the service.
#
#   sudo bash systemd/install.sh                  install (or upgrade) and start
#   sudo bash systemd/install.sh --uninstall      remove the service and the code; keep config and data
#   sudo bash systemd/install.sh --uninstall --purge   also delete config, events, snapshots and the user
#   bash systemd/install.sh --root DIR --dry-run  write the files under DIR, print every command instead
set -euo pipefail

PREFIX=/opt/maskgate
SERVICE=maskgate.service
USER_NAME=maskgate
APT_PACKAGES=(python3-venv python3-pip ca-certificates)
PI_APT_PACKAGES=(python3-picamera2 python3-lgpio)

usage() {
  sed -n '2,8s/^# \{0,1\}//p' "$0"
  echo "options: --root DIR  --dry-run  --uninstall  --purge  --no-start  --source DIR (default: this checkout)"
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
SOURCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT="$2"; shift ;;
    --dry-run) DRY_RUN=1 ;;
    --uninstall) ACTION=uninstall ;;
    --purge) PURGE=1 ;;
    --no-start) START=0 ;;
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

check_os() {
  local codename=""
  if [ -r "$R/etc/os-release" ]; then
    codename="$(sed -n 's/^VERSION_CODENAME=//p' "$R/etc/os-release" | tr -d '"')"
  fi
  case "$codename" in
    bookworm | trixie) ;;
    *) echo "warning: made for Raspberry Pi OS Bookworm or Trixie; this is '${codename:-unknown}'" >&2 ;;
  esac
}

install_packages() {
  local packages=("${APT_PACKAGES[@]}")
  local package
  for package in "${PI_APT_PACKAGES[@]}"; do
    if [ "$DRY_RUN" = 1 ] || apt-cache show "$package" >/dev/null 2>&1; then
      packages+=("$package")
    else
      echo "warning: $package is not in the apt sources (not Raspberry Pi OS?); the Pi camera or GPIO may not work" >&2
    fi
  done
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
}

install_code() {
  # --system-site-packages: picamera2 and libcamera come from apt and cannot be installed with pip.
  run python3 -m venv --system-site-packages "$PREFIX/venv"
  run "$PREFIX/venv/bin/pip" install --quiet --upgrade "${SOURCE_DIR}[pi]"
  # The detector, downloaded and checked against the sha256 pinned in edge/fetch.py.
  run "$PREFIX/venv/bin/maskgate" models fetch --dest /var/lib/maskgate/models
  run chown "$USER_NAME:$USER_NAME" /var/lib/maskgate
  run chown -R root:root /var/lib/maskgate/models
  run chmod -R u=rwX,go=rX /var/lib/maskgate/models
}

start_service() {
  run systemctl daemon-reload
  if [ "$START" = 1 ]; then
    run systemctl enable "$SERVICE"
    run systemctl restart "$SERVICE"
    echo "MaskGate is running: systemctl status maskgate; journalctl -u maskgate -f"
  else
    run systemctl enable "$SERVICE"
    echo "MaskGate is installed and enabled; start it with: sudo systemctl start maskgate"
  fi
}

uninstall() {
  if [ "$DRY_RUN" = 1 ] || systemctl cat "$SERVICE" >/dev/null 2>&1; then
    run systemctl disable --now "$SERVICE"
  fi
  files rm -f "$R/etc/systemd/system/$SERVICE"
  run systemctl daemon-reload
  run rm -rf "$PREFIX"
  files rm -f "$R/etc/sysusers.d/maskgate.conf"
  if [ "$PURGE" = 1 ]; then
    files rm -rf "$R/etc/maskgate" "$R/var/lib/maskgate" "$R/var/log/maskgate"
    if [ "$DRY_RUN" = 1 ] || getent passwd "$USER_NAME" >/dev/null; then
      run userdel "$USER_NAME"
    fi
    echo "MaskGate removed with its configuration, events, snapshots and user"
  else
    echo "MaskGate removed; kept /etc/maskgate and /var/lib/maskgate (events, snapshots): --purge deletes them"
  fi
}

if [ "$ACTION" = uninstall ]; then
  uninstall
else
  check_os
  install_packages
  install_files
  install_code
  start_service
fi
