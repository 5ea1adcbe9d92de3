#!/usr/bin/env bash
# One VM boot per flavor for everything but the drill (tests/vm/ci.sh's "suite" job): the
# conformance cases' kernel side, the main run's end-to-end scenarios, a full pool and, given a
# .deb, the package's install check. Each boot costs ~20-30 CPU-seconds under TCG, so one boot replaces
# three (the old lanes: smoke, conformance, e2e-main).
#
#   tests/vm/run.sh <flavor> --pool tank --out DIR -- /work/tests/vm/suite.sh [path/to/pkg.deb]
#
# Parts, in this order, each with its output under /out (= DIR):
#   1. conformance/run-cases.sh /out/conformance (pool `tank` from run.sh, re-created per case,
#      destroyed at the end); the host compares it with the emulator afterwards
#      (conformance.sh <flavor> --kernel-results DIR/conformance);
#   2. a fresh `rpool` on the same disk, then e2e-main.sh (its output in /out/e2e-main.log);
#   3. enospc.sh: a small file-backed pool filled up (its output in /out/enospc.log);
#   4. packaging/install-check.sh <deb> (dpkg -i, --version, man, completion, remove, purge) —
#      last, since it installs into the VM's (throw-away) root file system.
# Exit 0 only when every part passed; a summary line per part at the end.
set -uo pipefail
cd /work || exit 99
DEB=${1:-}
now() { cut -d' ' -f1 /proc/uptime; }
declare -a SUMMARY=()
RC=0
part() { # part <name> <log> <cmd...>: run, keep its output in /out/<log>, print it, record
    local name=$1 log=/out/$2 t0 t1 r
    shift 2
    echo "==== suite: $name"
    t0=$(now)
    "$@" >"$log" 2>&1
    r=$?
    t1=$(now)
    cat "$log"
    SUMMARY+=("$(printf '%-34s %6.0fs  %s' "$name" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
        "$([ "$r" = 0 ] && echo ok || echo "FAILED (exit $r)")")")
    [ "$r" = 0 ] || RC=1
    return "$r"
}

mkdir -p /out/conformance
# run-cases.sh exits non-zero only when a pool reset failed; differences are the host's to judge.
part "conformance cases (kernel side)" conformance.log tests/vm/conformance/run-cases.sh /out/conformance .

# shellcheck disable=SC2317 # called through part
make_rpool() {
    local try
    zpool list -H -o name tank >/dev/null 2>&1 && zpool destroy -f tank
    for try in 1 2 3 4 5; do
        # shellcheck disable=SC2086 # VM_POOL_OPTS is a word list by design
        zpool create -f -o cachefile=none ${VM_POOL_OPTS:-} rpool "$VM_POOL_DISK" && return 0
        udevadm settle -t 10 2>/dev/null
        sleep "$try"
    done
    return 1
}
if part "rpool for e2e-main" rpool.log make_rpool; then
    VM_POOL=rpool part "main run e2e (e2e-main.sh)" e2e-main.log bash tests/vm/e2e-main.sh
else
    SUMMARY+=("$(printf '%-34s %6ss  %s' "main run e2e (e2e-main.sh)" 0 "NOT RUN (no rpool)")")
fi
# Its own pool on tmpfs: needs neither rpool nor tank.
part "full pool (enospc.sh)" enospc.log bash tests/vm/enospc.sh

if [ -n "$DEB" ]; then
    # The image's dpkg leaves out man pages and docs (build-image.sh, /etc/dpkg/dpkg.cfg.d/90vm,
    # to keep images small); an admin's system has them, and the check reads the man page: lift
    # the exclusions in this throw-away root first (the VM's root disk is a snapshot).
    rm -f /etc/dpkg/dpkg.cfg.d/90vm
    part "package install check ($(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release))" install-check.log \
        packaging/install-check.sh "$DEB"
else
    echo "suite: no .deb given: the package install check did not run" >&2
fi

echo "==== suite summary (guest uptime seconds)"
printf '  %s\n' "${SUMMARY[@]}"
exit "$RC"
