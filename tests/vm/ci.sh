#!/usr/bin/env bash
# CI tier "real OpenZFS": what .ci/run calls. Fails loudly when the VM cannot run; never skips
# a flavor or a stage.
#
#   tests/vm/ci.sh [flavors...]      default: VM_FLAVORS or "2.4 2.3 2.1"
#   tests/vm/ci.sh --images-only     start the image builds and return (what .ci/run does first,
#                                    so the builds overlap the unit tests)
#
# Per flavor, a *lane*: image (cached per week and recipe), boot smoke, conformance, the main
# run's end-to-end scenarios (tests/vm/e2e-main.sh) and the three-site drill (tests/vm/drill.sh;
# in CI on 2.4 only for now, the others NOT RUN loudly: VM_DRILL_FLAVORS="2.4 2.3 2.1" runs all).
# A TCG VM keeps about one host core busy (measured: user+sys = 1.06 x wall for e2e-main), so on
# two cores two lanes run side by side (VM_LANES, default 2), each starting as soon as its image
# exists. Images build in the background from the start: trixie (2.4) and bookworm (2.3, then
# 2.1 on the same base) side by side. Every lane's output is kept in $CACHE/lane-<flavor>.log
# and printed whole, in flavor order, at the end, with one timing table for all lanes.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${VM_CACHE_DIR:-/var/cache/pve-zfs-snap-vm}
mkdir -p "$CACHE"
IMGLOG=$CACHE/ci-images.log

images_bg() { # images_bg <flavors...>: the builds in the background, one chain per Debian release
    # (trixie: 2.4; bookworm: 2.3 then 2.1, on the same base), in the order given
    local f chain
    for chain in "2.4" "2.3 2.1"; do
        (
            for f in $chain; do
                case " $* " in *" $f "*) ;; *) continue ;; esac
                t0=$(date +%s)
                if "$HERE/build-image.sh" "$f" >/dev/null 2>"$CACHE/ci-image-$f.err"; then r=ok; else r=FAILED; fi
                echo "ci-images: image $f $r after $(($(date +%s) - t0))s (started $(date -u -d "@$t0" +%T))"
            done
        ) >>"$IMGLOG" 2>&1 &
    done
}

if [ "${1:-}" = --images-only ]; then
    shift
    # shellcheck disable=SC2206 # a word list by design
    FL=(${VM_FLAVORS:-2.4 2.3 2.1})
    [ "$(id -u)" = 0 ] || { echo "ci.sh: needs root" >&2; exit 1; }
    "$HERE/setup-host.sh" >/dev/null || { echo "ci.sh: host setup failed" >&2; exit 1; }
    : >"$IMGLOG"
    # 2.4 alone on trixie; 2.3 before 2.1 on bookworm (the lock serializes one release's builds).
    images_bg "${FL[@]}"
    echo "ci.sh: image builds started in the background (${FL[*]}; log $IMGLOG)"
    exit 0
fi

# shellcheck disable=SC2206 # a word list by design
FLAVORS=(${@:-${VM_FLAVORS:-2.4 2.3 2.1}})
LANES=${VM_LANES:-2}
# The drill costs ~15-40 min a flavor under TCG (tests/vm/README.md): three do not fit the CI
# budget yet (issue 18 open). CI runs it on 2.4, what PVE 9 ships; the other flavors say NOT RUN
# loudly, on stderr and in the timing table.
DRILL_FLAVORS=${VM_DRILL_FLAVORS:-2.4}
T_START=$(date +%s)
fail() { echo "VM TIER FAILED: $*" >&2; exit 1; }

echo "==== VM tier: real OpenZFS in qemu (flavors: ${FLAVORS[*]}, $LANES lanes side by side)"
[ "$(id -u)" = 0 ] || fail "needs root (debootstrap, chroot, qemu image build)"
t0=$(date +%s)
"$HERE/setup-host.sh" || fail "host setup"
command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 unavailable"
ROWS=("$(printf '%-46s %6ss  %s' "host setup (apt)" $(($(date +%s) - t0)) ok)")

# Builds not yet started (or finished) by --images-only start now; a running or finished build
# of the same key is waited for or reused by build-image.sh itself.
images_bg "${FLAVORS[@]}"

t0=$(date +%s)
(cd "$REPO" && cargo build --workspace --bins --locked) || fail "cargo build"
ROWS+=("$(printf '%-46s %6ss  %s' "cargo build --workspace --bins" $(($(date +%s) - t0)) ok)")
# The drill's syncoid (Debian's 2.1.0 and 2.2.x .debs, unpacked under tests/vm/cache/syncoid):
# fetched once here, on the host (the VMs have no network). Without it the drill fails its
# syncoid checks (it says why): a missing peer is a failure here, not a skip.
t0=$(date +%s)
"$HERE/drill/fetch-syncoid.sh" >/dev/null || fail "tests/vm/drill/fetch-syncoid.sh (syncoid .debs for the drill)"
ROWS+=("$(printf '%-46s %6ss  %s' "drill: fetch syncoid (apt, host)" $(($(date +%s) - t0)) ok)")

lane() { # lane <flavor>: every stage of one flavor; rows to $CACHE/lane-<f>.rows; status 0/1
    local f=$1 rc=0 t0 r
    local rows=$CACHE/lane-$f.rows
    : >"$rows"
    timed() { # timed <label> <cmd...>
        t0=$(date +%s)
        "${@:2}"
        r=$?
        printf '%-46s %6ss  %s\n' "$1" $(($(date +%s) - t0)) "$([ $r = 0 ] && echo ok || echo "FAILED (exit $r)")" >>"$rows"
        return $r
    }
    timed "image $f (wait for the build, or cache)" "$HERE/build-image.sh" "$f" >/dev/null || {
        cat "$CACHE/ci-image-$f.err" 2>/dev/null
        return 1
    }
    timed "boot smoke $f (zfs version)" "$HERE/run.sh" "$f" --out "$HERE/cache/smoke-$f" -- zfs version || return 1
    timed "conformance $f" "$HERE/conformance.sh" "$f" || rc=1
    timed "main run e2e $f (real binary, real pools)" "$HERE/run.sh" "$f" --pool rpool --timeout 1800 \
        --out "$HERE/cache/e2e-$f" -- /work/tests/vm/e2e-main.sh || rc=1
    if [[ " $DRILL_FLAVORS " == *" $f "* ]]; then
        timed "three-site drill $f" "$HERE/run.sh" "$f" --pool rpool --out "$HERE/cache/drill-$f" \
            --timeout 3600 -- /work/tests/vm/drill.sh || rc=1
    else
        echo "!!!! VM tier: three-site drill on $f NOT RUN (CI budget, issue 18 open; VM_DRILL_FLAVORS=\"$DRILL_FLAVORS $f\" runs it)" >&2
        printf '%-46s %6ss  %s\n' "three-site drill $f" 0 "NOT RUN (CI budget, issue 18; VM_DRILL_FLAVORS)" >>"$rows"
    fi
    return $rc
}

declare -A PID=() RC=()
running() { local n=0 f; for f in "${!PID[@]}"; do kill -0 "${PID[$f]}" 2>/dev/null && n=$((n + 1)); done; echo $n; }
for f in "${FLAVORS[@]}"; do
    while [ "$(running)" -ge "$LANES" ]; do sleep 5; done
    echo "==== lane $f started at +$(($(date +%s) - T_START))s"
    lane "$f" >"$CACHE/lane-$f.log" 2>&1 &
    PID[$f]=$!
done
for f in "${FLAVORS[@]}"; do
    wait "${PID[$f]}"
    RC[$f]=$?
done
wait # the image builds

status=0
for f in "${FLAVORS[@]}"; do
    echo "==== lane $f: $([ "${RC[$f]}" = 0 ] && echo ok || echo FAILED) ($CACHE/lane-$f.log)"
    sed 's/^/  /' "$CACHE/lane-$f.log"
    [ "${RC[$f]}" = 0 ] || status=1
done
echo "==== image builds (background; $IMGLOG)"
sed 's/^/  /' "$IMGLOG"
echo "==== VM tier timings"
printf '  %s\n' "${ROWS[@]}"
for f in "${FLAVORS[@]}"; do sed 's/^/  /' "$CACHE/lane-$f.rows"; done
printf '  %-46s %6ss\n' "total (lanes side by side)" $(($(date +%s) - T_START))
[ "$status" = 0 ] || { echo "VM TIER FAILED: see the lanes above" >&2; exit 1; }
echo "VM tier OK"
