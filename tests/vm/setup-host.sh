#!/usr/bin/env bash
# Host setup for the real-OpenZFS VM tier (tests/vm/): idempotent, run as root on Debian 12.
#
# Adds the `contrib` component and `bookworm-backports` to apt (in a separate deb822 file; the
# existing /etc/apt/sources.list.d/debian.sources is left untouched), then installs qemu from
# bookworm-backports (bookworm's qemu 7.2 conflicts with the backports qemu-utils 10 on these
# machines), debootstrap and the image-building tools. A second run does no network I/O when
# everything is already installed.
set -euo pipefail

die() { echo "setup-host: FATAL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] || die "expected Debian 12 (bookworm), found ${PRETTY_NAME:-unknown}"

SRC=/etc/apt/sources.list.d/pve-zfs-snap-vm.sources
WANT='# Added by tests/vm/setup-host.sh (pve-zfs-snap VM test tier).
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
'

# Host packages: name=suite. qemu must come from backports.
PKGS_BPO=(qemu-system-x86)
PKGS=(debootstrap e2fsprogs zstd python3 coreutils util-linux)

missing=()
for p in "${PKGS_BPO[@]}" "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

changed_sources=0
if [ ! -f "$SRC" ] || [ "$(cat "$SRC")" != "$(printf '%s' "$WANT")" ]; then
    printf '%s' "$WANT" >"$SRC"
    changed_sources=1
fi

if [ "$changed_sources" = 1 ] || [ "${#missing[@]}" -gt 0 ]; then
    echo "setup-host: apt-get update"
    apt-get update -q >/dev/null || die "apt-get update failed"
fi

if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup-host: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends -t bookworm-backports "${PKGS_BPO[@]}" >/dev/null \
        || die "installing ${PKGS_BPO[*]} from bookworm-backports failed"
    apt-get install -y -q --no-install-recommends "${PKGS[@]}" >/dev/null \
        || die "installing ${PKGS[*]} failed"
fi

command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing after install"
command -v debootstrap >/dev/null || die "debootstrap missing after install"
command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 missing after install"
echo "setup-host: ok ($(qemu-system-x86_64 --version | head -1))"
