#!/usr/bin/env bash
# End-to-end scenarios of the main run on REAL OpenZFS, inside the test VM:
#   tests/vm/run.sh <flavor> --pool rpool -- /work/tests/vm/e2e-main.sh
# The host-built pve-zfs-snap (target/debug) runs against a copy of the `basic` PVE fixture tree
# (tests/fixtures/pve/basic) and the kernel's pools: `rpool` (made by run.sh) and `tank` (a file
# vdev made here). Checks: the snapshots of one run share one createtxg per pool; labels and
# `_stopped` behave; rotation keeps exactly what the rules say; bookmarks; foreign snapshots,
# replicas (VM 300) and the template survive; --dry-run changes nothing; a per-guest policy from
# /etc/pve/pve-zfs-snap.cfg (CT 200: f1, its tank disk excluded) and the node status file.
set -euo pipefail
REPO=${VM_WORK:-/work}
BIN=${BIN:-$REPO/target/debug/pve-zfs-snap}
[ -x "$BIN" ] || { echo "e2e-main: $BIN missing (cargo build --bins on the host)" >&2; exit 1; }
W=$(mktemp -d)
# Run the binary from tmpfs, as the drill does: exec'ing the ~100 MB debug build from the 9p
# share re-reads it every time (measured under TCG: 1.8 s per start, 0.14 s from tmpfs).
cp "$BIN" "$W/pve-zfs-snap"
BIN=$W/pve-zfs-snap
ROOT=$W/root
cp -a "$REPO/tests/fixtures/pve/basic" "$ROOT"
# In the VM the product reads the real module's version and channel-program limits from sysfs,
# as on a node (--root /).
if [ -n "${VM_FLAVOR:-}" ]; then ln -s /sys "$ROOT/sys"; fi
PASS=0
ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
die() { echo "FAIL $*" >&2; exit 1; }
eq() { if [ "$1" = "$2" ]; then ok "$3"; else die "$3: got [$1], want [$2]"; fi; }
# The pool's clock must be the run's clock: snapshot `creation` decides the calendar buckets.
# In the throw-away VM, set the guest's clock; on the emulator, ZFS_EMU_NOW.
at() {
    export ZFS_EMU_NOW
    ZFS_EMU_NOW=$(date -u -d "$1" +%s)
    if [ -n "${VM_FLAVOR:-}" ]; then date -u -s "$1" >/dev/null; fi
}
run() { at "$1"; "$BIN" --root "$ROOT" --node pve1 --cron --now "$@"; }
ours() { zfs list -H -o name -t snapshot -s createtxg -d 1 "$1" | sed -n 's/.*@\(autosnap_.*\)/\1/p' | tr '\n' ' ' | sed 's/ $//'; }
label() { zfs get -H -o value label:running "$1"; }
txgs() { zfs list -H -p -o name,createtxg -t snapshot -r "$1" | awk -v w="$2" '$1 ~ "@autosnap_" w {print $2}' | sort -u | wc -l; }

at 2026-11-21T09:00:00Z
truncate -s 512M "$W/tank.img"
zpool create -f -o cachefile=none tank "$W/tank.img"
zfs create -p rpool/data
for d in vm-100-disk-0 vm-100-disk-1 vm-100-disk-2 vm-101-disk-0 vm-102-disk-0 base-900-disk-0 vm-300-disk-0; do
    zfs create -s -V 64M "rpool/data/$d"
done
zfs create rpool/data/subvol-200-disk-0
zfs create -p tank/pve/ct/subvol-200-disk-0
zfs snapshot rpool/data/base-900-disk-0@__base__
FOREIGN="__replicate_100-0_1718000000__ before-upgrade mysnap autosnap_2026-01-01_00:00:00_monthly"
for f in $FOREIGN; do zfs snapshot "rpool/data/vm-100-disk-0@$f"; done

# Dry run first: nothing changes on the real pool.
before=$(zfs list -H -p -o name,createtxg -t all -r rpool tank; zfs get -H -o name,value label:running -r rpool tank)
at 2026-11-21T10:00:00Z
"$BIN" --root "$ROOT" --node pve1 --dry-run --now 2026-11-21T10:00:00Z f2 h2 >/dev/null
after=$(zfs list -H -p -o name,createtxg -t all -r rpool tank; zfs get -H -o name,value label:running -r rpool tank)
eq "$after" "$before" "--dry-run changes nothing"

run 2026-11-21T10:00:00Z f2 h2
if [ -n "${VM_FLAVOR:-}" ]; then
    for f in version parameters/zfs_lua_max_instrlimit parameters/zfs_lua_max_memlimit; do
        if [ -r "/sys/module/zfs/$f" ]; then ok "sysfs has /sys/module/zfs/$f"; else die "no /sys/module/zfs/$f"; fi
    done
fi
if [ -s "$ROOT/var/cache/pve-zfs-snap/snapshots.json" ]; then ok "the snapshot-facts cache was written"; else
    die "no $ROOT/var/cache/pve-zfs-snap/snapshots.json"; fi
eq "$(txgs rpool 2026-11-21_10:00:00)" 1 "first run: all snapshots on rpool share one createtxg"
eq "$(txgs tank 2026-11-21_10:00:00)" 1 "first run: the snapshot on tank has one createtxg"
eq "$(zfs list -H -t snapshot -o name -r rpool tank | grep -c '@autosnap_2026-11-21_10:00:00_')" 7 "7 snapshots: 5 running disks + 2 stopped markers"
for d in vm-100-disk-0 vm-100-disk-1 vm-100-disk-2 subvol-200-disk-0; do
    eq "$(label rpool/data/$d)" pve1 "label:running=pve1 on $d"
done
eq "$(label tank/pve/ct/subvol-200-disk-0)" pve1 "label:running=pve1 on the CT's second pool"
for d in vm-101-disk-0 vm-102-disk-0; do
    eq "$(ours rpool/data/$d)" autosnap_2026-11-21_10:00:00_stopped "one _stopped snapshot on stopped $d"
    eq "$(label rpool/data/$d)" stopped "label:running=stopped on $d"
done
eq "$(label rpool/data/vm-300-disk-0)" - "pve2's guest: label untouched"
eq "$(zfs list -H -t snapshot -o name -d 1 rpool/data/vm-300-disk-0 | wc -l)" 0 "pve2's guest: no snapshot"
eq "$(zfs list -H -t snapshot -o name -d 1 rpool/data/base-900-disk-0)" rpool/data/base-900-disk-0@__base__ "template untouched"

# A second run at the same instant creates nothing.
n=$(zfs list -H -t snapshot,bookmark -o name -r rpool tank | wc -l)
run 2026-11-21T10:00:00Z f2 h2
eq "$(zfs list -H -t snapshot,bookmark -o name -r rpool tank | wc -l)" "$n" "same-instant rerun creates nothing"

# Three hours of quarter-hour runs: f2 h2 keeps 12:00h, 12:45f, 13:00h exactly.
for t in 10:15 10:30 10:45 11:00 11:15 11:30 11:45 12:00 12:15 12:30 12:45 13:00; do
    run "2026-11-21T$t:00Z" f2 h2
    eq "$(txgs rpool "2026-11-21_$t:00")" 1 "run $t: one createtxg on rpool"
done
eq "$(ours rpool/data/vm-100-disk-0)" \
    "autosnap_2026-01-01_00:00:00_monthly autosnap_2026-11-21_12:00:00_hourly autosnap_2026-11-21_12:45:00_frequently autosnap_2026-11-21_13:00:00_hourly" \
    "rotation keeps exactly the newest 2 and the newest 2 hourlies (the unmanaged monthly stays)"
for f in $FOREIGN; do
    if zfs list -H -o name "rpool/data/vm-100-disk-0@$f" >/dev/null; then ok "foreign $f survives"; else die "foreign $f destroyed"; fi
done
eq "$(zfs list -H -t bookmark -o name -d 1 rpool/data/vm-100-disk-0 | sed 's/.*#//' | tr '\n' ' ')" \
    "autosnap_2026-11-21_10:00:00_hourly autosnap_2026-11-21_11:00:00_hourly autosnap_2026-11-21_12:00:00_hourly autosnap_2026-11-21_13:00:00_hourly " \
    "bookmarks of every hourly, kept twice as long (h4)"

# The cache's name listings. OpenZFS >= 2.2: a disk whose snapshots_changed still has the
# value the last run left is not walked; a change by someone else moves it and is seen.
# OpenZFS 2.1 has no such property: no listing is kept, every run walks.
listing() { # listing <dataset>: "<changed> <our snapshots, sorted>" or "none"
    python3 -c 'import json, sys
f = open(sys.argv[1]); f.readline()  # FORMAT 2: a header line (magic, format, checksum) first
d = json.load(f)["pools"]["rpool"]["datasets"][sys.argv[2]].get("listing")
print("none" if d is None else " ".join([str(d["changed"])] + sorted(d["snapshots"])))' \
        "$ROOT/var/cache/pve-zfs-snap/snapshots.json" "$1"
}
sorted_ours() { ours "$1" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//'; }
kmod=$(zfs version | sed -n 's/^zfs-kmod-\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
changed_prop() { # the kernel's value, or "unsupported" before OpenZFS 2.2
    if [ "${kmod% *}" -gt 2 ] || { [ "${kmod% *}" -eq 2 ] && [ "${kmod#* }" -ge 2 ]; }; then
        zfs get -H -p -o value snapshots_changed "$1"
    else
        echo unsupported
    fi
}
d1=rpool/data/vm-100-disk-1
# A rerun at the same instant plans nothing: its inventory is all there is to see.
at 2026-11-21T13:00:00Z
skipped=$("$BIN" -vv --root "$ROOT" --node pve1 --cron --now 2026-11-21T13:00:00Z f2 h2 2>&1 |
    sed -n 's/.*rpool: inventory \([0-9]*\) + snapinfo \([0-9]*\) program(s), \([0-9]*\) walk(s) skipped.*/\1 \2 \3/p')
if [ "$(changed_prop $d1)" = unsupported ]; then
    eq "$(listing $d1)" none "OpenZFS 2.1: no listing kept"
    eq "$skipped" "1 0 0" "OpenZFS 2.1: a rerun walks every disk (1 inventory, no snapinfo)"
else
    eq "$(listing $d1)" "$(changed_prop $d1) $(sorted_ours $d1)" \
        "the cached listing of $d1 is exact for the kernel's snapshots_changed"
    eq "$skipped" "1 0 6" "a rerun walks no disk of rpool (1 inventory, no snapinfo, 6 skipped)"
fi

# VM 100 stops: exactly one _stopped snapshot per disk, over two runs. Before that, someone
# else destroys one of our snapshots: the next run must see it gone.
at 2026-11-21T13:05:00Z
zfs destroy "$d1@autosnap_2026-11-21_12:00:00_hourly"
rm "$ROOT/run/qemu-server/100.pid"
run 2026-11-21T13:15:00Z f2 h2
if [ "$(changed_prop $d1)" != unsupported ]; then
    eq "$(listing $d1)" "$(changed_prop $d1) $(sorted_ours $d1)" \
        "a snapshot destroyed by someone else is gone from the listing"
fi
run 2026-11-21T13:30:00Z f2 h2
for d in vm-100-disk-0 vm-100-disk-1 vm-100-disk-2; do
    eq "$(zfs list -H -o name -t snapshot -d 1 rpool/data/$d | grep -c _stopped)" 1 "exactly one _stopped on $d"
    eq "$(label rpool/data/$d)" stopped "label stopped on $d"
done
eq "$(txgs rpool 2026-11-21_13:15:00)" 1 "stop markers of one run share one createtxg"

# A per-guest policy from the cluster file (/etc/pve/pve-zfs-snap.cfg): CT 200 keeps one
# frequent snapshot (hourlies are then unmanaged: kept), its tank disk is left out; every other
# guest keeps the command line's f2 h2.
printf 'rule: ct200\n\tvmid 200\n\tkeep f1\n\nrule: ct200-data\n\tvmid 200\n\tdisk mp0\n\texclude 1\n' \
    >"$ROOT/etc/pve/pve-zfs-snap.cfg"
"$BIN" config check --root "$ROOT" >/dev/null || die "config check refuses the policy file"
ok "config check accepts the policy file"
at 2026-11-21T13:45:00Z
plan=$("$BIN" --root "$ROOT" --node pve1 --dry-run --now 2026-11-21T13:45:00Z f2 h2)
case $plan in *"rootfs: f1 (vmid 200; rule ct200, line 1)"*) ok "--dry-run names CT 200's policy" ;;
    *) die "--dry-run does not name CT 200's policy: $plan" ;; esac
tank_before=$(ours tank/pve/ct/subvol-200-disk-0)
run 2026-11-21T14:00:00Z f2 h2
run 2026-11-21T14:15:00Z f2 h2
eq "$(ours rpool/data/subvol-200-disk-0 | tr ' ' '\n' | grep -c _frequently)" 1 "CT 200 (policy f1): one frequent left"
eq "$(ours rpool/data/subvol-200-disk-0 | tr ' ' '\n' | grep -c _hourly)" 2 "CT 200 (policy f1): its 2 hourlies (12:00, 13:00) are unmanaged now: kept"
eq "$(ours tank/pve/ct/subvol-200-disk-0)" "$tank_before" "CT 200's excluded disk: untouched"
if [ -s "$ROOT/etc/pve/nodes/pve1/pve-zfs-snap.json" ]; then ok "node status written to /etc/pve/nodes/pve1"; else
    die "no node status in $ROOT/etc/pve/nodes/pve1"; fi
echo "e2e-main: $PASS checks passed on $(zfs version | tail -1)"
