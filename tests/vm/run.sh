#!/usr/bin/env bash
# Run one command inside a fresh throw-away VM with real OpenZFS and a fresh pool.
#
#   tests/vm/run.sh <2.4|2.3|2.1> [--disk-size 4G] [--pool tank] [--pool-opts "-O compression=off"]
#                   [--out DIR] [--timeout 600] [--mem 2048] [--smp 1] [--keep] -- <command...>
#
# The guest sees the repository read-only at /work (the command runs there, bash, PATH with
# /usr/sbin:/sbin), the host directory DIR (default $OUT, else a new temp dir) read-write at
# /out, and a fresh sparse virtio disk holding pool <pool>. Environment in the guest: VM_POOL,
# VM_POOL_DISK (to re-create the pool), VM_OUT=/out, VM_WORK=/work, VM_FLAVOR.
# The command's stdout/stderr are printed on the host afterwards; its exit status is ours.
# DIR/vm-info records kernel, zfs_kmod (exact module version), zfs_userland and timings.
#
# Exit status: the command's, or 125 when the VM itself failed (no qemu, no image, no boot,
# zfs not loading, pool creation failing, timeout); the console log tail is printed then.
# TCG only (-accel tcg,thread=multi -cpu max): KVM is not probed (unusable on these hosts).
# One vCPU by default (VM_SMP or --smp): on a host whose cores are all busy (CI runs two VMs and
# the package build on two cores) a second vCPU costs CPU and buys nothing; measured side by side
# on 2.4.4, e2e-main took 189 CPU-s (429 s wall) with 1 vCPU and 291 CPU-s (503 s) with 2.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
VM_FAIL=125

die() { echo "run.sh: VM FAILURE: $*" >&2; exit "$VM_FAIL"; }
usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 1 ] || usage
FLAVOR=$1
shift
DISK_SIZE=4G POOL=tank POOL_OPTS="" OUTDIR=${OUT:-} TIMEOUT=600 MEM=2048 SMP=${VM_SMP:-1} KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --disk-size) DISK_SIZE=$2; shift 2 ;;
        --pool) POOL=$2; shift 2 ;;
        --pool-opts) POOL_OPTS=$2; shift 2 ;;
        --out) OUTDIR=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        --mem) MEM=$2; shift 2 ;;
        --smp) SMP=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --) shift; break ;;
        *) echo "run.sh: unknown option $1" >&2; usage ;;
    esac
done
[ $# -ge 1 ] || { echo "run.sh: no command given after --" >&2; usage; }
[[ "$POOL" =~ ^[A-Za-z][A-Za-z0-9_.:-]*$ ]] || { echo "run.sh: bad pool name '$POOL'" >&2; exit 2; }

command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not installed (run tests/vm/setup-host.sh)"

T0=$(date +%s.%N)
IMG=$("$HERE/build-image.sh" "$FLAVOR" | tail -n 1) || die "image build for flavor $FLAVOR failed"
for f in vmlinuz initrd.img root.img; do [ -s "$IMG/$f" ] || die "image file $IMG/$f missing"; done

if [ -z "$OUTDIR" ]; then OUTDIR=$(mktemp -d /tmp/vm-out.XXXXXX); fi
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)

TMP=$(mktemp -d /tmp/vm-run.XXXXXX)
CTL=$TMP/ctl
mkdir -p "$CTL"
cp "$HERE/guest.sh" "$CTL/guest.sh"
printf '%q ' "$@" >"$CTL/cmd"
echo >>"$CTL/cmd"
{
    printf 'VM_POOL=%q\n' "$POOL"
    printf 'VM_POOL_OPTS=%q\n' "$POOL_OPTS"
    printf 'VM_FLAVOR=%q\n' "$FLAVOR"
} >"$CTL/env"
truncate -s "$DISK_SIZE" "$TMP/pool0.img" || die "cannot create the pool disk ($DISK_SIZE) in $TMP"
LOG=$TMP/console.log

finish() {
    local rc=$1
    if [ "$KEEP" = 1 ] || [ "$rc" = "$VM_FAIL" ]; then
        echo "run.sh: kept $TMP (console.log, ctl/)" >&2
        rm -f "$TMP/pool0.img"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap 'finish 130' INT TERM

child_cpu() { # `times` must run in this shell (a pipe or $(...) would ask a fresh subshell)
    times >"$TMP/times"
    awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }; printf "%.0f", t }' "$TMP/times"
}
child_cpu >"$TMP/cpu0" # the image build (or the wait for it) is not the VM's cost
set +e
timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 \
    -accel tcg,thread=multi -cpu "${VM_QEMU_CPU:-max}" -smp "$SMP" -m "$MEM" \
    -display none -monitor none -serial "file:$LOG" -no-reboot -nic none \
    -kernel "$IMG/vmlinuz" -initrd "$IMG/initrd.img" \
    -append "console=ttyS0 root=/dev/vda rootfstype=ext4 rw init=/sbin/vm-init panic=-1 quiet loglevel=4 mitigations=off" \
    -drive "file=$IMG/root.img,if=none,id=root,format=raw,snapshot=on" \
    -device virtio-blk-pci,drive=root,serial=root \
    -drive "file=$TMP/pool0.img,if=none,id=pool0,format=raw,cache=unsafe" \
    -device virtio-blk-pci,drive=pool0,serial=pool0 \
    -virtfs "local,path=$CTL,mount_tag=ctl,security_model=none" \
    -virtfs "local,path=$REPO,mount_tag=work,security_model=none,readonly=on" \
    -virtfs "local,path=$OUTDIR,mount_tag=out,security_model=none" \
    </dev/null >"$TMP/qemu.out" 2>&1
QRC=$?
set -e
T1=$(date +%s.%N)
# CPU time of qemu (all its threads; from the shell's children times, second line of `times`):
# what a VM costs the host whatever the load (tests/vm/README.md "Cost").
child_cpu >"$TMP/cpu1"
CPU=$(($(cat "$TMP/cpu1") - $(cat "$TMP/cpu0")))

[ -f "$CTL/vm-info" ] && cp "$CTL/vm-info" "$OUTDIR/vm-info"
[ -f "$CTL/stdout" ] && cat "$CTL/stdout"
[ -f "$CTL/stderr" ] && cat "$CTL/stderr" >&2

ready=$(sed -n 's/^ready=//p' "$CTL/vm-info" 2>/dev/null || true)
done_=$(sed -n 's/^done=//p' "$CTL/vm-info" 2>/dev/null || true)
total=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.1f", b - a }')
echo "run.sh: flavor $FLAVOR, $(sed -n 's/^zfs_kmod=/zfs kmod /p' "$CTL/vm-info" 2>/dev/null || echo 'zfs ?'):" \
    "guest ready (zfs loaded, pool created) at ${ready:-?}s uptime, command done at ${done_:-?}s," \
    "wall ${total}s, cpu ${CPU}s (qemu, user+sys)" >&2

if [ ! -f "$CTL/status" ]; then
    why="VM did not report a command status"
    [ "$QRC" = 124 ] || [ "$QRC" = 137 ] && why="VM timed out after ${TIMEOUT}s"
    [ -f "$CTL/infra-error" ] && why="guest: $(cat "$CTL/infra-error")"
    {
        echo "run.sh: VM FAILURE: $why (qemu exit $QRC)"
        echo "---- qemu output"
        tail -n 20 "$TMP/qemu.out" || true
        echo "---- console log tail ($LOG)"
        tail -n 60 "$LOG" 2>/dev/null || echo "(no console log)"
        echo "----"
    } >&2
    finish "$VM_FAIL"
fi
finish "$(cat "$CTL/status")"
