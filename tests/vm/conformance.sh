#!/usr/bin/env bash
# Emulator-vs-kernel conformance for one OpenZFS flavor.
#
#   tests/vm/conformance.sh <2.4|2.3|2.1> [--kernel-only|--emu-only|--kernel-results DIR] [--record] [--out DIR] [case-filter]
#
# 1. Kernel: one VM boot (tests/vm/run.sh) runs conformance/run-cases.sh over all cases, the
#    pool re-created between cases; results and vm-info (exact zfs module version) in DIR/kernel.
# 2. Emulator: the same cases on the host with `zfs`/`zpool` symlinked to target/debug/zfs-emu,
#    ZFS_EMU_STATE fresh per case, ZFS_EMU_VERSION = the kernel module version (e.g. 2.3.2).
# 3. conformance/compare.sh prints the report; exit 0 only with 0 unexplained differences.
# --kernel-only stops after step 1. --record copies the kernel results into the repository
# (conformance/kernel-results/<flavor>/, committed: emulator work can compare without a VM);
# with a case filter it replaces only those cases, if the zfs module version is unchanged.
# --emu-only skips the VM and compares with those recorded results (fast, not a CI substitute).
# --kernel-results DIR skips the VM and compares with the kernel results another VM run wrote
# into DIR (tests/vm/suite.sh: DIR/*.out, and DIR/../vm-info from run.sh), as CI does.
# DIR defaults to tests/vm/cache/results/<flavor>.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
[ $# -ge 1 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
FLAVOR=$1
shift
KERNEL_ONLY=0 EMU_ONLY=0 RECORD=0 RES="" FILTER=. FROM=""
while [ $# -gt 0 ]; do
    case "$1" in
        --kernel-only) KERNEL_ONLY=1; shift ;;
        --emu-only) EMU_ONLY=1; shift ;;
        --kernel-results) FROM=$(cd "$2" && pwd) || exit 2; shift 2 ;;
        --record) RECORD=1; shift ;;
        --out) RES=$2; shift 2 ;;
        *) FILTER=$1; shift ;;
    esac
done
RES=${RES:-$HERE/cache/results/$FLAVOR}
rm -rf "$RES"
mkdir -p "$RES/kernel" "$RES/emu"
RES=$(cd "$RES" && pwd)

RECORDED=$HERE/conformance/kernel-results/$FLAVOR
t0=$(date +%s)
if [ "$EMU_ONLY" = 1 ]; then
    [ -f "$RECORDED/vm-info" ] || { echo "conformance: nothing recorded in $RECORDED" >&2; exit 1; }
    echo "conformance[$FLAVOR]: --emu-only: kernel results recorded in $RECORDED"
    for f in "$RECORDED"/*.out; do
        n=$(basename "$f" .out)
        echo "$n" | grep -Eq -- "$FILTER" && cp "$f" "$RES/kernel/"
    done
    cp "$RECORDED/vm-info" "$RES/vm-info"
elif [ -n "$FROM" ]; then
    echo "conformance[$FLAVOR]: kernel results from $FROM"
    [ -f "$FROM/../vm-info" ] || { echo "conformance: no vm-info next to $FROM" >&2; exit 1; }
    n=0
    for f in "$FROM"/*.out; do
        [ -e "$f" ] || continue
        basename "$f" .out | grep -Eq -- "$FILTER" && { cp "$f" "$RES/kernel/"; n=$((n + 1)); }
    done
    [ "$n" -gt 0 ] || { echo "conformance: no kernel results (*.out) in $FROM" >&2; exit 1; }
    cp "$FROM/../vm-info" "$RES/vm-info"
else
    echo "conformance[$FLAVOR]: kernel side (VM)"
    "$HERE/run.sh" "$FLAVOR" --out "$RES/kernel" --timeout 1800 -- \
        tests/vm/conformance/run-cases.sh /out "$FILTER"
    mv "$RES/kernel/vm-info" "$RES/vm-info"
fi
t1=$(date +%s)
KMOD=$(sed -n 's/^zfs_kmod=//p' "$RES/vm-info")
[ -n "$KMOD" ] || { echo "conformance: no zfs_kmod in $RES/vm-info" >&2; exit 1; }
echo "conformance[$FLAVOR]: kernel side done in $((t1 - t0))s (zfs kmod $KMOD)"
if [ "$RECORD" = 1 ] && [ "$EMU_ONLY" = 0 ]; then
    if [ "$FILTER" = . ]; then
        rm -rf "$RECORDED"
        mkdir -p "$RECORDED"
        cp "$RES"/kernel/*.out "$RES/vm-info" "$RECORDED/"
        echo "conformance[$FLAVOR]: recorded kernel results in $RECORDED"
    else
        # A filtered run replaces only its cases, and only when the module version is the one
        # the other recorded results came from (vm-info stays as it is).
        OLD=$(sed -n 's/^zfs_kmod=//p' "$RECORDED/vm-info" 2>/dev/null || true)
        [ "$OLD" = "$KMOD" ] || {
            echo "conformance: --record with a filter needs the recorded module version ($OLD), got $KMOD; record all cases" >&2
            exit 2
        }
        cp "$RES"/kernel/*.out "$RECORDED/"
        echo "conformance[$FLAVOR]: recorded kernel results of the cases matching '$FILTER' in $RECORDED"
    fi
fi
[ "$KERNEL_ONLY" = 1 ] && { echo "conformance[$FLAVOR]: --kernel-only: results in $RES/kernel"; exit 0; }

EMU=$REPO/target/debug/zfs-emu
[ -x "$EMU" ] || { echo "conformance: $EMU missing (cargo build --bins)" >&2; exit 1; }
BIN=$RES/emu-bin
mkdir -p "$BIN"
ln -sf "$EMU" "$BIN/zfs"
ln -sf "$EMU" "$BIN/zpool"
export ZFS_EMU_VERSION=${KMOD%%-*}
echo "conformance[$FLAVOR]: emulator side (ZFS_EMU_VERSION=$ZFS_EMU_VERSION)"
PATH=$BIN:$PATH CONF_EMU_STATE_DIR=$RES/emu-state \
    "$HERE/conformance/run-cases.sh" "$RES/emu" "$FILTER" || true # differences show up in compare
t2=$(date +%s)
echo "conformance[$FLAVOR]: emulator side done in $((t2 - t1))s"
"$HERE/conformance/compare.sh" --flavor "$FLAVOR" "$RES/emu" "$RES/kernel" | tee "$RES/report.txt"
