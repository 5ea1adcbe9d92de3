#!/usr/bin/env bash
# Issue 9: pve-zfs-snap side by side with sanoid on the same REAL pool, inside the test VM.
# On demand only (not part of .ci/run). From the host:
#
#   mkdir -p /tmp/bench-out/debs && (cd /tmp/bench-out/debs && \
#       apt-get download sanoid libconfig-inifiles-perl libcapture-tiny-perl)
#   tests/vm/run.sh 2.3 --disk-size 8G --mem 3072 --timeout 5400 --out /tmp/bench-out -- \
#       env DATASETS=1000 F=4 H=2 D=1 TOOL_TIMEOUT=1500 MIDNIGHT_TIMEOUT=600 \
#       /work/tests/vm/bench-sanoid.sh
# (the defaults, F=96 H=48 D=7, are for a KVM host: under TCG that history alone takes hours)
#
# Knobs (environment): DATASETS (1000), F H D (96 48 7: the policy of both tools and the
# history's shape), SKIP_SANOID=1 / SKIP_OURS=1, TOOL_TIMEOUT (seconds per normal run, 1500:
# the next run starts 15 minutes of guest clock later, so it must stay below 1800),
# MIDNIGHT_TIMEOUT (seconds for the midnight run, TOOL_TIMEOUT); a run stopped by either is
# reported as a lower bound. BIN (the pve-zfs-snap binary).
#
# Builds pool `tank` shaped like a large PVE node: $DATASETS guest datasets under tank/data
# (2 zvols per VM + 1 subvol per CT, i.e. 2/3 zvols), each with the 15-minute history of
# fF hH dD ending at 2026-11-21 23:00 UTC (96 + 48 + 7 = 151 snapshots of ours by default, made with
# the guest clock set to each instant, since `creation` drives both tools) and 3 foreign
# snapshots. `zpool checkpoint` freezes that state; each tool then runs at 23:15 (its first
# run: f due; pve-zfs-snap has no cache yet, and sanoid does not prune yet because its oldest
# frequent is not older than F × 15 minutes), at 23:30 (a normal run after a normal run: the
# STEADY STATE, in which both tools take one frequent per dataset and prune one) and at 00:00
# (midnight: f, h and d due), and the pool is rewound to the checkpoint (export + import
# --rewind-to-checkpoint) before the next tool.
# Measured per run: wall time, zfs/zpool processes by subcommand (PATH wrappers that log and
# exec /usr/sbin/*; the same wrappers for both tools), new snapshots and their distinct
# createtxg, snapshots destroyed, the longest call that waits for a txg sync (a `zfs
# program` without -n, `zfs snapshot`, `zfs destroy`) and the longest read-only program.
# Bookkeeping between runs uses `zfs list -o name` (the cheap listing) and the createtxg of the
# new snapshots only; tests/vm/bench/probe.lua times what reading a snapshot costs in a
# channel program (names only, 1, 2, 4 properties), and a stall probe times a `zfs snapshot`
# while a read-only program runs. Table: /out/bench-sanoid.md.
# sanoid's debs must be in /out/debs (it is not in the image; see above).
set -euo pipefail
REPO=${VM_WORK:-/work}
OUT=${VM_OUT:-/out}
BIN=${BIN:-$REPO/target/release/pve-zfs-snap}
N=${DATASETS:-1000}
F=${F:-96} H=${H:-48} D=${D:-7}
POLICY="f$F h$H d$D"
TOOL_TIMEOUT=${TOOL_TIMEOUT:-1500}
MIDNIGHT_TIMEOUT=${MIDNIGHT_TIMEOUT:-$TOOL_TIMEOUT}
BENCH=$REPO/tests/vm/bench
POOL=${VM_POOL:-tank}
DISK=${VM_POOL_DISK:?run inside tests/vm/run.sh}
[ -x "$BIN" ] || { echo "bench: $BIN missing (cargo build --release on the host)" >&2; exit 1; }
W=$(mktemp -d)
ROOT=$W/root
log() { echo "[$(cut -d' ' -f1 /proc/uptime)s] $*" >&2; }
up() { cut -d' ' -f1 /proc/uptime; } # a clock `date -s` does not move
since() { awk -v a="$1" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }'; }
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
T_LAST=$(epoch 2026-11-21T23:00:00Z)
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
t0=$(up)
printf '%s\n' "${names[@]}" | xargs -P 16 -I{} sh -c \
    'case {} in vm-*) zfs create -s -V 64M '"$POOL"'/data/{} ;; *) zfs create '"$POOL"'/data/{} ;; esac'
log "datasets: $(since "$t0")s"

# --- history: fF hH dD of 15-minute runs ending at T_LAST, plus 3 foreign snapshots
t0=$(up)
calls=0
span=$((D * 86400)); [ $((H * 3600)) -gt $span ] && span=$((H * 3600)); [ $((F * 900)) -gt $span ] && span=$((F * 900))
at $((T_LAST - span - 600))
zfs snapshot -r "$POOL/data@before-upgrade"
for ((t = T_LAST - span + 900; t <= T_LAST; t += 900)); do
    classes=()
    [ $((t % 86400)) = 0 ] && [ "$t" -gt $((T_LAST - D * 86400)) ] && classes+=(daily)
    [ $((t % 3600)) = 0 ] && [ "$t" -gt $((T_LAST - H * 3600)) ] && classes+=(hourly)
    [ "$t" -gt $((T_LAST - F * 900)) ] && classes+=(frequently)
    [ ${#classes[@]} = 0 ] && continue
    at "$t"
    name=autosnap_$(date -u -d "@$t" +%Y-%m-%d_%H:%M:%S)
    for c in "${classes[@]}"; do zfs snapshot -r "$POOL/data@${name}_$c"; calls=$((calls + 1)); done
    if [ "$t" = $((T_LAST - span / 2 / 900 * 900)) ]; then
        zfs snapshot -r "$POOL/data@__replicate_bench-0_${t}__"
        zfs snapshot -r "$POOL/data@zfs-auto-snap_daily-$(date -u -d "@$t" +%F-%H%M)"
    fi
done
prog() { zfs program -j -n -t 100000000 -m 104857600 -- "$POOL" "$@"; }
names() { zfs list -H -t snapshot -o name -r "$POOL/data"; } # names only: the cheap listing
TOTAL=$(names | wc -l)
log "history: $calls recursive snapshot calls, $TOTAL snapshots, $(since "$t0")s"

# --- probe: what walking the snapshots costs in the kernel (names only, then 1, 2, 4 get_prop),
# on the first PROBE_DATASETS (100) datasets
PROBE=$W/probe
: >"$PROBE"
for k in 0 1 2 4; do
    s=$(up)
    n=$(prog "$BENCH/probe.lua" "$POOL/data" "$k" "${PROBE_DATASETS:-100}")
    e=$(up)
    awk -v k="$k" -v a="$s" -v b="$e" -v n="$n" 'BEGIN { gsub(/[^0-9]/, "", n);
        printf "| %d | %s | %.2f | %.3f |\n", k, n, b - a, (b - a) * 1000 / n }' >>"$PROBE"
    log "probe $k props: $(tail -1 "$PROBE")"
done

# --- stall probe: how long a sync task (one `zfs snapshot`) waits while a read-only program
# walks snapshots (it holds the pool's configuration lock for its whole run)
t=$(up); zfs snapshot "$POOL/data@stall-alone"; STALL_ALONE=$(since "$t")
prog "$BENCH/probe.lua" "$POOL/data" 0 "${STALL_DATASETS:-300}" >/dev/null &
sleep 3
t=$(up); zfs snapshot "$POOL/data@stall-during"; STALL_DURING=$(since "$t")
t=$(up); wait; STALL_REST=$(since "$t")
zfs destroy "$POOL/data@stall-alone,stall-during"
log "stall probe: zfs snapshot alone ${STALL_ALONE}s, during a read-only walk of ${STALL_DATASETS:-300} datasets ${STALL_DURING}s (the walk went on ${STALL_REST}s after it)"

# --- the PVE tree: node pve1, every guest running, storage local-zfs = tank/data
mkdir -p "$ROOT/etc/pve/nodes/pve1/qemu-server" "$ROOT/etc/pve/nodes/pve1/lxc" "$ROOT/run/qemu-server" "$ROOT/proc/net"
# As on a node (--root /): the module's version and limits come from sysfs.
ln -s /sys "$ROOT/sys"
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
	frequently = $F
	hourly = $H
	daily = $D
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
# The snapshots made and destroyed by a run: the name lists before and after it (sanoid names
# its snapshots after the minute it takes each, so no name stamp would find them all).
# diff_names <before> <after>: "<new> <their distinct createtxg> <destroyed>"
diff_names() {
    local new txgs=0
    new=$(comm -13 "$1" "$2")
    if [ -n "$new" ]; then
        txgs=$(xargs zfs get -H -p -o value createtxg <<<"$new" | sort -u | wc -l)
    fi
    echo "$(grep -c . <<<"$new") $txgs $(comm -23 "$1" "$2" | grep -c .)"
}
# measure <tool> <label> <epoch> <command...>
measure() {
    local tool=$1 label=$2 t=$3 cap=$TOOL_TIMEOUT
    shift 3
    [ $((t % 86400)) = 0 ] && cap=$MIDNIGHT_TIMEOUT
    local new txgs destroyed rc
    names | LC_ALL=C sort >"$W/before"
    at "$t"
    : >"$CALLS"
    local s=$EPOCHREALTIME
    set +e
    PATH=$W/bin:$PATH timeout "$cap" "$@" >"$W/$tool-$label.out" 2>&1
    rc=$?
    set -e
    local e=$EPOCHREALTIME
    names | LC_ALL=C sort >"$W/after"
    read -r new txgs destroyed < <(diff_names "$W/before" "$W/after")
    cp "$CALLS" "$OUT/calls-$tool-${label/:/}.log"
    awk -v tool="$tool" -v label="$label" -v rc="$rc" -v s="$s" -v e="$e" -v new="$new" \
        -v txgs="$txgs" -v destroyed="$destroyed" '
        { n[$1]++; sub_[$1 " " $2 ($2 == "program" ? "(" $3 ")" : "")]++
          d = $5 - $4
          if (($2 == "program" && $3 == "rw") || $2 == "snapshot" || $2 == "destroy" || $2 == "bookmark")
              if (d > maxsync) maxsync = d
          if ($2 == "program" && $3 == "ro" && d > maxro) maxro = d }
        END {
          subs = ""; for (k in sub_) subs = subs (subs ? ", " : "") sub_[k] "× " k
          printf "| %s | %s | %s | %s%.2f | %d | %d | %s | %d | %d | %d | %.2f | %.2f |\n", tool, label,
              (rc == 124 ? "stopped" : rc), (rc == 124 ? "> " : ""), e - s,
              n["zfs"] + 0, n["zpool"] + 0, subs, new, txgs, destroyed, maxsync, maxro
        }' "$CALLS" >>"$RESULTS"
    log "$tool $label: rc $rc, $(tail -1 "$RESULTS")"
    cp "$RESULTS" "$OUT/results-so-far.md" # survives a VM timeout
}

T1=$(epoch 2026-11-21T23:15:00Z)
T2=$(epoch 2026-11-21T23:30:00Z)
T3=$(epoch 2026-11-22T00:00:00Z)
if [ "${SKIP_OURS:-0}" != 1 ]; then
    for t in "$T1" "$T2" "$T3"; do
        iso=$(date -u -d "@$t" +%FT%TZ)
        label=$(date -u -d "@$t" +%H:%M)
        # shellcheck disable=SC2086 # the policy is several words
        measure pve-zfs-snap "$label" "$t" "$BIN" -vv --root "$ROOT" --node pve1 --cron --now "$iso" $POLICY
        grep -h "inventory .* program" "$W/pve-zfs-snap-$label.out" | sed -e "s/\x1b\[[0-9;]*m//g" -e "s/^/$label: /" >>"$W/inventory-stats" || true
    done
    [ "${SKIP_SANOID:-0}" = 1 ] || rewind
fi
if [ "${SKIP_SANOID:-0}" != 1 ]; then
    for t in "$T1" "$T2" "$T3"; do
        measure sanoid "$(date -u -d "@$t" +%H:%M)" "$t" env TZ=UTC sanoid --cron --configdir="$W/sanoid" --cache-dir="$W/sanoid-cache" --run-dir="$W/sanoid-run"
    done
fi

{
    echo "Pool: $N guest datasets (${#vms[@]} VMs × 2 zvols, ${#cts[@]} CTs × 1 filesystem; volmode=none, mountpoint=none), $TOTAL snapshots before the runs."
    echo "OpenZFS $(cat /sys/module/zfs/version), sanoid $SANOID_VERSION, $(basename "$(dirname "$BIN")") pve-zfs-snap $("$BIN" --version | awk '{print $2}'); policy $POLICY."
    echo
    echo "| tool | run | exit | wall s | zfs procs | zpool procs | by subcommand | new snapshots | their distinct createtxg | destroyed | longest txg-waiting call s | longest read-only program s |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    cat "$RESULTS"
    echo
    echo "Kernel cost of walking the snapshots (tests/vm/bench/probe.lua, one read-only program):"
    echo
    echo "| get_prop per snapshot | snapshots | s | ms per snapshot |"
    echo "|---|---|---|---|"
    cat "$PROBE"
    echo
    echo "Stall probe: one \`zfs snapshot\` took ${STALL_ALONE} s alone and ${STALL_DURING} s while a read-only program walked the snapshots of ${STALL_DATASETS:-300} datasets."

    if [ -s "$W/inventory-stats" ]; then
        echo
        echo "pve-zfs-snap's inventory per run (its -vv log):"
        echo
        sed 's/^/    /' "$W/inventory-stats"
    fi
} | tee "$OUT/bench-sanoid.md"
for f in "$W"/*.out; do echo "== $f"; tail -5 "$f"; done >&2
