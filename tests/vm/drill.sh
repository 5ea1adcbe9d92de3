#!/usr/bin/env bash
# The three-site drill on REAL OpenZFS, inside one test VM (issue 18):
#   tests/vm/drill/fetch-syncoid.sh        # host, once: Debian's syncoid 2.1.0 and 2.2.x, unpacked
#   tests/vm/run.sh 2.3 --pool rpool --out tests/vm/cache/drill-2.3 -- /work/tests/vm/drill.sh
#
#        pvesr (zfs send -Rpv -I | zfs recv -F)             pull every 4 h (plain zfs, syncoid)
#   B (pool B, node pve2) <---------------  A (pool A, node pve1)  ----------------->  C (pool C)
#
# Two fake PVE nodes share one cluster view (.vmlist, nodes/<node>/qemu-server) and each has its
# own --root (running guests = pidfiles + /proc entries there) and its own storage.cfg naming its
# pool. The host-built pve-zfs-snap runs on each node every 15 simulated minutes for two days, the
# VM's clock set before each step (`date -s`) so ZFS `creation` agrees with --now. Then
# replication exactly as pvesr does it (PVE::Replication + ZFSPoolPlugin::volume_export/import):
# `__replicate_<vmid>-0_<epoch>__` on every disk, `zfs send -Rpv [-I <last>]` | `zfs recv -F`,
# the previous `__replicate_` destroyed on both sides, every hour at hh:00 (a normal pvesr
# schedule; the runs stay every 15 minutes). Every 4 h C pulls from the node that owns the guest
# (.vmlist): plain `zfs send -i @<newest of ours on C>` (the newest snapshot only: the plain puller
# is the baseline of what zfs alone does; every received snapshot costs ~0.3 CPU-s under TCG and
# C/pzs receives them all anyway), or `-i #<its bookmark>` once the owner
# rotated the snapshot away (one `zfs list` of all three pools decides every disk's pull); and
# Debian's syncoid 2.1.0 and 2.2.x (vm-100-disk-0 only) at the two pulls scenario 2 needs
# (05:00 before C's outage, 13:00 after it) when the image's perl can run them.
#
# Cost: every process spawned under TCG costs tens to hundreds of ms, a `zfs` one the most, so
# the harness spawns as few as it can: time arithmetic in bash (`printf %()T`, no `date` but the
# one `date -s` per step), one `zfs get` per replica watch, C's monitor (`check`) only at the
# pull steps, before the pull (C changes only when it pulls, so the age it judges is greatest
# then). Each step's cost and process count (forks, from /proc/stat) go to drill-log.txt;
# DRILL_COUNT=1 counts `zfs` processes too (a wrapper on PATH: slower, for measuring only).
#
# Scenarios (issue 18): 1 steady state, 2 C offline longer than A keeps C's newest snapshot,
# 3 a guest stop, 4 migration A -> B and back B -> A, 5 HA failover (A dies, B steals, A
# returns), 6 a throttled replication send racing a run's destroys.
# One line per check: `ok …` / `FAIL …`; `peer …` lines are findings about other tools, never
# failures of ours. Counts at the end; exit 1 on any FAIL. DRILL_SMOKE=1: see advance().
set -uo pipefail
REPO=${VM_WORK:-/work}
BIN=${BIN:-$REPO/target/debug/pve-zfs-snap}
[ -x "$BIN" ] || { echo "drill: $BIN missing (cargo build --bins on the host)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "drill: needs root (real pools)" >&2; exit 1; }
[ -n "${VM_FLAVOR:-}" ] || { echo "drill: runs only inside the test VM (it sets the clock)" >&2; exit 1; }
SYNCOID_CACHE=${DRILL_SYNCOID_CACHE:-$REPO/tests/vm/cache/syncoid}
export TZ=UTC # the VM's zone anyway; printf %()T below formats in it
POLICY=(f4 h6 d3)
W=$(mktemp -d /tmp/drill.XXXXXX)
# The binary runs from tmpfs: exec'ing the 90 MB debug build from the 9p share re-reads it on
# every start (no page cache there), which made a step cost a minute under TCG.
mkdir -p "$W/bin"
cp "$BIN" "$W/bin/pve-zfs-snap"
BIN=$W/bin/pve-zfs-snap
LOG=${VM_OUT:-$W}/drill-log.txt
: >"$LOG"
UP=0 FORKS=0
uptime_now() { local _; read -r UP _ </proc/uptime; UPC=${UP/./}; UPC=$((10#$UPC)); } # the clock is simulated: time with uptime (UPC: 1/100 s)
secs() { printf -v "$1" '%d.%d' $(($2 / 100)) $((($2 % 100) / 10)); } # secs <var> <centiseconds>
forks_now() { # FORKS: processes forked since boot (/proc/stat), no process of its own
    local k v
    while read -r k v; do [ "$k" = processes ] && { FORKS=$v; return; }; done </proc/stat
}
uptime_now
T_START=$UPC
ZFSN_FILE=""
if [ "${DRILL_COUNT:-0}" = 1 ]; then # count every zfs process (the product's too: it finds zfs on PATH)
    mkdir -p "$W/zbin"
    ZFSN_FILE=$W/zfs-count
    : >"$ZFSN_FILE"
    printf '#!/bin/sh\necho >>%s\nexec %s "$@"\n' "$ZFSN_FILE" "$(command -v zfs)" >"$W/zbin/zfs"
    chmod +x "$W/zbin/zfs"
    PATH=$W/zbin:$PATH
fi
ZN=0
zfs_count() { # ZN: zfs processes so far (DRILL_COUNT=1), counted without a process of its own
    ZN=0
    [ -n "$ZFSN_FILE" ] || return 0
    local _
    while read -r _; do ZN=$((ZN + 1)); done <"$ZFSN_FILE"
}

PASS=0 FAILN=0 PEER=0 STEPS=0
ok() { PASS=$((PASS + 1)); echo "ok   $*"; }
fail() { FAILN=$((FAILN + 1)); echo "FAIL $*"; }
check() { # check <description> <got> <want>
    if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got [$2], want [$3]"; fi
}
peer() { PEER=$((PEER + 1)); echo "peer $*"; }
OPENN=0
open_finding() { OPENN=$((OPENN + 1)); echo "OPEN $*"; } # a known gap of ours, said every run (never a pass)
log() { echo "[$NOW] $*" >>"$LOG"; }

# ---------------------------------------------------------------------------------------------
# Pools, cluster view, nodes
declare -A POOL=([pve1]=A [pve2]=B) OTHER=([pve1]=pve2 [pve2]=pve1)
declare -A PID=([100]=4100 [101]=4101 [102]=4102)
declare -A DISKS=([100]="vm-100-disk-0" [101]="vm-101-disk-0" [102]="vm-102-disk-0")
declare -A OWNER=([100]=pve1 [101]=pve1 [102]=pve1)
# replication job state (files: replications run in parallel subshells): $W/last-<vmid>
last_set() { echo "$2" >"$W/last-$1"; }
GUESTS="100 101 102"
CLUSTER=$W/cluster
NOW=2026-11-20T00:00:00Z
EPOCH=0

at() { # at <RFC 3339 UTC> | at @<epoch>: the VM's clock and the runs' --now
    if [ "${1:0:1}" = @ ]; then EPOCH=${1#@}; else EPOCH=$(date -u -d "$1" +%s); fi
    printf -v NOW '%(%Y-%m-%dT%H:%M:%SZ)T' "$EPOCH"
    date -u -s "@$EPOCH" >/dev/null
}
at "$NOW"
for p in A B C; do
    truncate -s 768M "$W/$p.img"
    zpool create -f -o cachefile=none -O compression=off "$p" "$W/$p.img" || { echo "drill: zpool create $p failed" >&2; exit 1; }
done
zfs create A/data
zfs create B/data
zfs create C/plain
zfs create C/s21
zfs create C/s22
zfs create C/pzs

mkdir -p "$CLUSTER/nodes/pve1/qemu-server" "$CLUSTER/nodes/pve1/lxc" "$CLUSTER/nodes/pve2/qemu-server" "$CLUSTER/nodes/pve2/lxc"
printf '{"nodename": "pve1", "version": 3, "cluster": {"name": "drill", "version": 2, "nodes": 2, "quorate": 1}, "nodelist": {"pve1": {"id": 1, "online": 1, "ip": "10.0.0.1"}, "pve2": {"id": 2, "online": 1, "ip": "10.0.0.2"}}}\n' >"$CLUSTER/.members"
VMLIST_VERSION=1
write_vmlist() {
    VMLIST_VERSION=$((VMLIST_VERSION + 1))
    {
        printf '{\n"version": %d,\n"ids": {\n' "$VMLIST_VERSION"
        local first=1 v
        for v in $GUESTS; do
            [ $first = 1 ] || printf ',\n'
            first=0
            printf '"%s": { "node": "%s", "type": "qemu", "version": %d }' "$v" "${OWNER[$v]}" "$VMLIST_VERSION"
        done
        printf '}\n\n}\n'
    } >"$CLUSTER/.vmlist.tmp"
    mv "$CLUSTER/.vmlist.tmp" "$CLUSTER/.vmlist"
}
write_conf() { # write_conf <vmid>: the config under its owner's directory
    local v=$1 k=0 d
    {
        echo "name: drill-$v"
        echo "memory: 1024"
        for d in ${DISKS[$v]}; do
            if [ $k = 0 ]; then echo "scsi0: local-zfs:$d,size=32M"; else echo "efidisk0: local-zfs:$d,efitype=4m,size=1M"; fi
            k=$((k + 1))
        done
        echo "scsihw: virtio-scsi-single"
    } >"$CLUSTER/nodes/${OWNER[$v]}/qemu-server/$v.conf"
}
for node in pve1 pve2; do
    R=$W/root-$node
    mkdir -p "$R/etc/pve" "$R/run/qemu-server" "$R/proc/net" "$R/var/lib/lxc"
    ln -s "$CLUSTER/.vmlist" "$R/etc/pve/.vmlist"
    sed "s/\"nodename\": \"pve1\"/\"nodename\": \"$node\"/" "$CLUSTER/.members" >"$R/etc/pve/.members"
    ln -s "$CLUSTER/nodes" "$R/etc/pve/nodes"
    ln -s "nodes/$node" "$R/etc/pve/local"
    ln -s "nodes/$node/qemu-server" "$R/etc/pve/qemu-server"
    ln -s "nodes/$node/lxc" "$R/etc/pve/lxc"
    printf 'dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\nzfspool: local-zfs\n\tpool %s/data\n\tsparse\n\tcontent images,rootdir\n' \
        "${POOL[$node]}" >"$R/etc/pve/storage.cfg"
    echo "$node" >"$R/etc/hostname"
    printf 'Num       RefCount Protocol Flags    Type St Inode Path\n' >"$R/proc/net/unix"
    ln -s /sys "$R/sys" # the real module's version and limits, as on a node
done
start_guest() { # start_guest <vmid> <node>: QEMU's pidfile and /proc entries on that node
    local v=$1 R=$W/root-$2 pid=${PID[$1]}
    mkdir -p "$R/proc/$pid"
    printf '/usr/bin/kvm\0-id\0%s\0-name\0drill-%s\0-pidfile\0/var/run/qemu-server/%s.pid\0-daemonize\0' "$v" "$v" "$v" >"$R/proc/$pid/cmdline"
    echo "$pid (kvm) S 1 $pid $pid 0 -1 138412352 0 0 0 0 0 0 0 0 20 0 9 0 $pid 0 0" >"$R/proc/$pid/stat"
    echo "$pid" >"$R/run/qemu-server/$v.pid"
}
stop_guest() { # stop_guest <vmid> <node>
    rm -f "$W/root-$2/run/qemu-server/$1.pid"
    rm -rf "$W/root-$2/proc/${PID[$1]}"
}
move_conf() { # move_conf <vmid> <new owner>: what migration and HA's steal_service do (a rename)
    local v=$1 to=$2
    mv "$CLUSTER/nodes/${OWNER[$v]}/qemu-server/$v.conf" "$CLUSTER/nodes/$to/qemu-server/$v.conf"
    OWNER[$v]=$to
    write_vmlist
}

for v in $GUESTS; do
    for d in ${DISKS[$v]}; do zfs create -s -V 32M "A/data/$d"; done
    write_conf "$v"
    start_guest "$v" pve1
done
write_vmlist
udevadm settle --timeout=30 2>/dev/null || true

# ---------------------------------------------------------------------------------------------
# The guests write; the product runs; pvesr replicates; C pulls.
write_disks() { # write_disks <vmid> [KiB]: the running guest changes its disks (on its owner's pool)
    local v=$1 kb=${2:-64} d p=${POOL[${OWNER[$1]}]}
    for d in ${DISKS[$v]}; do
        dd if=/dev/urandom of="/dev/zvol/$p/data/$d" bs=1K count="$kb" seek=$(((EPOCH / 900) % 400 * 64)) \
            conv=notrunc status=none 2>>"$LOG" || log "write $p/data/$d failed"
    done
}
declare -A RUNS=([pve1]=0 [pve2]=0) RUNFAIL=([pve1]=0 [pve2]=0) FIRSTFAIL=([pve1]="" [pve2]="")
DOWN=""   # a node that is down (HA scenario): no runs, no replication from it
run_node() { # run_node <node>: one scheduled run at $NOW; exit status recorded
    local node=$1
    "$BIN" --root "$W/root-$node" --node "$node" --cron --now "$NOW" "${POLICY[@]}" >>"$W/run-$node.out" 2>&1
    echo "$?" >"$W/rc-$node"
}
run_nodes() { # both nodes in parallel (they touch different pools), then tally
    local n rc
    for n in pve1 pve2; do
        [ "$DOWN" = "$n" ] && continue
        run_node "$n" &
    done
    wait
    for n in pve1 pve2; do
        [ "$DOWN" = "$n" ] && continue
        RUNS[$n]=$((RUNS[$n] + 1))
        read -r rc <"$W/rc-$n"
        if [ "$rc" != 0 ]; then
            RUNFAIL[$n]=$((RUNFAIL[$n] + 1))
            [ -n "${FIRSTFAIL[$n]}" ] || FIRSTFAIL[$n]="$NOW exit $rc: $(tail -n 3 "$W/run-$n.out" | tr '\n' ' ')"
        fi
    done
}

# replication outcomes, one line each in $W/repl.log: "ok <job> <time>" / "fail <job> <time>"
REPL_BROKEN="" # scenario 5: a vmid whose replication fails
SEND_GATE=""   # scenario 6: a file; the replication's stream waits in the pipe until it exists
# pvesr's cleanup of the previous `__replicate_` (PVE destroys it on each side with `zfs destroy`);
# here one channel program per pool destroys all of an hour's: the same snapshots go, in one
# transaction group instead of one per destroy (each costs seconds under TCG).
cat >"$W/destroy.lua" <<'LUA'
local out = {}
for _, s in ipairs((...)["argv"]) do
    local e = zfs.sync.destroy(s)
    if e ~= 0 then out[s] = e end
end
return out
LUA
send_job() { # send_job <vmid>: export | import of job <vmid>-0's volumes; ok|fail to $W/job-<vmid>
    local v=$1 p q d last="" new="__replicate_$1-0_${EPOCH}__" r=ok
    p=${POOL[${OWNER[$v]}]} q=${POOL[${OTHER[${OWNER[$v]}]}]}
    [ -e "$W/last-$v" ] && read -r last <"$W/last-$v"
    # scenario 5: this job's run fails (the link to B is down), as pvesr's would
    if [ "$REPL_BROKEN" = "$v" ]; then echo fail >"$W/job-$v"; return; fi
    for d in ${DISKS[$v]}; do
        if [ -n "$last" ]; then
            # ZFSPoolPlugin::volume_export: zfs send -Rpv -I <base> -- <ds>@<snap>; import: zfs recv -F
            if [ -n "$SEND_GATE" ]; then
                zfs send -Rpv -I "$last" -- "$p/data/$d@$new" 2>/dev/null |
                    { while [ ! -e "$SEND_GATE" ]; do sleep 0.5; done; cat; } | zfs recv -F -- "$q/data/$d" 2>>"$LOG" || r=fail
            else
                zfs send -Rpv -I "$last" -- "$p/data/$d@$new" 2>/dev/null | zfs recv -F -- "$q/data/$d" 2>>"$LOG" || r=fail
            fi
        else
            zfs send -Rpv -- "$p/data/$d@$new" 2>/dev/null | zfs recv -F -- "$q/data/$d" 2>>"$LOG" || r=fail
        fi
        [ $r = ok ] || break
    done
    echo "$r" >"$W/job-$v"
}
replicate() { # replicate <vmid>…: pvesr's run of the jobs <vmid>-0 at $NOW (each from its guest's
    # owner to the other node), the jobs in parallel; status 1 when any failed.
    local v p q d r last rc=0 out
    local -a jobs=()
    local -A snaps=() nosnap=() gone=()
    for v in "$@"; do
        { [ "$DOWN" = "${OWNER[$v]}" ] || [ "$DOWN" = "${OTHER[${OWNER[$v]}]}" ]; } && continue
        jobs+=("$v")
        p=${POOL[${OWNER[$v]}]}
        for d in ${DISKS[$v]}; do snaps[$p]+=" $p/data/$d@__replicate_$v-0_${EPOCH}__"; done
    done
    [ ${#jobs[@]} -gt 0 ] || return 0
    local r0 r1 r2 a b c
    uptime_now; r0=$UPC
    # PVE snapshots a guest's volumes with the new name first; here one `zfs snapshot` per pool
    # for all jobs due now (the same snapshots; fewer processes and transaction groups).
    for p in "${!snaps[@]}"; do
        # shellcheck disable=SC2086 # a list of snapshot names
        zfs snapshot ${snaps[$p]} 2>>"$LOG" || nosnap[$p]=1
    done
    uptime_now; r1=$UPC
    for v in "${jobs[@]}"; do
        if [ -n "${nosnap[${POOL[${OWNER[$v]}]}]:-}" ]; then
            echo fail >"$W/job-$v"
        elif [ ${#jobs[@]} = 1 ]; then
            send_job "$v"
        else
            send_job "$v" &
        fi
    done
    wait
    uptime_now; r2=$UPC
    for v in "${jobs[@]}"; do
        read -r r <"$W/job-$v"
        p=${POOL[${OWNER[$v]}]} q=${POOL[${OTHER[${OWNER[$v]}]}]}
        last=""
        [ -e "$W/last-$v" ] && read -r last <"$W/last-$v"
        if [ "$r" = ok ]; then
            echo "ok $v-0 $NOW" >>"$W/repl.log"
            # success: the previous __replicate_ of this job goes on both sides, the state moves on
            if [ -n "$last" ]; then
                for d in ${DISKS[$v]}; do gone[$p]+=" $p/data/$d@$last" gone[$q]+=" $q/data/$d@$last"; done
            fi
            echo "__replicate_$v-0_${EPOCH}__" >"$W/last-$v"
        else
            echo "fail $v-0 $NOW" >>"$W/repl.log"
            # pvesr: on failure the new snapshot is removed again, the state stays
            for d in ${DISKS[$v]}; do gone[$p]+=" $p/data/$d@__replicate_$v-0_${EPOCH}__"; done
            rc=1
            log "replication $v-0 failed: $(tail -n 2 "$LOG" | tr '\n' ' ')"
        fi
    done
    for p in "${!gone[@]}"; do
        # shellcheck disable=SC2086 # a list of snapshot names
        out=$(zfs program -j "$p" "$W/destroy.lua" ${gone[$p]} 2>&1) || log "cleanup on $p failed: $out"
        case $out in *'"return":{}'* | *'"return":[]'*) ;; *) log "cleanup on $p: $out" ;; esac
    done
    uptime_now
    secs a $((r1 - r0)); secs b $((r2 - r1)); secs c $((UPC - r2))
    log "replication of ${jobs[*]}: snapshot $a s, send|recv $b s, cleanup $c s"
    return $rc
}
# shellcheck disable=SC2086 # a list of vmids
replicate_all() { replicate $GUESTS; }

# C's pullers, each into its own tree on pool C.
count_ours() { zfs list -H -o name -t snapshot -d 1 "$1" 2>/dev/null | grep -c '@autosnap_' || true; }
newest_ours() { # newest_ours <dataset>: short name of the newest autosnap by createtxg
    zfs list -H -o name -t snapshot -s createtxg -d 1 "$1" 2>/dev/null | sed -n 's/.*@\(autosnap_.*\)/\1/p' | tail -n 1
}
C_HAS=""  # C holds copies (its monitor has something to check)
declare -A PULL_HOW=()   # disk -> how the plain puller's last pull went (incremental/bookmark/full/failed)
pull_disk() { # pull_disk <src> <tgt> <how> [zfs send options…]: one pull; its outcome to $W/pull-<disk>
    local src=$1 tgt=$2 how=$3
    shift 3
    zfs send -p "$@" 2>>"$LOG" | zfs recv -u "$tgt" 2>>"$LOG" || how=failed
    echo "$how" >"$W/pull-${tgt##*/}"
}
pull_plain_all() { # C pulls every running owner's disks: one `zfs list` decides every disk's pull,
    # the disks' streams run in parallel (each received snapshot costs a transaction group)
    local v d src tgt base newest how l
    local -A have=() newest_of=()
    local -a pulled=()
    while IFS= read -r l; do
        [ -n "$l" ] || continue
        have[$l]=1
        case $l in *@autosnap_*) newest_of[${l%@*}]=${l#*@} ;; esac # sorted by createtxg: the last wins
    done <<<"$(zfs list -H -o name -t snapshot,bookmark -s createtxg -r A/data B/data C/plain 2>>"$LOG")"
    for v in $GUESTS; do
        [ "$DOWN" = "${OWNER[$v]}" ] && continue
        for d in ${DISKS[$v]}; do
            src=${POOL[${OWNER[$v]}]}/data/$d
            tgt=C/plain/$d
            newest=${newest_of[$src]:-}
            [ -n "$newest" ] || continue
            base=${newest_of[$tgt]:-}
            pulled+=("$d:$src:$newest")
            if [ -z "$base" ]; then
                pull_disk "$src" "$tgt" full "$src@$newest" &
            elif [ "$base" = "$newest" ]; then
                echo uptodate >"$W/pull-$d"
            elif [ -n "${have[$src@$base]:-}" ]; then
                pull_disk "$src" "$tgt" incremental -i "@$base" "$src@$newest" &
            elif [ -n "${have[$src#$base]:-}" ]; then
                pull_disk "$src" "$tgt" bookmark -i "#$base" "$src@$newest" &
            else
                echo nobase >"$W/pull-$d"
            fi
        done
    done
    wait
    for l in "${pulled[@]}"; do
        d=${l%%:*} src=${l#*:} newest=${src#*:} src=${src%%:*}
        read -r how <"$W/pull-$d"
        PULL_HOW[$d]=$how
        [ "$how" = failed ] || C_HAS=1
        log "pull plain $src -> C/plain/$d: $how ($newest)"
    done
}
# pve-zfs-snap pull (issue 19) into C/pzs, from A always (the design's B -> A -> C: while B owns
# a guest, A receives B's replication and bookmarks what it receives). Every pull: exit status,
# each disk's decision (JSON), and whether C/pzs lost any snapshot it had (by guid, asides
# included): it must never.
PZS_N=0 PZS_LOST=0 PZS_LOSTAT="" PZS_RCBAD="" PZS_DIVERGED_RC=none
declare -A PZS_HOW=()
mkdir -p "$W/root-c/run"
pull_pzs() { # pull_pzs [pull options…]: one pull of A/data into C/pzs
    local before after rc lost d how
    before=$(zfs list -H -p -o guid -t snapshot -r C/pzs 2>/dev/null | sort -u)
    "$BIN" pull --root "$W/root-c" --json "$@" A/data C/pzs >"$W/pzs.json" 2>"$W/pzs.err"
    rc=$?
    PZS_N=$((PZS_N + 1))
    after=$(zfs list -H -p -o guid -t snapshot -r C/pzs 2>/dev/null | sort -u)
    lost=$(comm -23 <(echo "$before") <(echo "$after") | grep -c . || true)
    if [ "$lost" != 0 ]; then
        PZS_LOST=$((PZS_LOST + lost))
        [ -n "$PZS_LOSTAT" ] || PZS_LOSTAT="$NOW: $lost"
    fi
    # one line per disk: <leaf> <decision>[:<kind of the common point>]
    local div=""
    while read -r d how; do
        [ -n "$d" ] || continue
        PZS_HOW[$d]=$how
        case $how in diverged*) div=1 ;; esac
    done < <(python3 -c '
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except Exception:
    sys.exit(0)
for o in r.get("disks", []):
    p = o["plan"]
    c = p.get("common") or {}
    print(p["target"].rsplit("/", 1)[1], p["decision"] + (":" + c["kind"] if c else ""))
' "$W/pzs.json")
    # A pull that set a diverged copy aside exits 1 (PARTIAL: an admin must look, issue 21);
    # any other non-zero exit is a failed pull.
    if [ -n "$div" ]; then
        PZS_DIVERGED_RC=$rc
        [ "$rc" = 1 ] || [ -n "$PZS_RCBAD" ] || PZS_RCBAD="$NOW exit $rc (diverged): $(tr '\n' ' ' <"$W/pzs.err" | cut -c1-300)"
    elif [ "$rc" != 0 ]; then
        [ -n "$PZS_RCBAD" ] || PZS_RCBAD="$NOW exit $rc: $(tr '\n' ' ' <"$W/pzs.err" | cut -c1-300)"
    fi
    log "pzs pull $*: exit $rc, lost $lost: $(for k in "${!PZS_HOW[@]}"; do printf '%s=%s ' "$k" "${PZS_HOW[$k]}"; done)"
    return "$rc"
}
same_data() { # same_data <ds@snap> <ds@snap>: equal zvol contents (read through read-only clones)
    local a=$1 b=$2 ha hb x
    for x in "$a" "$b"; do
        zfs clone -o readonly=on "$x" "${x%%/*}/chk" 2>>"$LOG" || { echo "clone $x failed"; return; }
    done
    udevadm settle --timeout=30 2>/dev/null || true
    ha=$(md5sum <"/dev/zvol/${a%%/*}/chk" | cut -c1-32)
    hb=$(md5sum <"/dev/zvol/${b%%/*}/chk" | cut -c1-32)
    zfs destroy "${a%%/*}/chk"
    zfs destroy "${b%%/*}/chk"
    [ "$ha" = "$hb" ] && echo same || echo "DIFFERENT ($a $ha, $b $hb)"
}
by_guid() { # by_guid <guid> <dataset>: the snapshot of <dataset> with that guid
    zfs list -H -p -o guid,name -t snapshot -d 1 "$2" 2>/dev/null | awk -v g="$1" '$1 == g { print $2 }'
}
newest_snap() { zfs list -H -o name -t snapshot -s createtxg -d 1 "$1" 2>/dev/null | tail -n 1; }

SYNCOID_OK=""
setup_syncoid() {
    local v f
    SYNCOIDS=""
    if ! command -v perl >/dev/null; then
        echo "!!!! drill: NO PERL in this image: syncoid (2.1.0, 2.2.x) NOT RUN; the plain puller runs alone" >&2
        return
    fi
    PERL5=""
    if ! perl -e 'use Data::Dumper; use Pod::Usage; use Time::Local; use Sys::Hostname; use Capture::Tiny;' 2>/dev/null; then
        # The image has only perl-base: bookworm's perl modules (fetch-syncoid.sh) fit perl 5.36.
        if perl -e 'exit($^V =~ /^v5\.36\./ ? 0 : 1)' && [ -d "$SYNCOID_CACHE/perl-5.36" ]; then
            P=$SYNCOID_CACHE/perl-5.36
            PERL5="$P/usr/share/perl5:$P/usr/lib/x86_64-linux-gnu/perl5/5.36:$P/usr/share/perl/5.36:$P/usr/lib/x86_64-linux-gnu/perl/5.36"
        fi
        if ! PERL5LIB=$PERL5 perl -e 'use Data::Dumper; use Pod::Usage; use Time::Local; use Sys::Hostname; use Capture::Tiny;' 2>>"$LOG"; then
            echo "!!!! drill: the image's perl ($(perl -e 'print $^V')) lacks syncoid's modules and no fitting copy is in $SYNCOID_CACHE: syncoid NOT RUN" >&2
            return
        fi
    fi
    for v in 2.1.0 2.2; do
        local s
        s=""
        for f in "$SYNCOID_CACHE/$v"*/usr/sbin/syncoid; do [ -x "$f" ] && { s=$f; break; }; done
        if [ -z "$s" ]; then
            echo "!!!! drill: syncoid $v not in $SYNCOID_CACHE (run tests/vm/drill/fetch-syncoid.sh on the host): NOT RUN" >&2
            continue
        fi
        SYNCOIDS="$SYNCOIDS $v=$s"
    done
    [ -n "$SYNCOIDS" ] && SYNCOID_OK=1
}
declare -A SYN_RC=() SYN_OUT=()
pull_syncoid() { # pull_syncoid: every syncoid pulls vm-100-disk-0 from its owner
    local e ver s tree src rc lib
    for e in $SYNCOIDS; do
        ver=${e%%=*} s=${e#*=}
        tree=C/s${ver//./}
        tree=${tree:0:5}
        src=${POOL[${OWNER[100]}]}/data/vm-100-disk-0
        lib=$(dirname "$(dirname "$(dirname "$s")")")/usr/share/perl5
        PERL5LIB="$lib${PERL5:+:$PERL5}" perl "$s" --no-sync-snap --no-privilege-elevation "$src" "$tree/vm-100-disk-0" \
            >"$W/syncoid.out" 2>&1
        rc=$?
        SYN_RC[$ver]=$rc
        SYN_OUT[$ver]=$(tr '\n' ' ' <"$W/syncoid.out" | cut -c1-400)
        log "syncoid $ver $src -> $tree/vm-100-disk-0: exit $rc: ${SYN_OUT[$ver]}"
    done
}

C_ONLINE=1
C_WORST=0 C_CHECKS=0 C_BAD=""
check_c() { # C's monitor: the Nagios check over C's copies; records the worst status
    local rc out
    out=$("$BIN" check --root "$W/root-c" --dataset C/plain --warn 5h --crit 9h --now "$NOW" 2>&1)
    rc=$?
    C_CHECKS=$((C_CHECKS + 1))
    [ $rc -gt $C_WORST ] && C_WORST=$rc
    [ $rc = 0 ] || { [ -n "$C_BAD" ] || C_BAD="$NOW: $(echo "$out" | head -n 1)"; }
    echo "$out" >"$W/check-c.out"
    return $rc
}
mkdir -p "$W/root-c/etc"

state_of() { # state_of <pool>: every snapshot/bookmark (guid) and every label:running (value, source),
    # but our bookmarks (`#autosnap_…`): a node bookmarks what it receives on a replica (issue 19)
    zfs list -H -p -o name,guid -t all -r "$1" | grep -v '#autosnap_'
    zfs get -H -o name,value,source -r label:running "$1" | awk '$3 != "-"'
}
label() { zfs get -H -o value,source label:running "$1" | tr '\t' ' '; }
snapset() { zfs list -H -o name -t snapshot -d 1 "$1" 2>/dev/null | sed 's/.*@//' | sort | tr '\n' ' '; }

# Replica watch: for the guests in $WATCH, the copy on the node that does not own them must not
# change while the runs of both nodes happen (replication comes after and may change it), but
# for our bookmarks of what it received (`#autosnap_…`, issue 19), checked on their own.
WATCH=""
declare -A WATCHED=() TOUCHED=() TOUCH_FIRST=()
declare -A RSTATE=()
replica_states() { # RSTATE[vmid] for the guests in $WATCH: the non-owner's copy (names and guids
    # of the volumes, snapshots and bookmarks; label:running with its source): one `zfs get` a pool
    local v p l name prop val src
    local -A pools=() out=()
    for v in $WATCH; do pools[${POOL[${OTHER[${OWNER[$v]}]}]}]=1; done
    for p in "${!pools[@]}"; do
        while IFS=$'\t' read -r name prop val src; do
            [ -n "$name" ] || continue
            [ "$prop" = label:running ] && { [ "$src" = - ] || [[ $name == *[@#]* ]]; } && continue
            [[ $name == *"#autosnap_"* ]] && continue
            out[$p]+="$name $prop $val $src"$'\n'
        done <<<"$(zfs get -H -p -o name,property,value,source guid,label:running -t all -r "$p/data" 2>>"$LOG")"
    done
    for v in $WATCH; do
        p=${POOL[${OTHER[${OWNER[$v]}]}]}
        RSTATE[$v]=""
        while IFS= read -r l; do
            [[ $l == "$p/data/vm-$v-"* ]] && RSTATE[$v]+="$l"$'\n'
        done <<<"${out[$p]}"
    done
}
WATCH_FRESH=""  # RSTATE was read at the end of the previous step, nothing changed the copies since
watch_reset() { # watch_reset <vmids…>: start watching these, counters from zero
    WATCH="$*" WATCH_FRESH=""
    local v
    for v in $WATCH; do WATCHED[$v]=0 TOUCHED[$v]=0 TOUCH_FIRST[$v]=""; done
}

# One 15-minute step: guests write, every node runs, pvesr at hh:00, C pulls every 4 h (at hh:00,
# hh%4==1; its monitor checks just before).
SYNCOID_AT=" 2026-11-20T05:00:00Z 2026-11-20T13:00:00Z " # scenario 2: the pull before and after the outage
step() {
    local v h m t0 t1 t2 f0 z0
    STEPS=$((STEPS + 1))
    uptime_now; t0=$UPC
    forks_now; f0=$FORKS
    zfs_count; z0=$ZN
    for v in $GUESTS; do
        [ "$DOWN" = "${OWNER[$v]}" ] && continue
        [ -e "$W/root-${OWNER[$v]}/run/qemu-server/$v.pid" ] && write_disks "$v" 64
    done
    local -A before=()
    if [ -n "$WATCH" ]; then
        # the copies as the previous step's watch read them after its runs, when no
        # replication came after (pulls only read them; the guests write to the owners' volumes)
        [ -n "$WATCH_FRESH" ] || replica_states
        for v in $WATCH; do before[$v]=${RSTATE[$v]}; done
    fi
    WATCH_FRESH=""
    run_nodes
    uptime_now; t1=$UPC
    if [ -n "$WATCH" ]; then
        replica_states
        for v in $WATCH; do
            WATCHED[$v]=$((WATCHED[$v] + 1))
            if [ "${RSTATE[$v]}" != "${before[$v]}" ]; then
                TOUCHED[$v]=$((TOUCHED[$v] + 1))
                [ -n "${TOUCH_FIRST[$v]}" ] || TOUCH_FIRST[$v]="$NOW: $(diff <(echo "${before[$v]}") <(echo "${RSTATE[$v]}") | grep '^[<>]' | head -n 4 | tr '\n\t' '  ')"
            fi
        done
    fi
    h=$(((EPOCH / 3600) % 24)) m=$(((EPOCH / 60) % 60))
    [ "$m" = 0 ] && replicate_all
    uptime_now; t2=$UPC
    if [ "$m" = 0 ] && [ $((h % 4)) = 1 ] && [ "$C_ONLINE" = 1 ]; then
        [ -n "$C_HAS" ] && check_c >/dev/null
        pull_plain_all
        [ "$DOWN" = pve1 ] || pull_pzs
        [ -n "$SYNCOID_OK" ] && [ "$DOWN" != "${OWNER[100]}" ] && [[ $SYNCOID_AT == *" $NOW "* ]] && pull_syncoid
    fi
    # the next step's "before": what the watch read after the runs, unless replication changed it
    [ -n "$WATCH" ] && [ "$m" != 0 ] && WATCH_FRESH=1
    uptime_now
    forks_now
    zfs_count
    local a b c d
    secs a $((UPC - t0)); secs b $((t1 - t0)); secs c $((t2 - t1)); secs d $((UPC - t2))
    log "step took $a s (runs $b, replication $c, pulls and check $d), $((FORKS - f0)) forks${ZFSN_FILE:+, $((ZN - z0)) zfs}"
}
advance() { # advance <until RFC 3339>: steps of 15 minutes from the current NOW+15m up to and including <until>
    local t end
    WATCH_FRESH="" # whatever ran between two advances may have changed the copies
    end=$(date -u -d "$1" +%s)
    t=$(((EPOCH / 900 + 1) * 900)) # the next quarter hour (NOW may be between steps)
    # DRILL_SMOKE=1: one step at <until> only: every code path in minutes, for working on
    # this script; the checks that depend on retention horizons are expected to FAIL then.
    if [ "${DRILL_SMOKE:-0}" = 1 ] && [ "$t" -lt "$end" ]; then t=$end; fi
    while [ "$t" -le "$end" ]; do
        at "@$t"
        step
        t=$((t + 900))
    done
}

setup_syncoid
echo "drill: OpenZFS $(cat /sys/module/zfs/version), pools A B C, guests $GUESTS on pve1, policy ${POLICY[*]}" \
    "${SYNCOIDS:+syncoid:$SYNCOIDS}"

# ---------------------------------------------------------------------------------------------
# Scenario 1: steady state (day 1, 00:00 .. 06:00)
at 2026-11-20T00:00:00Z
step
watch_reset 100 101 102
advance 2026-11-20T05:45:00Z
for v in $GUESTS; do
    check "1 steady: the runs of both nodes changed nothing on B's copy of VM $v (${WATCHED[$v]} steps)" \
        "${TOUCHED[$v]}${TOUCH_FIRST[$v]:+ first: ${TOUCH_FIRST[$v]}}" 0
done
watch_reset
at 2026-11-20T06:00:00Z
beforeB=$(state_of B)
for v in $GUESTS; do write_disks "$v" 64; done
run_nodes
afterB=$(state_of B)
check "1 steady: pve2's own run (and pve1's) changes nothing on B" "$afterB" "$beforeB"
check "1 steady: B bookmarks the hourly snapshots it received (C can resume from B too)" \
    "$(zfs list -H -o name -t bookmark B/data/vm-100-disk-0 | grep -c '_hourly$' | awk '{ print ($1 >= 3) ? "yes" : "no: " $1 }')" yes
check "1 steady: B bookmarks no frequent snapshot and nothing not ours" \
    "$(zfs list -H -o name -t bookmark -r B/data | grep -v -c -E '#autosnap_[0-9_:-]+_(hourly|daily|weekly|monthly|yearly|stopped)$')" 0
replicate_all
for v in $GUESTS; do
    for d in ${DISKS[$v]}; do
        check "1 steady: B mirrors A's snapshots of $d" "$(snapset B/data/"$d")" "$(snapset A/data/"$d")"
        check "1 steady: label on A's $d is local pve1" "$(label A/data/"$d")" "pve1 local"
        check "1 steady: label on B's $d arrives as received pve1" "$(label B/data/"$d")" "pve1 received"
    done
done
check "1 steady: A keeps exactly f4 h6 d3 of ours on vm-100-disk-0 at 06:00 (daily 00:00, hourlies 01..06, 05:15 05:30 05:45)" \
    "$(count_ours A/data/vm-100-disk-0)" 10
if [ -n "$(zfs list -H -o name -t bookmark A/data/vm-100-disk-0 | head -n 1)" ]; then
    ok "1 steady: A has bookmarks of its hourlies"
else
    fail "1 steady: no bookmark on A"
fi
# Bookmarks do not travel with `zfs send -R`: every bookmark on B is one B's own runs made of a
# snapshot it received (issue 19), so each names a snapshot B has or had, with its guid.
check "1 steady: B's bookmarks are its own, of snapshots it received (same guid as B's snapshot)" \
    "$(zfs list -H -p -o name,guid -t bookmark,snapshot -r B/data | awk -F'\t' '
        { split($1, p, /[@#]/); k = p[1] SUBSEP p[2] }
        $1 ~ /@/ { snap[k] = $2 } $1 ~ /#/ { bm[k] = $2 }
        END { bad = 0; for (k in bm) if ((k in snap) && snap[k] != bm[k]) bad++; print bad }')" 0

# Scenario 2: C offline from after the 05:00 pull until 13:00 (misses 09:00): C's newest (05:00
# hourly) is rotated away on A by then (h6), its bookmark (h12) is not.
C_ONLINE=0
c_before=$(count_ours C/plain/vm-100-disk-0)
c_newest=$(newest_ours C/plain/vm-100-disk-0)
s21_before=$(count_ours C/s21/vm-100-disk-0)
s22_before=$(count_ours C/s22/vm-100-disk-0)
declare -A SYN_HAD=() # tree -> its snapshots of ours before the outage (what it must not lose)
for tree in C/s21 C/s22; do
    SYN_HAD[$tree]=$(zfs list -H -o name -t snapshot -d 1 "$tree/vm-100-disk-0" 2>/dev/null | sed -n 's/.*@\(autosnap_.*\)/\1/p')
done
[ -n "$c_newest" ] || fail "2 outage: C has no snapshot of ours before the outage (no pull happened)"
# Scenario 3 happens during C's outage: VM 101 stops on A at 08:10.
advance 2026-11-20T08:00:00Z
stop_guest 101 pve1
advance 2026-11-20T12:45:00Z
at 2026-11-20T13:00:00Z
C_ONLINE=1
if zfs list -H -o name "A/data/vm-100-disk-0@$c_newest" >/dev/null 2>&1; then
    fail "2 outage: C's newest $c_newest should be rotated away on A by now (test setup)"
else
    ok "2 outage: C's newest snapshot $c_newest is gone from A"
fi
if zfs list -H -o name -t bookmark "A/data/vm-100-disk-0#$c_newest" >/dev/null 2>&1; then
    ok "2 outage: its bookmark A/data/vm-100-disk-0#$c_newest is still there"
else
    fail "2 outage: no bookmark #$c_newest on A"
fi
step
for d in vm-100-disk-0 vm-102-disk-0; do
    check "2 outage: C resumed $d incrementally from the bookmark" "${PULL_HOW[$d]:-none}" bookmark
done
check "2 outage: C lost none of its own snapshots of vm-100-disk-0 (it only gained)" \
    "$([ "$(count_ours C/plain/vm-100-disk-0)" -gt "$c_before" ] && echo gained)" gained
if zfs list -H -o name "C/plain/vm-100-disk-0@$c_newest" >/dev/null 2>&1; then
    ok "2 outage: C still has $c_newest"
else
    fail "2 outage: C lost $c_newest"
fi
check "2 outage: C's check after the resume is OK" "$(check_c >/dev/null; echo $?)" 0
check "2 outage: pve-zfs-snap pull resumed vm-100-disk-0 from A's bookmark" "${PZS_HOW[vm-100-disk-0]:-none}" incremental:bookmark
if zfs list -H -o name "C/pzs/vm-100-disk-0@$c_newest" >/dev/null 2>&1; then
    ok "2 outage: pve-zfs-snap pull kept C's $c_newest"
else
    fail "2 outage: C/pzs lost $c_newest"
fi
if [ -n "$SYNCOID_OK" ]; then
    for e in $SYNCOIDS; do
        ver=${e%%=*}
        tree=C/s${ver//./}; tree=${tree:0:5}
        b=$([ "$ver" = 2.1.0 ] && echo "$s21_before" || echo "$s22_before")
        a=$(count_ours "$tree/vm-100-disk-0")
        lost=0
        for s in ${SYN_HAD[$tree]}; do
            zfs list -H -o name "$tree/vm-100-disk-0@$s" >/dev/null 2>&1 || lost=$((lost + 1))
        done
        how=$(echo "${SYN_OUT[$ver]}" | grep -o -E 'Sending incremental [^ ]*#[^ ]*|Sending incremental [^ ]*@[^ ]*|rolling back|Rolling back|CRITICAL ERROR[^.]*|Sending full|full stream|NEWEST SNAPSHOT[^:]*' | head -n 2 | tr '\n' ';')
        if [ "$lost" -gt 0 ]; then
            peer "syncoid-$ver: rolled C back, destroyed $lost of C's snapshots (exit ${SYN_RC[$ver]}; $how)"
        elif [ "${SYN_RC[$ver]}" != 0 ]; then
            peer "syncoid-$ver: failed to resume after the outage (exit ${SYN_RC[$ver]}: ${SYN_OUT[$ver]:0:200})"
        else
            peer "syncoid-$ver: resumed, C kept its snapshots ($b -> $a of ours; $how)"
        fi
    done
fi

# Scenario 3 (continued): VM 101 stopped at 08:10; one _stopped snapshot reached B and C.
d=vm-101-disk-0
check "3 stop: exactly one _stopped snapshot on A's $d" "$(zfs list -H -o name -t snapshot -d 1 A/data/$d | grep -c _stopped)" 1
check "3 stop: the _stopped snapshot reached B" "$(zfs list -H -o name -t snapshot -d 1 B/data/"$d" | grep -c _stopped)" 1
check "3 stop: the _stopped snapshot reached C" "$(zfs list -H -o name -t snapshot -d 1 C/plain/$d | grep -c _stopped)" 1
check "3 stop: label on A is local stopped" "$(label A/data/"$d")" "stopped local"
check "3 stop: label on B is received stopped" "$(label B/data/"$d")" "stopped received"
advance 2026-11-20T16:00:00Z
# C's copies last changed at the 13:00 pull: 16:00 is the worst age they reach before 17:00's.
check "3 stop: C's check is quiet (OK/STOPPED) at 16:00 with VM 101 stopped for 8 h" "$(check_c >/dev/null; echo $?)" 0
"$BIN" check --root "$W/root-c" --dataset C/plain/vm-101-disk-0 --warn 5h --crit 9h --now "$NOW" >"$W/c101" 2>&1
check "3 stop: C's check of VM 101 says STOPPED, exit 0, 8 h after the stop" "$?:$(grep -c -i stopped "$W/c101")" "0:1"

# Scenario 4: migration A -> B of VM 100 at 16:05 with replication (final sync, config moves,
# job target switches), then back B -> A on day 2 at 04:05.
migrate() { # migrate <vmid> <to>: online migration of a replicated guest
    local v=$1 to=$2 from=${OWNER[$1]}
    replicate "$v" || fail "4 migrate: the final replication before moving $v failed"
    stop_guest "$v" "$from"
    start_guest "$v" "$to"
    move_conf "$v" "$to"
}
at 2026-11-20T16:05:00Z
migrate 100 pve2
C_WORST=0 C_BAD=""
advance 2026-11-20T17:00:00Z # the first replication B -> A is at 17:00
for d in ${DISKS[100]}; do
    check "4 A->B: B took over $d: label local pve2" "$(label B/data/"$d")" "pve2 local"
    check "4 A->B: B made the 16:15 snapshot of $d" "$(zfs list -H -o name -t snapshot -d 1 B/data/"$d" | grep -c '@autosnap_2026-11-20_16:15:00_')" 1
    check "4 A->B: A's local label is gone, B's arrived: received pve2" "$(label A/data/"$d")" "pve2 received"
    check "4 A->B: A mirrors B's snapshots of $d" "$(snapset A/data/"$d")" "$(snapset B/data/"$d")"
done
watch_reset 100
advance 2026-11-21T04:00:00Z
check "4 A->B: the runs left A's replica of VM 100 alone (${WATCHED[100]} steps)" \
    "${TOUCHED[100]}${TOUCH_FIRST[100]:+ first: ${TOUCH_FIRST[100]}}" 0
watch_reset
check "4 A->B: C's check stayed quiet across the switch (pulling from B)" "$C_WORST:$C_BAD" "0:"
check "4 A->B: C's last pull of vm-100-disk-0 was incremental from B" "${PULL_HOW[vm-100-disk-0]:-none}" incremental
at 2026-11-21T04:05:00Z
migrate 100 pve1
advance 2026-11-21T04:15:00Z
watch_reset 100
advance 2026-11-21T05:00:00Z
check "4 B->A: the runs left B's replica of VM 100 alone after the first step (${WATCHED[100]} steps)" \
    "${TOUCHED[100]}${TOUCH_FIRST[100]:+ first: ${TOUCH_FIRST[100]}}" 0
watch_reset
for d in ${DISKS[100]}; do
    check "4 B->A: A took over $d again: label local pve1" "$(label A/data/"$d")" "pve1 local"
    check "4 B->A: B mirrors A's snapshots of $d" "$(snapset B/data/"$d")" "$(snapset A/data/"$d")"
    check "4 B->A: the replica B shows label:running=pve1 (no stale local pve2 masking it)" \
        "$(zfs get -H -o value label:running B/data/"$d")" pve1
done
check "4 B->A: C's check stayed quiet across the second switch" "$C_WORST:$C_BAD" "0:"

# Scenario 5: HA failover of VM 102 at 06:07: A dies without a stop marker (it wrote data and
# took its 06:00 snapshot after the last replication), B steals the guest, A returns at 08:07.
# The 06:00 replication of VM 102 fails (the link to B is already down), so A's 05:15 .. 06:05
# snapshots (the 06:00 hourly with its bookmark) exist only on A, and C pulls them at 06:05,
# just before A dies: after the failover they are on no node's line any more.
advance 2026-11-21T05:45:00Z
REPL_BROKEN=102
advance 2026-11-21T06:00:00Z
REPL_BROKEN=""
at 2026-11-21T06:05:00Z
write_disks 102 256
zfs snapshot A/data/vm-102-disk-0@autosnap_2026-11-21_06:05:00_frequently   # what A's last run made before dying
pull_pzs
check "5 HA: C pulled A's last snapshots of VM 102 before A died (06:00 hourly, 06:05)" \
    "$(zfs list -H -o name -t snapshot -d 1 C/pzs/vm-102-disk-0 | grep -c -E '_2026-11-21_06:00:00_hourly|_2026-11-21_06:05:00_frequently')" 2
DOWN=pve1
at 2026-11-21T06:07:00Z
stop_guest 101 pve1 2>/dev/null
stop_guest 102 pve1
start_guest 102 pve2
move_conf 102 pve2
advance 2026-11-21T08:00:00Z
check "5 HA: B runs VM 102: label local pve2" "$(label B/data/vm-102-disk-0)" "pve2 local"
check "5 HA: A's stale copy still says local pve1 while A is down" "$(label A/data/vm-102-disk-0)" "pve1 local"
at 2026-11-21T08:07:00Z
DOWN=""
start_guest 100 pve1 # A's other guests come back (VM 100 runs there again)
advance 2026-11-21T08:45:00Z # A's runs at 08:15..08:45
# A's bookmark of its 06:00 hourly shares the guid of C's copy, but the next replication rolls A
# back past it: `zfs send -i A#<it>` would then send a diff against a state A's line never had,
# and C would silently keep the discarded writes (ZFS checks only that a bookmark is older, not
# that it is an ancestor). Before the rollback it is a true bookmark of A's line and stays.
STALE_BM=A/data/vm-102-disk-0#autosnap_2026-11-21_06:00:00_hourly
check "5 HA: before the rollback, A keeps its bookmark of the 06:00 hourly (still on its line)" \
    "$(zfs list -H -o name -t bookmark "$STALE_BM" 2>/dev/null)" "$STALE_BM"
advance 2026-11-21T09:00:00Z # the 09:00 replication B -> A, then C's pull
check "5 HA: pve-zfs-snap pull set C's diverged copy of vm-102-disk-0 aside, from a common snapshot (never A's stale bookmark)" "${PZS_HOW[vm-102-disk-0]:-none}" diverged:snapshot
check "5 HA: that pull exited 1 (partial: an admin must look at the aside copy)" "$PZS_DIVERGED_RC" 1
aside=$(zfs list -H -o name -r C/pzs | grep -E '^C/pzs/vm-102-disk-0-diverged-' | head -n 1)
check "5 HA: the aside copy keeps A's 06:00 and 06:05 snapshots" \
    "$([ -n "$aside" ] && zfs list -H -o name -t snapshot -d 1 "$aside" | grep -c -E '_2026-11-21_06:00:00_hourly|_2026-11-21_06:05:00_frequently')" 2
n=$(newest_snap C/pzs/vm-102-disk-0)
src=$(by_guid "$(zfs get -H -p -o value guid "$n")" A/data/vm-102-disk-0)
check "5 HA: C's newest vm-102-disk-0 has A's data, block for block ($n)" "$([ -n "$src" ] && same_data "$n" "$src")" same
check "5 HA: the replication rolled A back: A's divergent 06:05 snapshot is gone" \
    "$(zfs list -H -o name -t snapshot A/data/vm-102-disk-0@autosnap_2026-11-21_06:05:00_frequently 2>/dev/null | wc -l)" 0
check "5 HA: A's snapshots of vm-102-disk-0 equal B's" "$(snapset A/data/vm-102-disk-0)" "$(snapset B/data/vm-102-disk-0)"
check "5 HA: A's label is B's, received" "$(label A/data/vm-102-disk-0)" "pve2 received"
check "5 HA: no _stopped snapshot of VM 102 anywhere after the failover" \
    "$(zfs list -H -o name -t snapshot -r A B C | grep vm-102 | grep -c '_2026-11-21.*_stopped')" 0
at 2026-11-21T09:05:00Z
a102=$(state_of A | grep vm-102)
run_node pve1
# The run after the rollback sees the 06:00 hourly and the 06:05 snapshot gone while older ones
# survived: a rollback discarded them, and their bookmarks go (issue 19; docs/PULL.md).
check "5 HA: after the rollback, A's next run dropped its bookmark of the discarded 06:00 hourly" \
    "$(zfs list -H -o name -t bookmark "$STALE_BM" 2>/dev/null | wc -l)" 0
check "5 HA: A's own run touches nothing else of VM 102 (its replica now)" "$(state_of A | grep vm-102)" "$a102"

# Scenario 6: a replication send in flight (throttled) while a run destroys snapshots inside its
# -I range. VM 100 on A: hold replication back for 2 h so A's run has expired frequents inside
# the next -I range, then send throttled and run pve1 while the stream waits.
for t in 09:15 09:30 09:45 10:00; do
    at "2026-11-21T$t:00Z"
    write_disks 100 512
    run_nodes
done
replicate 101 102 # 10:00: pvesr's hourly run, VM 100's job held back
at 2026-11-21T10:15:00Z
write_disks 100 2048
SEND_GATE=$W/gate6
replicate 100 >"$W/repl6.out" 2>&1 &
rpid=$!
# The stream now waits in the pipe (the gate is closed) once zfs send has started: wait for its
# temporary holds on the oldest frequent inside the -I range (up to 120 s), then the run
# expires the frequents inside the range while the send is in progress.
in_range=$(zfs list -H -o name -t snapshot -s createtxg -d 1 A/data/vm-100-disk-0 | sed 's/.*@//' | grep frequently | head -n 1)
for _ in $(seq 240); do
    zfs holds -H "A/data/vm-100-disk-0@$in_range" 2>/dev/null | grep -q . && break
    sleep 0.5
done
holds6=$(zfs holds -H "A/data/vm-100-disk-0@$in_range" 2>/dev/null | cut -f2 | tr '\n' ' ')
log "race: holds on $in_range while the send waits: ${holds6:-none}"
"$BIN" --root "$W/root-pve1" --node pve1 --cron --json --now "$NOW" f1 h6 d3 >"$W/run6.json" 2>"$W/run6.err"
rc6=$?
touch "$SEND_GATE"
wait "$rpid"
repl_rc=$?
cat "$W/repl6.out"
SEND_GATE=""
check "6 race: the throttled replication completed" "$repl_rc" 0
check "6 race: the run during the send exits 0" "$rc6" 0
if grep -q '"kept:held"\|"held"' "$W/run6.json"; then
    fail "6 race: a send in progress reported as held, not busy ($(grep -o '"[^"]*held[^"]*"' "$W/run6.json" | head -n 1); holds: $(zfs holds -H -r A/data/vm-100-disk-0 2>/dev/null | cut -f2 | sort -u | tr '\n' ' '))"
elif grep -q 'busy' "$W/run6.json"; then
    ok "6 race: the destroy during the send is reported as busy"
else
    peer "zfs-$(cat /sys/module/zfs/version): a destroy inside a running send -I range did not fail (no busy)"
fi
for s in $(zfs list -H -o name -t snapshot -d 1 A/data/vm-100-disk-0 | sed -n 's/.*@\(autosnap_2026-11-21_\(09\|10:00\).*\)/\1/p'); do
    zfs list -H -o name "B/data/vm-100-disk-0@$s" >/dev/null 2>&1 || fail "6 race: $s (in the send's range, kept on A) did not reach B"
done
advance 2026-11-21T10:30:00Z
at 2026-11-21T10:31:00Z
"$BIN" --root "$W/root-pve1" --node pve1 --cron --now "$NOW" f1 h6 d3 >/dev/null 2>&1
check "6 race: the next run destroyed what the send kept busy" \
    "$(zfs list -H -o name -t snapshot -d 1 A/data/vm-100-disk-0 | grep -c frequently)" 1
check "6 race: B mirrors A after the next replication" \
    "$(replicate 100; snapset B/data/vm-100-disk-0)" "$(snapset A/data/vm-100-disk-0)"

# Day 2 ends in steady state: more runs up to 00:00 of day 3 (its replication included), then the totals.
advance 2026-11-22T00:00:00Z
for v in $GUESTS; do
    for d in ${DISKS[$v]}; do
        o=${OWNER[$v]} r=${OTHER[${OWNER[$v]}]}
        check "end: ${POOL[$r]} mirrors ${POOL[$o]} on $d" "$(snapset "${POOL[$r]}/data/$d")" "$(snapset "${POOL[$o]}/data/$d")"
    done
done
for n in pve1 pve2; do
    check "all ${RUNS[$n]} runs of $n exited 0" "${RUNFAIL[$n]}" "0" || true
    [ -z "${FIRSTFAIL[$n]}" ] || echo "     first: ${FIRSTFAIL[$n]}"
done
nrepl=$(wc -l <"$W/repl.log")
# One replication fails on purpose (scenario 5: VM 102's at 06:00 of day 2, before A dies).
check "all $nrepl replications succeeded but the one broken on purpose (102-0 at 2026-11-21T06:00:00Z)" \
    "$(grep '^fail' "$W/repl.log" | tr '\n' ' ')" "fail 102-0 2026-11-21T06:00:00Z "


# The third site over a real ssh: pve-zfs-snap pull --from root@127.0.0.1 (sshd on loopback; by
# address: bookworm's minbase image has no /etc/hosts entry for localhost).
python3 -c '
import fcntl, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH", b"lo", 0)))[1]
fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", flags | 1))
' 2>>"$LOG"
mkdir -p /root/.ssh /run/sshd
chmod 700 /root/.ssh
[ -f /root/.ssh/id_ed25519 ] || ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519
cp /root/.ssh/id_ed25519.pub /root/.ssh/authorized_keys
printf 'Host 127.0.0.1\n    StrictHostKeyChecking accept-new\n    UserKnownHostsFile /root/.ssh/known_hosts\n' >/root/.ssh/config
/usr/sbin/sshd -o ListenAddress=127.0.0.1 -o PermitRootLogin=prohibit-password 2>>"$LOG"
at 2026-11-22T00:10:00Z
for v in $GUESTS; do write_disks "$v" 64; done
run_nodes
pull_pzs --from root@127.0.0.1
check "ssh: pve-zfs-snap pull --from root@127.0.0.1 exited 0" "$?" 0
check "ssh: vm-100-disk-0 came incrementally over ssh" "${PZS_HOW[vm-100-disk-0]:-none}" incremental:snapshot
for v in $GUESTS; do
    for d in ${DISKS[$v]}; do
        n=$(newest_snap "C/pzs/$d")
        src=$(by_guid "$(zfs get -H -p -o value guid "$n")" "A/data/$d")
        check "end: C's newest $d (pve-zfs-snap pull) has A's data, block for block" "$([ -n "$src" ] && same_data "$n" "$src")" same
    done
done
check "C (pve-zfs-snap pull): $PZS_N pulls lost none of C's snapshots" "$PZS_LOST${PZS_LOSTAT:+ first: $PZS_LOSTAT}" 0
check "C (pve-zfs-snap pull): every pull exited 0 but the diverged one (1)" "${PZS_RCBAD:-none}" none

# The peers admins use are part of what the drill proves (scenario 2): not running them is a
# failure, never a silent pass (tests/vm/drill/fetch-syncoid.sh brings them).
check "syncoid 2.1.0 and 2.2.x both ran (the pullers admins use today)" "$(echo "$SYNCOIDS" | wc -w)" 2
echo "drill: $PASS ok, $FAILN FAIL, $PEER peer findings, $OPENN OPEN (known gaps of ours); OpenZFS $(cat /sys/module/zfs/version);" \
    "$(uptime_now; echo $(((UPC - T_START) / 100))) s of real time in the VM for $STEPS steps (log: drill-log.txt)"
[ "$FAILN" = 0 ]
