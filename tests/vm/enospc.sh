#!/usr/bin/env bash
# A nearly full pool on REAL OpenZFS (issue 21, "Monitoring parity"), inside the test VM:
#   tests/vm/run.sh <flavor> --pool rpool -- /work/tests/vm/enospc.sh
# (part of suite.sh). A snapshot that fails for lack of space must not stop the destroys that
# free it.
#
# How the pool fills: as on a PVE `zfspool` storage without `sparse` (PVE's default), the
# running guest's disk is a thick zvol (refreservation = its size), so ZFS refuses a snapshot of
# it (ENOSPC, `dsl_dataset_snapshot_reserve_space`) unless the pool still has room for every
# block the disk holds alone. The guest rewrites its whole disk between runs, so each snapshot
# pins one disk's worth. A dataset with a refreservation (filler) leaves the pool room for
# exactly 3.5 disks: the runs at 09:15, 09:30 and 09:45 (policy f2) take 3 snapshots, the 4th
# cannot be taken. A backup tool holds the 09:15 snapshot meanwhile, so the 09:45 run cannot
# destroy it although it expired (EBUSY, kept); at 10:15, the hold released, two snapshots are
# expired and the snapshot fails with ENOSPC: the run must still destroy both (09:45 stays, so
# the disk keeps a snapshot of ours; docs/ARCHITECTURE.md), exit non-zero naming the disk, and
# the 10:30 run must take its snapshot and exit 0. A manual snapshot @keep is never touched.
#
# Then the steady state: another dataset grows and fills the pool again; at 10:45 f2 has one
# expired snapshot (09:45) and the snapshot fails: the run must destroy it all the same (10:30
# stays) and so free space, and the 11:00 run must take its snapshot again (the steady state
# recovers). Before issue 21's fix that one was held back and every later run failed alike.
#
# Cheap under TCG: one 8 MiB disk, seven runs, ~25 processes; ~30 s of the VM's time.
# One line per check (`ok …` / `FAIL …`), a count at the end; exit 1 on any FAIL.
set -uo pipefail
REPO=${VM_WORK:-/work}
BIN=${BIN:-$REPO/target/debug/pve-zfs-snap}
[ -x "$BIN" ] || { echo "enospc: $BIN missing (cargo build --bins on the host)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "enospc: needs root (a real pool)" >&2; exit 1; }
[ -n "${VM_FLAVOR:-}" ] || { echo "enospc: runs only inside the test VM (it sets the clock)" >&2; exit 1; }
export TZ=UTC
W=$(mktemp -d /tmp/enospc.XXXXXX)
cp "$BIN" "$W/pve-zfs-snap" # from tmpfs: a start from the 9p share costs ~1.8 s under TCG
BIN=$W/pve-zfs-snap
P=E # the pool
DISK=$P/data/vm-100-disk-0
MIB=$((1024 * 1024))
SIZE_MIB=8
PASS=0 FAILN=0
ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
fail() { FAILN=$((FAILN + 1)); echo "FAIL $*"; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got [$2], want [$3]"; fi; }
say() { echo "     $*"; }
finish() {
    echo "enospc: $PASS ok, $FAILN FAIL on $(zfs version 2>/dev/null | tail -n 1)"
    exit $((FAILN > 0))
}

NOW=""
at() { NOW=$1; date -u -s "$1" >/dev/null; } # the pool's clock is the run's (creation decides)
RC=0
run() { # run <time>: one cron run at that time; RC, output in $W/out
    at "2026-11-21T$1:00Z"
    "$BIN" --root "$ROOT" --node pve1 --cron --now "$NOW" f2 >"$W/out" 2>&1
    RC=$?
}
ours() { zfs list -H -o name -t snapshot -s createtxg -d 1 "$DISK" | sed -n 's/.*@autosnap_2026-11-21_\(.*\):00_.*/\1/p' | tr '\n' ' ' | sed 's/ $//'; }
avail() { zfs get -H -p -o value available "$P"; }
# A destroy freed space: `available` grew from a0 to a1 by half a disk or more (metadata alone
# moves it by a few KiB).
freed() { [ $((a1 - a0)) -ge $((SIZE_MIB * MIB / 2)) ]; }
rewrite() { # the guest rewrites its whole disk: the last snapshot now pins all of it
    dd if=/dev/urandom of="/dev/zvol/$DISK" bs=1M count=$SIZE_MIB oflag=direct conv=notrunc status=none ||
        fail "write to /dev/zvol/$DISK"
}

at 2026-11-21T09:00:00Z
truncate -s 256M "$W/$P.img"
zpool create -f -o cachefile=none -O compression=off "$P" "$W/$P.img" || { echo "enospc: zpool create failed" >&2; exit 1; }
zfs create "$P/data"
zfs create -V ${SIZE_MIB}M "$DISK" # thick: no -s
zfs snapshot "$DISK@keep"          # a manual snapshot (pins nothing: the disk is still empty)
udevadm settle --timeout=30 2>/dev/null || true
[ -e "/dev/zvol/$DISK" ] || { echo "enospc: no /dev/zvol/$DISK" >&2; exit 1; }
rewrite
# Room for 3.5 disks: the fourth snapshot needs one disk's worth and finds half.
filler=$(($(avail) - 7 * SIZE_MIB * MIB / 2))
zfs create -o refreservation="$filler" "$P/filler"
say "pool $P: $(($(avail) / 1024)) KiB available, disk $DISK ${SIZE_MIB} MiB thick (refreservation $(zfs get -H -o value refreservation "$DISK"))"

# A single node pve1; VM 100 running with that disk on a non-sparse zfspool storage.
ROOT=$W/root
mkdir -p "$ROOT/etc/pve/nodes/pve1/qemu-server" "$ROOT/etc/pve/nodes/pve1/lxc" "$ROOT/run/qemu-server" "$ROOT/proc/net" "$ROOT/proc/4100"
ln -s nodes/pve1 "$ROOT/etc/pve/local"
ln -s nodes/pve1/qemu-server "$ROOT/etc/pve/qemu-server"
ln -s nodes/pve1/lxc "$ROOT/etc/pve/lxc"
ln -s /sys "$ROOT/sys"
echo pve1 >"$ROOT/etc/hostname"
printf '{"nodename": "pve1", "version": 2, "cluster": {"name": "enospc", "version": 1, "nodes": 1, "quorate": 1}, "nodelist": {"pve1": {"id": 1, "online": 1, "ip": "10.0.0.1"}}}\n' >"$ROOT/etc/pve/.members"
printf '{\n"version": 2,\n"ids": {\n"100": { "node": "pve1", "type": "qemu", "version": 2 }}\n\n}\n' >"$ROOT/etc/pve/.vmlist"
printf 'dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\nzfspool: local-zfs\n\tpool %s/data\n\tcontent images,rootdir\n' "$P" >"$ROOT/etc/pve/storage.cfg"
printf 'name: full\nmemory: 1024\nscsi0: local-zfs:vm-100-disk-0,size=%dM\nscsihw: virtio-scsi-single\n' $SIZE_MIB >"$ROOT/etc/pve/nodes/pve1/qemu-server/100.conf"
printf 'Num       RefCount Protocol Flags    Type St Inode Path\n' >"$ROOT/proc/net/unix"
printf '/usr/bin/kvm\0-id\0100\0-name\0full\0-pidfile\0/var/run/qemu-server/100.pid\0-daemonize\0' >"$ROOT/proc/4100/cmdline"
echo "4100 (kvm) S 1 4100 4100 0 -1 138412352 0 0 0 0 0 0 0 0 20 0 9 0 4100 0 0" >"$ROOT/proc/4100/stat"
echo 4100 >"$ROOT/run/qemu-server/100.pid"

# Filling: three runs, the guest rewriting its disk after each; a backup tool holds 09:15.
run 09:15
check "09:15: snapshot taken, exit 0" "$RC $(ours)" "0 09:15"
zfs hold backup "$DISK@autosnap_2026-11-21_09:15:00_frequently"
rewrite
run 09:30
check "09:30: snapshot taken, exit 0" "$RC $(ours)" "0 09:15 09:30"
rewrite
run 09:45
check "09:45: snapshot taken; the expired 09:15 is held, so it stays" "$(ours)" "09:15 09:30 09:45"
rewrite
# The kernel's own word that the pool is full for this disk (the CLI, not a channel program).
if out=$(zfs snapshot "$DISK@probe" 2>&1); then
    fail "the pool is not full: zfs snapshot $DISK@probe succeeded"
    zfs destroy "$DISK@probe"
    finish
else
    say "kernel: $out"
    case $out in *"out of space"*) ok "the pool is full: zfs snapshot fails with ENOSPC (out of space)" ;;
        *) fail "zfs snapshot failed, but not for lack of space: $out" ;; esac
fi
zfs release backup "$DISK@autosnap_2026-11-21_09:15:00_frequently"

# The run under test: its snapshot fails for lack of space; 09:15 and 09:30 expired (f2).
a0=$(avail)
run 10:15
a1=$(avail)
sed 's/^/     run 10:15: /' "$W/out"
if [ "$RC" != 0 ]; then ok "10:15: exit $RC (not 0)"; else fail "10:15: exit 0 although its snapshot failed"; fi
if grep "$DISK" "$W/out" | grep -q -e ENOSPC -e 'space'; then ok "10:15: says the snapshot of $DISK failed for lack of space"; else
    fail "10:15: no line naming $DISK and the lack of space"; fi
check "10:15: no snapshot; the expired 09:15 and 09:30 destroyed (09:45 stays)" "$(ours)" "09:45"
if freed; then ok "10:15: the pool's free space grew ($((a0 / 1024)) -> $((a1 / 1024)) KiB)"; else
    fail "10:15: free space did not grow by half a disk or more ($a0 -> $a1 bytes)"; fi

# The next run has room again.
rewrite
run 10:30
sed 's/^/     run 10:30: /' "$W/out"
check "10:30: snapshot taken, nothing expired, exit 0" "$RC $(ours)" "0 09:45 10:30"

# Steady state: f2 expires one snapshot per run. Another dataset grows by one disk's worth,
# so the pool is full again at 10:45, whose only expired snapshot is 09:45: it must be
# destroyed although the snapshot failed (10:30 stays, so the disk keeps a snapshot of ours),
# or nothing is ever freed and every later run fails alike until an admin acts. The 11:00 run
# (no rewrite since: the disk holds what it held at 10:45) then finds room again.
# The rewrite first: on 2.1.11, a rewrite right after the filler grew failed with ENOSPC in
# the write path (measured), which is not what this step is about.
rewrite
zfs set refreservation=$((filler + SIZE_MIB * MIB)) "$P/filler"
a0=$(avail)
run 10:45
a1=$(avail)
sed 's/^/     run 10:45: /' "$W/out"
check "10:45: full again, snapshot failed (exit non-zero); the expired 09:45 destroyed, 10:30 stays" "$([ "$RC" != 0 ] && echo failed) $(ours)" "failed 10:30"
if freed; then ok "10:45: the pool's free space grew ($((a0 / 1024)) -> $((a1 / 1024)) KiB)"; else
    fail "10:45: free space did not grow by half a disk or more ($a0 -> $a1 bytes): nothing freed in the steady state"; fi
run 11:00
sed 's/^/     run 11:00: /' "$W/out"
check "11:00: the steady state recovers: snapshot taken, exit 0" "$RC $(ours)" "0 10:30 11:00"
check "the manual snapshot @keep is never destroyed" "$(zfs list -H -o name "$DISK@keep" 2>&1)" "$DISK@keep"
finish
