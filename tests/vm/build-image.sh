#!/usr/bin/env bash
# Build (or reuse) the guest image for the real-OpenZFS VM tier, from Debian packages only.
#
#   tests/vm/build-image.sh <flavor>        flavor: 2.3 (bookworm-backports zfs) | 2.1 (bookworm zfs)
#
# Output: $VM_CACHE_DIR (default /var/cache/pve-zfs-snap-vm)/img-<flavor>-<isoweek>-<hash>/{vmlinuz,initrd.img,root.img,manifest}
# and the path of that directory as the last line on stdout. The key hashes this script, so
# any change to the recipe rebuilds; the ISO week makes the image follow Debian's updates.
# A second call with the same key returns at once. Builds are serialized with a lock, share a
# .deb cache (cache/debs), and print a timing table. Needs root (debootstrap, chroot, mounts);
# run tests/vm/setup-host.sh first.
#
# The image boots /sbin/vm-init (PID 1, no systemd): it mounts the 9p share `ctl` and execs
# the per-run guest script that tests/vm/run.sh puts there, so run-time logic can change
# without rebuilding the image.
set -euo pipefail

die() { echo "build-image: FATAL: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: $0 <2.3|2.1>"
FLAVOR=$1
case "$FLAVOR" in
    2.3) ZFS_SUITE=(-t bookworm-backports) ;;
    2.1) ZFS_SUITE=() ;;
    *) die "unknown flavor '$FLAVOR' (expected 2.3 or 2.1)" ;;
esac
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot)"
command -v debootstrap >/dev/null || die "debootstrap missing: run tests/vm/setup-host.sh"
command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 missing: run tests/vm/setup-host.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
# Images live outside the checkout so that every clone on this machine (CI clones afresh)
# reuses them; VM_CACHE_DIR overrides.
CACHE=${VM_CACHE_DIR:-/var/cache/pve-zfs-snap-vm}
MIRROR=http://deb.debian.org/debian
WEEK=$(date -u +%G-W%V)
HASH=$(sha256sum "$HERE/build-image.sh" | cut -c1-12)
KEY="img-$FLAVOR-$WEEK-$HASH"
DEST=$CACHE/$KEY

mkdir -p "$CACHE/debs"
if [ -f "$DEST/manifest" ]; then
    echo "build-image: cached $KEY" >&2
    echo "$DEST"
    exit 0
fi

exec 9>"$CACHE/.build.lock"
flock 9
if [ -f "$DEST/manifest" ]; then # built by a concurrent caller while we waited
    echo "build-image: cached $KEY" >&2
    echo "$DEST"
    exit 0
fi

WORK=$CACHE/build-$FLAVOR.tmp
ROOT=$WORK/root
LOG=$CACHE/build-$FLAVOR.log
: >"$LOG"

cleanup() { # unmount everything below $ROOT, deepest first
    local m
    for m in $(awk -v r="$ROOT/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
}
trap 'cleanup' EXIT
mnt() { mount "$@"; }
kver() { basename "$(ls -d "$ROOT"/lib/modules/*/ | head -1)"; }

TIMINGS=()
T_ALL=$(date +%s)
step() { # step <title> <function>
    local t0 t1
    t0=$(date +%s)
    echo "build-image[$FLAVOR]: $1 ..." >&2
    # A subshell with errexit outside any `if`, so every failing command in the step aborts it.
    set +e
    (set -e; "$2") >>"$LOG" 2>&1
    local rc=$?
    set -e
    if [ "$rc" != 0 ]; then
        echo "build-image[$FLAVOR]: step '$1' FAILED; last 40 lines of $LOG:" >&2
        tail -n 40 "$LOG" >&2
        exit 1
    fi
    t1=$(date +%s)
    TIMINGS+=("$(printf '%-44s %4ss' "$1" $((t1 - t0)))")
}
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }

s_debootstrap() {
    cleanup # a crashed earlier build may have left bind mounts (of /dev!) below $ROOT
    rm -rf --one-file-system "$WORK"
    mkdir -p "$ROOT"
    debootstrap --variant=minbase --cache-dir="$CACHE/debs" bookworm "$ROOT" "$MIRROR"
}

s_prepare() {
    cat >"$ROOT/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main contrib
deb $MIRROR bookworm-updates main contrib
deb $MIRROR bookworm-backports main contrib
deb http://deb.debian.org/debian-security bookworm-security main contrib
EOF
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
        >"$ROOT/etc/apt/apt.conf.d/90vm"
    printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
    chmod +x "$ROOT/usr/sbin/policy-rc.d"
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    echo vm >"$ROOT/etc/hostname"
    # Small initramfs: only what mounting the ext4 root on virtio needs.
    mkdir -p "$ROOT/etc/initramfs-tools/conf.d"
    echo 'MODULES=list' >"$ROOT/etc/initramfs-tools/conf.d/vm.conf"
    echo 'COMPRESS=zstd' >>"$ROOT/etc/initramfs-tools/conf.d/vm.conf"
    printf '%s\n' virtio_pci virtio_blk ext4 >>"$ROOT/etc/initramfs-tools/modules"
    mnt -t proc proc "$ROOT/proc"
    mnt -t sysfs sys "$ROOT/sys"
    mnt --bind /dev "$ROOT/dev"
    mnt --bind /dev/pts "$ROOT/dev/pts"
    mnt --bind "$CACHE/debs" "$ROOT/var/cache/apt/archives"
    in_root apt-get update -q
}

s_kernel() {
    in_root apt-get install -y -q linux-image-amd64 linux-headers-amd64 udev kmod \
        initramfs-tools zstd python3 procps
}

s_zfs() {
    in_root apt-get install -y -q "${ZFS_SUITE[@]}" zfs-dkms zfsutils-linux
    local KVER
    KVER=$(kver)
    if ! in_root modinfo -k "$KVER" zfs >/dev/null 2>&1; then
        echo "zfs module not built for $KVER by the package; running dkms autoinstall"
        in_root dkms autoinstall -k "$KVER"
    fi
    in_root modinfo -k "$KVER" zfs
}

s_slim() {
    local KVER
    KVER=$(kver)
    # Keep the DKMS-built modules, then drop the compiler, headers and everything a VM never uses.
    local mods=$ROOT/lib/modules/$KVER
    mkdir -p "$mods/extra/zfs"
    find "$mods/updates" -name '*.ko*' -exec cp -v {} "$mods/extra/zfs/" \;
    [ -n "$(ls "$mods/extra/zfs")" ] || { echo "no zfs modules found under $mods/updates"; return 1; }
    in_root apt-get purge -y -q zfs-dkms dkms 'linux-headers-*'
    in_root apt-get autoremove --purge -y -q
    # Must still be there after the purge.
    [ -n "$(ls "$mods/extra/zfs")" ] || { echo "zfs modules vanished during purge"; return 1; }
    rm -rf "$mods/kernel/drivers/"{gpu,media,net/wireless,net/ethernet,infiniband,staging,bluetooth,iio,isdn,usb,hid,input/joystick,input/touchscreen,scsi/qla2xxx,scsi/lpfc,scsi/mpt3sas,scsi/megaraid,mmc,nfc,thunderbolt,platform/x86} \
        "$mods/kernel/sound" "$mods/kernel/net/"{wireless,bluetooth,mac80211}
    in_root depmod -a "$KVER"
    in_root modinfo -k "$KVER" zfs >/dev/null
    umount -l "$ROOT/var/cache/apt/archives"
    rm -rf "$ROOT"/usr/share/{doc,man,info,locale} "$ROOT"/var/lib/apt/lists/* \
        "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/debconf/*-old
}

s_init() {
    local KVER
    KVER=$(kver)
    # PID 1 stub. Everything else lives in the per-run guest script on the ctl share.
    cat >"$ROOT/sbin/vm-init" <<'EOF'
#!/bin/sh
# PID 1 of the test VM (tests/vm/build-image.sh): mount the control share, run its script.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sys /sys
mountpoint -q /dev || mount -t devtmpfs dev /dev
modprobe 9pnet_virtio && modprobe 9p
mkdir -p /ctl
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 ctl /ctl && [ -f /ctl/guest.sh ]; then
    exec /bin/bash /ctl/guest.sh
fi
echo "vm-init: FATAL: cannot mount the ctl share or /ctl/guest.sh missing" >&2
echo o >/proc/sysrq-trigger
sleep 30
EOF
    chmod +x "$ROOT/sbin/vm-init"
    mkdir -p "$ROOT"/{ctl,work,out}
    rm -f "$ROOT/usr/sbin/policy-rc.d"
    in_root update-initramfs -c -k "$KVER" || in_root update-initramfs -u -k "$KVER"
}

s_image() {
    local KVER
    KVER=$(kver)
    cleanup
    mkdir -p "$WORK/out"
    cp "$ROOT/boot/vmlinuz-$KVER" "$WORK/out/vmlinuz"
    cp "$ROOT/boot/initrd.img-$KVER" "$WORK/out/initrd.img"
    local used_mb
    used_mb=$(du -sm "$ROOT" | cut -f1)
    mkfs.ext4 -q -F -L vmroot -d "$ROOT" "$WORK/out/root.img" "$((used_mb * 13 / 10 + 256))M"
    {
        echo "flavor=$FLAVOR"
        echo "key=$KEY"
        echo "kernel=$KVER"
        echo "zfs_module=$(in_root modinfo -k "$KVER" -F version zfs)"
        echo "zfsutils=$(in_root dpkg-query -W -f='${Version}' zfsutils-linux)"
        echo "root_used_mb=$used_mb"
        echo "built=$(date -u +%FT%TZ)"
    } >"$WORK/out/manifest.tmp"
}

step "debootstrap --variant=minbase bookworm" s_debootstrap
step "apt sources, mounts, apt-get update" s_prepare
step "kernel, headers, udev, kmod, python3" s_kernel
step "zfs-dkms + zfsutils-linux (${FLAVOR}, DKMS build)" s_zfs
step "slim (purge compiler/headers, drivers)" s_slim
step "vm-init + initramfs" s_init
step "ext4 image (mkfs.ext4 -d)" s_image

rm -rf "$DEST"
mv "$WORK/out" "$DEST"
mv "$DEST/manifest.tmp" "$DEST/manifest"
rm -rf "$WORK"
# Keep the cache bounded: drop older images of this flavor.
for old in "$CACHE"/img-"$FLAVOR"-*; do
    [ "$old" = "$DEST" ] || rm -rf "$old"
done

{
    echo "build-image[$FLAVOR]: timings"
    printf '  %s\n' "${TIMINGS[@]}"
    printf '  %-44s %4ss\n' "total" $(($(date +%s) - T_ALL))
    sed 's/^/  /' "$DEST/manifest"
    echo "  image: $(du -h --apparent-size "$DEST/root.img" | cut -f1) apparent, $(du -h "$DEST/root.img" | cut -f1) used"
} >&2
echo "$DEST"
