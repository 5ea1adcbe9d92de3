#!/usr/bin/env bash
# Build (or reuse) the guest image for the real-OpenZFS VM tier, from Debian packages only.
#
#   tests/vm/build-image.sh <flavor>     2.4 (trixie + trixie-backports zfs, as on PVE 9)
#                                        2.3 (bookworm + bookworm-backports zfs)
#                                        2.1 (bookworm zfs, as on PVE 7.4/8.0)
#
# Output: $VM_CACHE_DIR (default /var/cache/pve-zfs-snap-vm)/img-<flavor>-<isoweek>-<hash>/
# {vmlinuz,initrd.img,root.img,manifest} and the path of that directory as the last line on
# stdout. The key hashes this script, so any change to the recipe rebuilds; the ISO week makes
# the image follow Debian's updates. A second call with the same key returns at once.
#
# Cost model (2 cores, TCG-less host): the DKMS build of the zfs module dominates. To keep the
# cold cost of three flavors small,
#   * a *base* per Debian release (debootstrap, kernel + headers, compiler, dkms, udev, python3
#     and syncoid's runtime dependencies) is built once per week and recipe and shared by every
#     flavor of that release (2.3 and 2.1 share the bookworm base): base-<release>-<week>-<hash>/;
#   * the builds of one release share one .deb cache (cache/debs-<release>);
#   * dpkg runs with unsafe-io and without docs/man pages/locales, the initramfs is generated
#     once (update-initramfs is diverted during package installs);
#   * slimming deletes build-only trees instead of purging packages through dpkg;
#   * the zfs module is compiled without DWARF debug info (KCFLAGS=-g0, see s_zfs).
# Builds of one release are serialized with a lock (a waiter whose image appears meanwhile returns
# at once, so tests/vm/ci.sh can build ahead in the background; trixie and bookworm build side by
# side) and print a timing table.
# Needs root (debootstrap, chroot, mounts); run tests/vm/setup-host.sh first. The host's apt
# configuration is never changed here: trixie sources exist only inside the trixie chroot.
#
# Every image carries what the three-site drill needs besides zfs: syncoid's runtime
# dependencies (perl, libcapture-tiny-perl, libconfig-inifiles-perl, mbuffer, pv, lzop: the
# `sanoid` package's Depends in bookworm 2.1.0 and trixie 2.2.0) so Debian's syncoid can run
# from .debs extracted on the host, and pv/mbuffer for throttled `zfs send | zfs recv`.
#
# The image boots /sbin/vm-init (PID 1, no systemd): it mounts the 9p share `ctl` and execs
# the per-run guest script that tests/vm/run.sh puts there, so run-time logic can change
# without rebuilding the image.
set -euo pipefail

die() { echo "build-image: FATAL: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: $0 <2.4|2.3|2.1>"
FLAVOR=$1
case "$FLAVOR" in
    2.4) RELEASE=trixie ZFS_SUITE=(-t trixie-backports) ;;
    2.3) RELEASE=bookworm ZFS_SUITE=(-t bookworm-backports) ;;
    2.1) RELEASE=bookworm ZFS_SUITE=() ;;
    *) die "unknown flavor '$FLAVOR' (expected 2.4, 2.3 or 2.1)" ;;
esac
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot)"
command -v debootstrap >/dev/null || die "debootstrap missing: run tests/vm/setup-host.sh"
command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 missing: run tests/vm/setup-host.sh"
[ -e "/usr/share/debootstrap/scripts/$RELEASE" ] || die "debootstrap cannot build $RELEASE (too old)"

HERE=$(cd "$(dirname "$0")" && pwd)
# Images live outside the checkout so that every clone on this machine (CI clones afresh)
# reuses them; VM_CACHE_DIR overrides.
CACHE=${VM_CACHE_DIR:-/var/cache/pve-zfs-snap-vm}
MIRROR=http://deb.debian.org/debian
WEEK=$(date -u +%G-W%V)
HASH=$(sha256sum "$HERE/build-image.sh" | cut -c1-12)
KEY="img-$FLAVOR-$WEEK-$HASH"
DEST=$CACHE/$KEY
# The base's key hashes only the base section of this script (between the "# ---- base" and
# "# ---- flavor" lines), so a change to the flavor steps does not rebuild the bases.
BASE_HASH=$(sed -n '/^# ---- base/,/^# ---- flavor/p' "$HERE/build-image.sh" | sha256sum | cut -c1-12)
BASE_KEY="base-$RELEASE-$WEEK-$BASE_HASH"
BASE=$CACHE/$BASE_KEY

cached() { echo "build-image: cached $KEY" >&2; echo "$DEST"; exit 0; }
DEBS=$CACHE/debs-$RELEASE
mkdir -p "$DEBS"
[ -f "$DEST/manifest" ] && cached

# One build per release at a time (2.3 and 2.1 share the bookworm base and .deb cache; trixie's
# 2.4 builds beside them). A waiter polls, so it returns as soon as its own image exists even
# while another flavor's build holds the lock (ci.sh builds ahead in the background).
exec 9>"$CACHE/.build-$RELEASE.lock"
waited=0
until flock -n 9; do
    [ -f "$DEST/manifest" ] && cached
    [ "$waited" = 1 ] || echo "build-image[$FLAVOR]: waiting for another build (lock $CACHE/.build-$RELEASE.lock)" >&2
    waited=1
    sleep 2
done
[ -f "$DEST/manifest" ] && cached # built by a concurrent caller while we waited

WORK=$CACHE/build-$FLAVOR.tmp
ROOT=$WORK/root
LOG=$CACHE/build-$FLAVOR.log
: >"$LOG"

cleanup() { # unmount everything below the build roots, deepest first
    local m
    awk -v r="$WORK/" -v b="$BASE.tmp/" 'index($2, r) == 1 || index($2, b) == 1 { print $2 }' /proc/mounts |
        sort -r | while IFS= read -r m; do umount -l "$m" 2>/dev/null || true; done
}
trap 'cleanup' EXIT
kver() { basename "$(find "$ROOT/lib/modules" -mindepth 1 -maxdepth 1 -type d | sort | head -n 1)"; }

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
    TIMINGS+=("$(printf '%-48s %4ss' "$1" $((t1 - t0)))")
}
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }
mounts() { # the chroot's API file systems and the shared .deb cache
    mount -t proc proc "$ROOT/proc"
    mount -t sysfs sys "$ROOT/sys"
    mount --bind /dev "$ROOT/dev"
    mount --bind /dev/pts "$ROOT/dev/pts"
    mount --bind "$DEBS" "$ROOT/var/cache/apt/archives"
}

# ---- base (per release and week): built into $BASE.tmp, renamed when complete ------------
s_debootstrap() {
    cleanup # a crashed earlier build may have left bind mounts (of /dev!) below the roots
    rm -rf --one-file-system "$BASE.tmp" "$WORK"
    mkdir -p "$ROOT"
    debootstrap --variant=minbase --cache-dir="$DEBS" "$RELEASE" "$ROOT" "$MIRROR"
}

s_prepare() {
    cat >"$ROOT/etc/apt/sources.list" <<EOF
deb $MIRROR $RELEASE main contrib
deb $MIRROR $RELEASE-updates main contrib
deb $MIRROR $RELEASE-backports main contrib
deb http://deb.debian.org/debian-security $RELEASE-security main contrib
EOF
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
        >"$ROOT/etc/apt/apt.conf.d/90vm"
    # Faster dpkg: no fsync (the tree is packed into an image afterwards), no docs.
    cat >"$ROOT/etc/dpkg/dpkg.cfg.d/90vm" <<'EOF'
force-unsafe-io
path-exclude=/usr/share/doc/*
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
EOF
    printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
    chmod +x "$ROOT/usr/sbin/policy-rc.d"
    # The initramfs is made once, in s_init: until then update-initramfs does nothing.
    in_root dpkg-divert --local --rename --divert /usr/sbin/update-initramfs.vm --add /usr/sbin/update-initramfs
    ln -sf /bin/true "$ROOT/usr/sbin/update-initramfs"
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    echo vm >"$ROOT/etc/hostname"
    # Small initramfs: only what mounting the ext4 root on virtio needs.
    mkdir -p "$ROOT/etc/initramfs-tools/conf.d"
    echo 'MODULES=list' >"$ROOT/etc/initramfs-tools/conf.d/vm.conf"
    echo 'COMPRESS=zstd' >>"$ROOT/etc/initramfs-tools/conf.d/vm.conf"
    printf '%s\n' virtio_pci virtio_blk ext4 >>"$ROOT/etc/initramfs-tools/modules"
    mounts
    in_root apt-get update -q
}

s_base_pkgs() {
    # Kernel + headers and what DKMS needs (zfs-dkms' Depends, gcc: trixie's dkms only
    # recommends it), the guest's tools, syncoid's runtime dependencies, ssh (`pull --from`), and
    # what the package's install check reads (man-db, bash-completion: packaging/install-check.sh).
    in_root apt-get install -y -q linux-image-amd64 linux-headers-amd64 udev kmod \
        initramfs-tools zstd python3 procps \
        dkms gcc make file libc6-dev lsb-release libpython3-stdlib \
        perl libcapture-tiny-perl libconfig-inifiles-perl mbuffer pv lzop \
        openssh-client openssh-server man-db bash-completion
}

s_base_store() {
    cleanup
    # apt lists stay: a flavor installs its zfs packages from them without an apt-get update.
    rm -rf "$ROOT"/var/cache/apt/*.bin
    mv "$ROOT" "$BASE.tmp"
    rm -rf "$WORK"
    mv "$BASE.tmp" "$BASE"
}

# ---- flavor ------------------------------------------------------------------------------
s_copy_base() {
    cleanup
    rm -rf --one-file-system "$WORK"
    mkdir -p "$WORK"
    cp -a --reflink=auto "$BASE" "$ROOT"
    mounts
}

s_zfs() {
    # KCFLAGS=-g0: the kernel's config asks for DWARF debug info (CONFIG_DEBUG_INFO), which DKMS
    # strips from the installed module anyway; compiling without it is much cheaper and changes
    # no generated code (GCC's -g never alters code generation). kbuild appends KCFLAGS last.
    # Trixie's headers ship `vmlinux` only as the base for module BTF (pahole -J), which needs
    # the DWARF: without the file kbuild skips BTF ("Skipping BTF generation"), as it always
    # does on bookworm, whose headers have none. Without this, -g0 failed on trixie: pahole
    # failed in ZFS's configure probes, which then concluded "CONFIG_MODULES not defined".
    # Module BTF serves only BPF tracing, which no test uses.
    rm -f "$ROOT"/usr/src/linux-headers-*/vmlinux
    in_root env KCFLAGS=-g0 apt-get install -y -q "${ZFS_SUITE[@]}" zfs-dkms zfsutils-linux
    local KVER
    KVER=$(kver)
    if ! in_root modinfo -k "$KVER" zfs >/dev/null 2>&1; then
        echo "zfs module not built for $KVER by the package; running dkms autoinstall"
        in_root env KCFLAGS=-g0 dkms autoinstall -k "$KVER"
    fi
    in_root modinfo -k "$KVER" zfs
}

s_slim() {
    local KVER mods
    KVER=$(kver)
    mods=$ROOT/lib/modules/$KVER
    # Build-only trees go (rm, not a dpkg purge: much faster, and nothing runs apt in the VM;
    # the DKMS-built modules stay where DKMS put them, under updates/).
    umount -l "$ROOT/var/cache/apt/archives"
    rm -rf "$ROOT"/usr/src/* "$ROOT"/var/lib/dkms "$ROOT"/usr/lib/gcc "$ROOT"/usr/libexec/gcc \
        "$ROOT"/usr/share/{doc,man,info,locale} "$ROOT"/var/lib/apt/lists/* \
        "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/debconf/*-old
    rm -rf "$mods/kernel/drivers/"{gpu,media,net/wireless,net/ethernet,infiniband,staging,bluetooth,iio,isdn,usb,hid,input/joystick,input/touchscreen,scsi/qla2xxx,scsi/lpfc,scsi/mpt3sas,scsi/megaraid,mmc,nfc,thunderbolt,platform/x86} \
        "$mods/kernel/sound" "$mods/kernel/net/"{wireless,bluetooth,mac80211}
    rm -f "$mods/build" "$mods/source"
    in_root depmod -a "$KVER"
    in_root modinfo -k "$KVER" zfs >/dev/null
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
    rm -f "$ROOT/usr/sbin/policy-rc.d" "$ROOT/usr/sbin/update-initramfs"
    in_root dpkg-divert --local --rename --remove /usr/sbin/update-initramfs
    in_root update-initramfs -c -k "$KVER"
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
        echo "base=$BASE_KEY"
        echo "release=$RELEASE"
        echo "kernel=$KVER"
        echo "zfs_module=$(in_root modinfo -k "$KVER" -F version zfs)"
        # shellcheck disable=SC2016 # dpkg-query's own ${Field} syntax
        echo "zfsutils=$(in_root dpkg-query -W -f='${Version}' zfsutils-linux)"
        # shellcheck disable=SC2016
        echo "perl=$(in_root dpkg-query -W -f='${Version}' perl)"
        echo "root_used_mb=$used_mb"
        echo "built=$(date -u +%FT%TZ)"
    } >"$WORK/out/manifest.tmp"
}

if [ -d "$BASE" ]; then
    TIMINGS+=("$(printf '%-48s %4ss' "base $RELEASE (cached: $BASE_KEY)" 0)")
else
    step "base: debootstrap --variant=minbase $RELEASE" s_debootstrap
    step "base: apt sources, dpkg config, apt-get update" s_prepare
    step "base: kernel, headers, gcc, dkms, tools, perl" s_base_pkgs
    step "base: store" s_base_store
fi
step "copy the $RELEASE base" s_copy_base
step "zfs-dkms + zfsutils-linux (${FLAVOR}, DKMS build)" s_zfs
step "slim (build trees, docs, drivers)" s_slim
step "vm-init + initramfs" s_init
step "ext4 image (mkfs.ext4 -d)" s_image

rm -rf "$DEST"
mv "$WORK/out" "$DEST"
mv "$DEST/manifest.tmp" "$DEST/manifest"
rm -rf --one-file-system "$WORK"
# Keep the cache bounded: drop older images of this flavor and older bases of this release.
for old in "$CACHE"/img-"$FLAVOR"-* "$CACHE"/base-"$RELEASE"-*; do
    [ "$old" = "$DEST" ] || [ "$old" = "$BASE" ] || rm -rf --one-file-system "$old"
done

{
    echo "build-image[$FLAVOR]: timings"
    printf '  %s\n' "${TIMINGS[@]}"
    printf '  %-48s %4ss\n' "total" $(($(date +%s) - T_ALL))
    sed 's/^/  /' "$DEST/manifest"
    echo "  image: $(du -h --apparent-size "$DEST/root.img" | cut -f1) apparent, $(du -h "$DEST/root.img" | cut -f1) used"
} >&2
echo "$DEST"
