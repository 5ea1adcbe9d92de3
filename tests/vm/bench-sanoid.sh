#!/usr/bin/env bash
# Issue 9: pve-zfs-snap side by side with sanoid on the same REAL pool, inside the test VM.
# On demand only (not part of .ci/run). From the host:
#
#   mkdir -p /tmp/bench-out/debs && (cd /tmp/bench-out/debs && \
#       apt-get download sanoid libconfig-inifiles-perl libcapture-tiny-perl)
#   tests/vm/run.sh 2.3 --disk-size 16G --mem 3072 --timeout 3000 --out /tmp/bench-out -- \
#       env DATASETS=1000 /work/tests/vm/bench-sanoid.sh
#
# Builds pool `tank` shaped like a large PVE node: $DATASETS guest datasets under tank/data
# (2 zvols per VM + 1 subvol per CT, i.e. 2/3 zvols), each with the 15-minute history of
# f96 h48 d7 ending at 2026-11-21 23:30 UTC (96 + 48 + 7 = 151 snapshots of ours, made with
# the guest clock set to each instant, since `creation` drives both tools) and 3 foreign
# snapshots. `zpool checkpoint` freezes that state; each tool then runs at 23:45 (a normal
# 15-minute run: f due) and at 00:00 (midnight: f, h and d due), and the pool is rewound to
# the checkpoint (export + import --rewind-to-checkpoint) before the next tool.
# Measured per run: wall time, zfs/zpool processes by subcommand (PATH wrappers that log and
# exec /usr/sbin/*; the same wrappers for both tools), new snapshots and their distinct
# createtxg, snapshots destroyed, and the longest call that waits for a txg sync (a `zfs
# program` without -n, `zfs snapshot`, `zfs destroy`). Table: /out/bench-sanoid.md.
# sanoid's debs must be in /out/debs (it is not in the image; see above).
set -euo pipefail
REPO=${VM_WORK:-/work}
OUT=${VM_OUT:-/out}
BIN=${BIN:-$REPO/target/release/pve-zfs-snap}
N=${DATASETS:-1000}
POOL=${VM_POOL:-tank}
DISK=${VM_POOL_DISK:?run inside tests/vm/run.sh}
[ -x "$BIN" ] || { echo "bench: $BIN missing (cargo build --release on the host)" >&2; exit 1; }
W=$(mktemp -d)
ROOT=$W/root
log() { echo "[$(cut -d' ' -f1 /proc/uptime)s] $*" >&2; }
at() { date -u -s "@$1" >/dev/null; }
epoch() { date -u -d "$1" +%s; }

# --- sanoid from the host's debs (its runtime deps pv/lzop/mbuffer are for syncoid only)
command -v perl >/dev/null || { echo "bench: no perl in the image" >&2; exit 1; }
ls "$OUT"/debs/*.deb >/dev/null 2>&1 || { echo "bench: no debs in $OUT/debs" >&2; exit 1; }
dpkg --force-depends -i "$OUT"/debs/*.deb >/dev/null 2>&1 || true
command -v sanoid >/dev/null || { echo "bench: sanoid did not install" >&2; exit 1; }
SANOID_VERSION=$(dpkg-query -W -f '${Version}' sanoid)

# --- wrappers: every zfs/zpool process of either tool is logged with its duration
mkdir -p "$W/bin"
CALLS=$W/calls.log
for t in zfs zpool; do
    cat >"$W/bin/$t" <<EOF
#!/bin/bash
s=\$EPOCHREALTIME
/usr/sbin/$t "\$@"
rc=\$?
ro=rw; for a in "\$@"; do [ "\$a" = -n ] && ro=ro; done
echo "$t \$1 \$ro \$s \$EPOCHREALTIME \$rc" >>"$CALLS"
exit \$rc
EOF
    chmod +x "$W/bin/$t"
done

# --- the pool: datasets
T_LAST=$(epoch 2026-11-21T23:30:00Z)
at $((T_LAST - 8 * 86400))
zfs create -o volmode=none -o mountpoint=none "$POOL/data"
vms=() cts=() names=()
declare -A has1
id=1000
while [ ${#names[@]} -lt "$N" ]; do
    vms+=("$id"); names+=("vm-$id-disk-0")
    if [ ${#names[@]} -lt "$N" ]; then names+=("vm-$id-disk-1"); has1[$id]=1; fi
    id=$((id + 1))
    if [ ${#names[@]} -lt "$N" ]; then cts+=("$id"); names+=("subvol-$id-disk-0"); id=$((id + 1)); fi
done
log "creating $N datasets (${#vms[@]} VMs, ${#cts[@]} CTs)"
t0=$EPOCHREALTIME
printf '%s\n' "${names[@]}" | xargs -P 16 -I{} sh -c \
    'case {} in vm-*) zfs create -s -V 64M '"$POOL"'/data/{} ;; *) zfs create '"$POOL"'/data/{} ;; esac'
log "datasets: $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}')s"

# --- history: f96 h48 d7 of 15-minute runs ending at T_LAST, plus 3 foreign snapshots
t0=$EPOCHREALTIME
calls=0
at $((T_LAST - 7 * 86400 - 600))
zfs snapshot -r "$POOL/data@before-upgrade"
for ((t = T_LAST - 7 * 86400 + 900; t <= T_LAST; t += 900)); do
    classes=()
    [ $((t % 86400)) = 0 ] && classes+=(daily)
    [ $((t % 3600)) = 0 ] && [ "$t" -gt $((T_LAST - 48 * 3600)) ] && classes+=(hourly)
    [ "$t" -gt $((T_LAST - 24 * 3600)) ] && classes+=(frequently)
    [ ${#classes[@]} = 0 ] && continue
    at "$t"
    name=autosnap_$(date -u -d "@$t" +%Y-%m-%d_%H:%M:%S)
    for c in "${classes[@]}"; do zfs snapshot -r "$POOL/data@${name}_$c"; calls=$((calls + 1)); done
    if [ "$t" = $((T_LAST - 30 * 3600)) ]; then
        zfs snapshot -r "$POOL/data@__replicate_bench-0_${t}__"
        zfs snapshot -r "$POOL/data@zfs-auto-snap_daily-$(date -u -d "@$t" +%F-%H%M)"
    fi
done
TOTAL=$(zfs list -H -t snapshot -o name -r "$POOL/data" | wc -l)
log "history: $calls recursive snapshot calls, $TOTAL snapshots, $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}')s"

# --- the PVE tree: node pve1, every guest running, storage local-zfs = tank/data
mkdir -p "$ROOT/etc/pve/nodes/pve1/qemu-server" "$ROOT/etc/pve/nodes/pve1/lxc" "$ROOT/run/qemu-server" "$ROOT/proc/net"
ln -s nodes/pve1 "$ROOT/etc/pve/local"
echo pve1 >"$ROOT/etc/hostname"
printf 'zfspool: local-zfs\n\tpool %s/data\n\tsparse\n\tcontent images,rootdir\n' "$POOL" >"$ROOT/etc/pve/storage.cfg"
echo 'Num       RefCount Protocol Flags    Type St Inode Path' >"$ROOT/proc/net/unix"
{
    echo '{'; echo '"version": 1,'; echo '"ids": {'
    sep=
    for v in "${vms[@]}"; do printf '%s"%s": { "node": "pve1", "type": "qemu", "version": 1 }' "$sep" "$v"; sep=$',\n'; done
    for c in "${cts[@]}"; do printf '%s"%s": { "node": "pve1", "type": "lxc", "version": 1 }' "$sep" "$c"; sep=$',\n'; done
    echo '}}'
} >"$ROOT/etc/pve/.vmlist"
pid=20000
for v in "${vms[@]}"; do
    {
        echo "scsi0: local-zfs:vm-$v-disk-0,size=64M"
        [ -n "${has1[$v]:-}" ] && echo "scsi1: local-zfs:vm-$v-disk-1,size=64M"
        echo "memory: 2048"
    } >"$ROOT/etc/pve/nodes/pve1/qemu-server/$v.conf"
    mkdir -p "$ROOT/proc/$pid"
    printf '/usr/bin/kvm\0-id\0%s\0-pidfile\0/var/run/qemu-server/%s.pid\0-daemonize\0' "$v" "$v" >"$ROOT/proc/$pid/cmdline"
    echo "$pid (kvm) S 1 $pid" >"$ROOT/proc/$pid/stat"
    echo "$pid" >"$ROOT/run/qemu-server/$v.pid"
    pid=$((pid + 1))
done
for c in "${cts[@]}"; do
    printf 'rootfs: local-zfs:subvol-%s-disk-0,size=8G\nmemory: 512\n' "$c" >"$ROOT/etc/pve/nodes/pve1/lxc/$c.conf"
    echo "0000000000000000: 00000002 00000000 00010000 0001 01 99999 @/var/lib/lxc/$c/command" >>"$ROOT/proc/net/unix"
done

# --- sanoid's equivalent policy (daily at 00:00 like ours, not its 23:59 default)
mkdir -p "$W/sanoid" "$W/sanoid-cache" "$W/sanoid-run"
cp /usr/share/sanoid/sanoid.defaults.conf "$W/sanoid/"
cat >"$W/sanoid/sanoid.conf" <<EOF
[$POOL/data]
	use_template = bench
	recursive = yes
	process_children_only = yes
[template_bench]
	frequently = 96
	hourly = 48
	daily = 7
	weekly = 0
	monthly = 0
	yearly = 0
	autosnap = yes
	autoprune = yes
	hourly_min = 0
	daily_hour = 0
	daily_min = 0
EOF

zpool checkpoint "$POOL"
rewind() {
    zpool export "$POOL"
    zpool import -d "$(dirname "$DISK")" --rewind-to-checkpoint "$POOL"
}

RESULTS=$W/results
: >"$RESULTS"
# measure <tool> <label> <epoch> <command...>
measure() {
    local tool=$1 label=$2 t=$3
    shift 3
    local before_txg before_n after_n new txgs rc
    zfs list -H -p -o name,createtxg -t snapshot -r "$POOL/data" >"$W/snaps"
    before_n=$(wc -l <"$W/snaps")
    before_txg=$(awk '$2 > m {m = $2} END {print m + 0}' "$W/snaps")
    at "$t"
    : >"$CALLS"
    local s=$EPOCHREALTIME
    set +e
    PATH=$W/bin:$PATH "$@" >"$W/$tool-$label.out" 2>&1
    rc=$?
    set -e
    local e=$EPOCHREALTIME
    zfs list -H -p -o name,createtxg -t snapshot -r "$POOL/data" >"$W/snaps"
    after_n=$(wc -l <"$W/snaps")
    new=$(awk -v b="$before_txg" '$2 > b' "$W/snaps" | wc -l)
    txgs=$(awk -v b="$before_txg" '$2 > b {print $2}' "$W/snaps" | sort -u | wc -l)
    cp "$CALLS" "$OUT/calls-$tool-$label.log"
    awk -v tool="$tool" -v label="$label" -v rc="$rc" -v s="$s" -v e="$e" -v new="$new" \
        -v txgs="$txgs" -v destroyed=$((before_n + new - after_n)) '
        { n[$1]++; sub_[$1 " " $2 ($2 == "program" ? "(" $3 ")" : "")]++
          d = $5 - $4
          if (($2 == "program" && $3 == "rw") || $2 == "snapshot" || $2 == "destroy" || $2 == "bookmark")
              if (d > maxsync) maxsync = d }
        END {
          subs = ""; for (k in sub_) subs = subs (subs ? ", " : "") sub_[k] "× " k
          printf "| %s | %s | %d | %.2f | %d | %d | %s | %d | %d | %d | %.2f |\n", tool, label, rc, e - s,
              n["zfs"] + 0, n["zpool"] + 0, subs, new, txgs, destroyed, maxsync
        }' "$CALLS" >>"$RESULTS"
    log "$tool $label: rc $rc, $(tail -1 "$RESULTS")"
}

T1=$(epoch 2026-11-21T23:45:00Z)
T2=$(epoch 2026-11-22T00:00:00Z)
measure pve-zfs-snap "23:45" "$T1" "$BIN" --root "$ROOT" --node pve1 --cron --now 2026-11-21T23:45:00Z f96 h48 d7
measure pve-zfs-snap "00:00" "$T2" "$BIN" --root "$ROOT" --node pve1 --cron --now 2026-11-22T00:00:00Z f96 h48 d7
rewind
measure sanoid "23:45" "$T1" env TZ=UTC sanoid --cron --configdir="$W/sanoid" --cache-dir="$W/sanoid-cache" --run-dir="$W/sanoid-run"
measure sanoid "00:00" "$T2" env TZ=UTC sanoid --cron --configdir="$W/sanoid" --cache-dir="$W/sanoid-cache" --run-dir="$W/sanoid-run"

{
    echo "Pool: $N guest datasets (${#vms[@]} VMs × 2 zvols, ${#cts[@]} CTs × 1 filesystem; volmode=none, mountpoint=none), $TOTAL snapshots before the runs."
    echo "OpenZFS $(cat /sys/module/zfs/version), sanoid $SANOID_VERSION, $(basename "$(dirname "$BIN")") pve-zfs-snap; policy f96 h48 d7."
    echo
    echo "| tool | run | exit | wall s | zfs procs | zpool procs | by subcommand | new snapshots | their distinct createtxg | destroyed | longest txg-waiting call s |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    cat "$RESULTS"
} | tee "$OUT/bench-sanoid.md"
for f in "$W"/*.out; do echo "== $f"; tail -5 "$f"; done >&2
