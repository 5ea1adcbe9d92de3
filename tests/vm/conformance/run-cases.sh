#!/usr/bin/env bash
# Run every conformance case with the `zfs`/`zpool` first on PATH; one result file per case.
#
#   run-cases.sh <outdir> [case-name-filter (grep -E)]
#
# Before each case the pool is fresh:
#   * kernel (VM_POOL_DISK set, from tests/vm/run.sh: we are in the test VM): zpool destroy +
#     zpool create on a sparse file vdev on the guest's tmpfs (a whole-disk vdev on the virtio
#     disk costs ~2 s per reset under TCG, partitioning and udev included; a file ~0.6 s, and no
#     case looks at the vdev: 87 resets per flavor, tests/vm/README.md "Cost");
#   * emulator (CONF_EMU_STATE_DIR set): ZFS_EMU_STATE=<dir>/<case>.state, removed first, then
#     the same `zpool create` command on the placeholder disk /dev/emu0.
# Result file <outdir>/<case>.out: the case's output (see lib.sh), its exit code, then the pool
# state (all datasets with type/origin/userrefs/defer_destroy and createtxg as a dense rank;
# user properties with their sources). A case that prints "SKIP: <why>" and exits 77 is a skip.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 <outdir> [filter]" >&2; exit 2; }
OUTDIR=$1
FILTER=${2:-.}
mkdir -p "$OUTDIR"
export POOL=${VM_POOL:-${POOL:-tank}}
export CONF_LUA=$HERE/lua
export LC_ALL=C.UTF-8 LANG=C.UTF-8
REPO=$(cd "$HERE/../../.." && pwd)
export REPO

if [ -n "${VM_POOL_DISK:-}" ]; then
    MODE=kernel
    DISK=${CONF_POOL_FILE:-/tmp/conformance-pool.img}
    truncate -s 1G "$DISK" || { echo "run-cases: cannot create the pool file $DISK" >&2; exit 2; }
elif [ -n "${CONF_EMU_STATE_DIR:-}" ]; then
    MODE=emu
    DISK=/dev/emu0
    mkdir -p "$CONF_EMU_STATE_DIR"
else
    echo "run-cases: set VM_POOL_DISK (kernel) or CONF_EMU_STATE_DIR (emulator)" >&2
    exit 2
fi

reset_pool() { # reset_pool <case>
    if [ "$MODE" = kernel ]; then
        if zpool list -H -o name "$POOL" >/dev/null 2>&1; then
            zpool destroy -f "$POOL" || return 1
        fi
    else
        export ZFS_EMU_STATE=$CONF_EMU_STATE_DIR/$1.state
        rm -f "$ZFS_EMU_STATE"
    fi
    # On OpenZFS 2.4 (trixie) a create right after the destroy on the virtio disk sometimes
    # failed with "no such pool or dataset" while udev still handled the old pool's device
    # events (9 of 79 cases once); a file vdev has no such events, the retry stays as a guard.
    local try
    for try in 1 2 3 4 5; do
        zpool create -f -o cachefile=none "$POOL" "$DISK" && return 0
        [ "$MODE" = kernel ] || return 1
        command -v udevadm >/dev/null && udevadm settle -t 10 2>/dev/null
        sleep "$try"
    done
    return 1
}

dump_state() {
    echo "== state"
    # createtxg → dense rank over the whole pool (txg numbers differ run to run).
    zfs list -H -p -o name,type,origin,userrefs,defer_destroy,createtxg -t all -r "$POOL" 2>&1 |
        awk -F'\t' -v OFS='\t' '
            NF < 6 { print "ERR", $0; next }
            { row[NR] = $0; txg[NR] = $6; seen[$6] = 1 }
            END {
                n = 0; for (t in seen) vals[++n] = t + 0
                for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
                    if (vals[j] < vals[i]) { x = vals[i]; vals[i] = vals[j]; vals[j] = x }
                for (i = 1; i <= n; i++) rank[vals[i]] = i
                for (r = 1; r <= NR; r++) if (r in row) {
                    split(row[r], f, "\t")
                    print f[1], f[2], "origin=" f[3], "userrefs=" f[4], "defer=" f[5], "txgrank=" rank[txg[r] + 0]
                }
            }' | sort
    echo "== user properties"
    zfs get -H -o name,property,value,source -s local,inherited -r all "$POOL" 2>&1 |
        awk -F'\t' '$2 ~ /:/' | sort
}

total=0 failed_setup=0
T0=$(date +%s)
for case in "$HERE"/cases/*.sh; do
    name=$(basename "$case" .sh)
    echo "$name" | grep -Eq -- "$FILTER" || continue
    total=$((total + 1))
    res=$OUTDIR/$name.out
    CONF_TMP=$(mktemp -d)
    export CONF_TMP
    if ! reset_pool "$name" >"$CONF_TMP/reset.log" 2>&1; then
        { echo "POOL RESET FAILED"; cat "$CONF_TMP/reset.log"; } >"$res"
        failed_setup=$((failed_setup + 1))
        rm -rf "$CONF_TMP"
        continue
    fi
    (
        cd "$CONF_TMP" || exit 99
        # shellcheck source=/dev/null
        . "$HERE/lib.sh"
        set -e
        # shellcheck source=/dev/null
        . "$case"
    ) >"$res.tmp" 2>&1
    rc=$?
    if [ "$rc" = 77 ] && grep -q '^SKIP:' "$res.tmp"; then
        grep '^SKIP:' "$res.tmp" >"$res"
    else
        { cat "$res.tmp"; echo "== case exit=$rc"; dump_state; } >"$res"
    fi
    rm -f "$res.tmp"
    rm -rf "$CONF_TMP"
done
if [ "$MODE" = kernel ] && zpool list -H -o name "$POOL" >/dev/null 2>&1; then
    zpool destroy -f "$POOL" >/dev/null 2>&1 || true
fi
[ "$MODE" = kernel ] && rm -f "$DISK"
echo "run-cases ($MODE): $total cases in $(($(date +%s) - T0))s, results in $OUTDIR" \
    "$([ "$failed_setup" -gt 0 ] && echo "($failed_setup POOL RESETS FAILED)")"
[ "$failed_setup" = 0 ]
