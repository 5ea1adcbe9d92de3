#!/usr/bin/env bash
# Compare two conformance result directories (run-cases.sh outputs) and print the report:
#   N cases, M identical, S skipped on both, K known gaps, U unexplained differences,
#   R not yet recorded on the kernel (the emulator runs the case, the kernel result is
#   missing or a SKIP recorded before the case could run)
#
#   compare.sh [--flavor 2.3] [--gaps known-gaps.txt] <emulator-dir> <kernel-dir>
#
# A case is identical when both result files are byte-identical (both SKIP counts as skipped).
# A differing case is a known gap only when known-gaps.txt lists it for this flavor (or `*`);
# everything else, including a case missing on one side, is unexplained. Exit 1 if U or R > 0.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
FLAVOR="*" GAPS=$HERE/known-gaps.txt
while [ $# -gt 2 ]; do
    case "$1" in
        --flavor) FLAVOR=$2; shift 2 ;;
        --gaps) GAPS=$2; shift 2 ;;
        *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ $# -eq 2 ] || { echo "usage: $0 [--flavor F] [--gaps FILE] <emulator-dir> <kernel-dir>" >&2; exit 2; }
if [ ! -d "$1" ] || [ ! -d "$2" ]; then echo "compare.sh: both directories must exist" >&2; exit 2; fi
A=$(cd "$1" && pwd) B=$(cd "$2" && pwd)

gap_reason() { # gap_reason <case> → prints reason if listed for this flavor
    [ -f "$GAPS" ] || return 1
    awk -v c="$1" -v f="$FLAVOR" '
        /^[[:space:]]*(#|$)/ { next }
        $1 == c && ($2 == "*" || $2 == f || f == "*") { $1 = ""; $2 = ""; sub(/^ +/, ""); print; found = 1; exit }
        END { exit !found }' "$GAPS"
}

n=0 same=0 skipped=0 known=0 unexpl=0 unrec=0
UNEXPL=() KNOWN=() STALE=() UNREC=()
for name in $({ (cd "$A" && ls -- *.out 2>/dev/null); (cd "$B" && ls -- *.out 2>/dev/null); } | sort -u); do
    c=${name%.out}
    n=$((n + 1))
    # A case the emulator runs but the kernel results do not have (or have as SKIP, recorded
    # before the case could run) is not a pass: it fails as "not yet recorded on the kernel".
    if [ -f "$A/$name" ] && ! grep -q '^SKIP:' "$A/$name" &&
        { [ ! -f "$B/$name" ] || grep -q '^SKIP:' "$B/$name"; }; then
        unrec=$((unrec + 1))
        UNREC+=("$c")
        echo "---- NOT YET RECORDED on the kernel: $c (kernel side: $([ -f "$B/$name" ] && head -n 1 "$B/$name" || echo "no result"))"
        continue
    fi
    if [ ! -f "$A/$name" ] || [ ! -f "$B/$name" ]; then
        unexpl=$((unexpl + 1))
        UNEXPL+=("$c (missing on one side: $([ -f "$A/$name" ] || echo "$A")$([ -f "$B/$name" ] || echo "$B"))")
        continue
    fi
    if cmp -s "$A/$name" "$B/$name"; then
        if grep -q '^SKIP:' "$A/$name"; then skipped=$((skipped + 1)); else same=$((same + 1)); fi
        if reason=$(gap_reason "$c"); then STALE+=("$c: $reason"); fi
        continue
    fi
    if reason=$(gap_reason "$c"); then
        known=$((known + 1))
        KNOWN+=("$c: $reason")
        echo "---- known gap $c ($reason)"
    else
        unexpl=$((unexpl + 1))
        UNEXPL+=("$c")
        echo "---- UNEXPLAINED difference in $c"
    fi
    diff -u --label "emulator/$name" --label "kernel/$name" "$A/$name" "$B/$name" | head -n 60
done

echo "==== conformance report (flavor $FLAVOR): emulator=$A kernel=$B"
for k in "${KNOWN[@]}"; do echo "  known gap: $k"; done
for s in "${STALE[@]}"; do echo "  stale known-gaps entry (now identical): $s"; done
for u in "${UNEXPL[@]}"; do echo "  UNEXPLAINED: $u"; done
for u in "${UNREC[@]}"; do echo "  NOT YET RECORDED on the kernel: $u"; done
echo "$n cases, $same identical, $skipped skipped on both, $known known gaps, $unexpl unexplained differences, $unrec not yet recorded on the kernel"
[ "$unexpl" = 0 ] && [ "$unrec" = 0 ]
