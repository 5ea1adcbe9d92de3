#!/usr/bin/env bash
# CI tier "real OpenZFS": what .ci/run calls. Fails loudly when the VM cannot run; never skips
# a flavor.
#
#   tests/vm/ci.sh [flavors...]      default: VM_FLAVORS or "2.4 2.3 2.1"
#
# host setup → cargo build --bins → per flavor: image (cached per week and recipe), boot smoke,
# conformance, the main run's end-to-end scenarios (tests/vm/e2e-main.sh) and, when
# tests/vm/drill.sh exists, the three-site drill; prints a timing table.
# Image builds run ahead in the background, one at a time and in flavor order, so the next
# flavor's image is built while the current flavor's VMs run (the build is mostly DKMS
# compiling, the VMs mostly TCG; on 2 cores they still overlap downloads, dpkg and 9p I/O).
# Their log: $VM_CACHE_DIR/ci-images.log (default /var/cache/pve-zfs-snap-vm).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck disable=SC2206 # a word list by design
FLAVORS=(${@:-${VM_FLAVORS:-2.4 2.3 2.1}})
CACHE=${VM_CACHE_DIR:-/var/cache/pve-zfs-snap-vm}
T_START=$(date +%s)
ROWS=()
row() { ROWS+=("$(printf '%-44s %6ss  %s' "$1" "$2" "$3")"); }
table() {
    echo "==== VM tier timings"
    printf '  %s\n' "${ROWS[@]}"
    printf '  %-44s %6ss\n' "total" $(($(date +%s) - T_START))
}
BG=""
stop_bg() { [ -z "$BG" ] || kill "$BG" 2>/dev/null; }
trap stop_bg EXIT
fail() { echo "VM TIER FAILED: $*" >&2; table; exit 1; }
timed() { # timed <label> <cmd...>: runs, records a row, returns the status
    local t0 rc
    t0=$(date +%s)
    "${@:2}"
    rc=$?
    row "$1" $(($(date +%s) - t0)) "$([ $rc = 0 ] && echo ok || echo "FAILED (exit $rc)")"
    return $rc
}

echo "==== VM tier: real OpenZFS in qemu (flavors: ${FLAVORS[*]})"
[ "$(id -u)" = 0 ] || fail "needs root (debootstrap, chroot, qemu image build)"
timed "host setup (apt)" "$HERE/setup-host.sh" || fail "host setup"
command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 unavailable"

# Images ahead, in order, in the background (build-image.sh serializes on its lock; a flavor's
# foreground call below returns as soon as its image exists). A failed background build is
# simply retried in the foreground, which then reports it.
mkdir -p "$CACHE"
IMGLOG=$CACHE/ci-images.log
(
    for f in "${FLAVORS[@]}"; do
        t0=$(date +%s)
        if "$HERE/build-image.sh" "$f" >/dev/null; then r=ok; else r=FAILED; fi
        echo "ci-images: image $f $r after $(($(date +%s) - t0))s"
    done
) >"$IMGLOG" 2>&1 &
BG=$!

timed "cargo build --workspace --bins" bash -c "cd '$REPO' && cargo build --workspace --bins --locked" || fail "cargo build"
# The drill's syncoid (Debian's 2.1.0 and 2.2.x .debs, unpacked under tests/vm/cache/syncoid):
# fetched once here, on the host (the VMs have no network). A failed fetch is loud but not fatal:
# the drill then says "syncoid NOT RUN" and goes on with the plain puller.
# The drill is not in CI yet (issue 18 is open: it has not passed end to end on every flavor,
# and its wall time is not yet inside the CI budget). VM_DRILL=1 runs it; without it every CI
# run says so on stderr and in the table.
DRILL=${VM_DRILL:-0}
[ "$DRILL" = 1 ] || echo "!!!! VM tier: three-site drill NOT RUN (issue 18 open; VM_DRILL=1 runs it)" >&2
if [ "$DRILL" = 1 ]; then
    timed "drill: fetch syncoid (apt, host)" "$HERE/drill/fetch-syncoid.sh" >/dev/null ||
        echo "!!!! VM tier: tests/vm/drill/fetch-syncoid.sh FAILED: the drill runs without syncoid (plain puller only)" >&2
fi

rc=0
for f in "${FLAVORS[@]}"; do
    timed "image $f (wait for build, or cache)" "$HERE/build-image.sh" "$f" >/dev/null || {
        cat "$IMGLOG" >&2
        fail "image build $f"
    }
    timed "boot smoke $f (zfs version)" "$HERE/run.sh" "$f" --out "$HERE/cache/smoke-$f" -- zfs version || fail "VM boot $f"
    timed "conformance $f" "$HERE/conformance.sh" "$f" || rc=1
    timed "main run e2e $f (real binary, real pools)" "$HERE/run.sh" "$f" --pool rpool --out "$HERE/cache/e2e-$f" \
        -- /work/tests/vm/e2e-main.sh || rc=1
    if [ "$DRILL" != 1 ]; then
        row "three-site drill $f" 0 "NOT RUN (issue 18 open; VM_DRILL=1)"
    else
        timed "three-site drill $f" "$HERE/run.sh" "$f" --pool rpool --out "$HERE/cache/drill-$f" --timeout 1800 \
            -- /work/tests/vm/drill.sh || rc=1
    fi
done
wait "$BG" 2>/dev/null
BG=""
echo "==== image builds (background, in order; $IMGLOG)"
sed 's/^/  /' "$IMGLOG"
table
[ "$rc" = 0 ] || { echo "VM TIER FAILED: see the reports above" >&2; exit 1; }
echo "VM tier OK"
