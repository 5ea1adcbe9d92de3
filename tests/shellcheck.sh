#!/usr/bin/env bash
# Runs shellcheck over every shell script of the repository: every *.sh and every file whose first
# line is a sh/bash/dash shebang (.ci/run, test.sh, packaging/debian maintainer scripts,
# tests/vm/**), tracked or new (ignored files, e.g. target/ and tests/vm/cache/, are left out).
# Files without a shebang (the conformance cases, sourced by bash) are checked as bash.
#
#   tests/shellcheck.sh            exit 0 = clean, 1 = findings (printed), 2 = shellcheck missing
#
# Install: apt-get install shellcheck (Debian package; 0.9.0 on bookworm).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v shellcheck >/dev/null || { echo "shellcheck.sh: shellcheck missing (apt-get install shellcheck)" >&2; exit 2; }

with_shebang=() without=()
while IFS= read -r -d '' f; do
    [ -f "$f" ] || continue # deleted in the work tree
    first=$(head -n 1 "$f" | tr -d '\0')
    if [[ "$first" =~ ^\#!.*(/|[[:space:]])(sh|bash|dash)([[:space:]]|$) ]]; then
        with_shebang+=("$f")
    elif [[ "$f" == *.sh ]]; then
        without+=("$f")
    fi
done < <(git ls-files -z --cached --others --exclude-standard)

echo "shellcheck $(shellcheck --version | sed -n 's/^version: //p'): ${#with_shebang[@]} scripts," \
    "${#without[@]} sourced bash fragments"
rc=0
shellcheck -x -P SCRIPTDIR "${with_shebang[@]}" || rc=1
[ "${#without[@]}" = 0 ] || shellcheck -x -P SCRIPTDIR -s bash "${without[@]}" || rc=1
[ "$rc" = 0 ] && echo "shellcheck: clean"
exit "$rc"
