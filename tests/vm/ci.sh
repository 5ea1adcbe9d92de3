#!/usr/bin/env bash
# CI tier "real OpenZFS": what .ci/run calls. Fails loudly when the VM cannot run; never skips.
#
#   tests/vm/ci.sh [flavors...]      default: VM_FLAVORS or "2.3 2.1"
#
# host setup → images (cached per week and recipe) → cargo build --bins → conformance and the
# main run's end-to-end scenarios (tests/vm/e2e-main.sh) per flavor; prints a timing table. The 2.1 flavor is dropped (with a loud notice, not silently)
# only when the time already spent makes the total exceed VM_CI_BUDGET seconds (default 3600).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck disable=SC2206
FLAVORS=(${@:-${VM_FLAVORS:-2.3 2.1}})
BUDGET=${VM_CI_BUDGET:-3600}
T_START=$(date +%s)
ROWS=()
row() { ROWS+=("$(printf '%-40s %6ss  %s' "$1" "$2" "$3")"); }
table() {
    echo "==== VM tier timings"
    printf '  %s\n' "${ROWS[@]}"
    printf '  %-40s %6ss\n' "total" $(($(date +%s) - T_START))
}
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
timed "cargo build --workspace --bins" bash -c "cd '$REPO' && cargo build --workspace --bins --locked" || fail "cargo build"

rc=0
for f in "${FLAVORS[@]}"; do
    spent=$(($(date +%s) - T_START))
    # A flavor costs ~5 min image build (cold) + ~5 min conformance; skip extra ones loudly
    # only when that would cross the budget. The first flavor always runs.
    # The image key as build-image.sh computes it: a cached image costs nothing, a cold build
    # (DKMS compiles the module) 10-20 minutes on 2 cores.
    key="img-$f-$(date -u +%G-W%V)-$(sha256sum "$HERE/build-image.sh" | cut -c1-12)"
    if [ -f "${VM_CACHE_DIR:-/var/cache/pve-zfs-snap-vm}/$key/manifest" ]; then need=600; else need=1800; fi
    if [ "$f" != "${FLAVORS[0]}" ] && [ $((spent + need)) -gt "$BUDGET" ]; then
        echo "!!!! VM tier: NOT running flavor $f: ${spent}s spent + ~${need}s needed > budget ${BUDGET}s" >&2
        row "flavor $f" 0 "NOT RUN (budget)"
        continue
    fi
    timed "image $f (build or cache)" "$HERE/build-image.sh" "$f" >/dev/null || fail "image build $f"
    timed "boot smoke $f (zfs version)" "$HERE/run.sh" "$f" --out "$HERE/cache/smoke-$f" -- zfs version || fail "VM boot $f"
    timed "conformance $f" "$HERE/conformance.sh" "$f" || rc=1
    timed "main run e2e $f (real binary, real pools)" "$HERE/run.sh" "$f" --pool rpool --out "$HERE/cache/e2e-$f" \
        -- /work/tests/vm/e2e-main.sh || rc=1
done
table
[ "$rc" = 0 ] || { echo "VM TIER FAILED: conformance differences (see reports above)" >&2; exit 1; }
echo "VM tier OK"
