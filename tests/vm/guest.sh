#!/bin/bash
# PID 1 script of the test VM (exec'd by /sbin/vm-init from the 9p share `ctl`; see run.sh).
#
# Brings up the minimum a ZFS test needs (tmpfs, /dev/fd, udevd for /dev/zvol and by-id links),
# mounts the repository (/work, read-only) and the output share (/out), loads zfs, creates the
# pool on the virtio disk with serial `pool0`, runs /ctl/cmd with bash in /work, writes its
# exit status to /ctl/status and powers off. An infrastructure failure writes /ctl/infra-error
# and powers off without a status, which run.sh reports as exit 125.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 LC_ALL=C.UTF-8
CTL=/ctl

poweroff_now() {
    sync
    umount /out 2>/dev/null
    umount /work 2>/dev/null
    sync
    umount /ctl 2>/dev/null
    echo o >/proc/sysrq-trigger
    sleep 60
}
fail() {
    echo "vm-guest: FATAL: $*" >&2
    echo "$*" >"$CTL/infra-error"
    poweroff_now
}
uptime_s() { cut -d' ' -f1 /proc/uptime; }

# shellcheck source=/dev/null
. "$CTL/env" || fail "cannot read $CTL/env"

mount -t tmpfs -o mode=755 tmpfs /run || fail "tmpfs /run"
mount -t tmpfs -o mode=1777 tmpfs /tmp || fail "tmpfs /tmp"
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
ln -sfn /proc/self/fd /dev/fd
ln -sfn /proc/self/fd/0 /dev/stdin
ln -sfn /proc/self/fd/1 /dev/stdout
ln -sfn /proc/self/fd/2 /dev/stderr
hostname vm

# udevd: without it /dev/zvol/* and /dev/disk/by-id/* never appear. No inotify watch on zvols:
# udev's rules watch block devices, so each close after a write to a /dev/zd* (the drill's
# guests write their disks every step) raised a "change" event whose rules cost ~0.15 CPU-s
# under TCG (tests/vm/README.md "Cost"); the links come from the "add" event, and ZFS does not
# see the difference.
mkdir -p /run/udev/rules.d
echo 'KERNEL=="zd*", OPTIONS+="nowatch"' >/run/udev/rules.d/99-zvol-nowatch.rules
/lib/systemd/systemd-udevd --daemon || fail "systemd-udevd did not start"
udevadm trigger --action=add --subsystem-match=block
udevadm settle --timeout=30

mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro work /work || fail "mount 9p work"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out /out || fail "mount 9p out"

modprobe zfs || fail "modprobe zfs failed"
{
    echo "kernel=$(uname -r)"
    echo "zfs_kmod=$(cat /sys/module/zfs/version)"
    echo "zfs_userland=$(zfs version 2>/dev/null | head -1)"
} >"$CTL/vm-info"

DISK=/dev/disk/by-id/virtio-pool0
[ -e "$DISK" ] || DISK=/dev/vdb
[ -b "$DISK" ] || fail "pool disk not found (no $DISK)"
export VM_POOL VM_POOL_DISK=$DISK VM_OUT=/out VM_WORK=/work VM_FLAVOR
# On OpenZFS 2.4 (trixie) the first create sometimes fails with "no such pool or dataset" while
# udev still handles the new disk's events (seen once in e2e-main, as in run-cases.sh): settle
# and retry a few times before calling the VM failed.
created=0
for try in 1 2 3 4 5; do
    # shellcheck disable=SC2086 # VM_POOL_OPTS is a word list by design
    if zpool create -f -o cachefile=none $VM_POOL_OPTS "$VM_POOL" "$DISK"; then created=1; break; fi
    udevadm settle -t 10 2>/dev/null
    sleep "$try"
done
[ "$created" = 1 ] || fail "zpool create $VM_POOL failed"
echo "ready=$(uptime_s)" >>"$CTL/vm-info"

cd /work || fail "cd /work"
bash "$CTL/cmd" </dev/null >"$CTL/stdout" 2>"$CTL/stderr"
rc=$?
echo "done=$(uptime_s)" >>"$CTL/vm-info"
echo "$rc" >"$CTL/status"
poweroff_now
