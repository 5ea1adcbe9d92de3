# shellcheck shell=bash
# Helpers sourced by every conformance case (tests/vm/conformance/cases/*.sh).
#
# A case sets up state with the plain `zfs`/`zpool` CLI (whatever is first on PATH: the real
# tools in the VM, the zfs-emu stand-ins on the host), runs channel programs with `prog`, and
# may print extra lines. Everything printed becomes the case's result; run-cases.sh appends
# the pool state. Output must be identical on kernel and emulator, so helpers normalize only
# what differs by nature (see normalize_stderr), never exit codes, messages or JSON shapes.
#
# Environment: POOL (pool name), CONF_LUA (dir of shared .lua files), CONF_TMP (scratch dir).

: "${POOL:=tank}"

# prog [zfs-program options...] [-- script args...] <<'EOF' ... Lua ... EOF
# Runs `zfs program -j <options> -- $POOL <script> <args>` with the Lua text from stdin
# (written to a file: stdin scripts `-` are not in every release) and prints exit code,
# canonical JSON stdout and normalized stderr.
PROG_N=0
prog() {
    local opts=() args=()
    while [ $# -gt 0 ]; do
        if [ "$1" = -- ]; then shift; args=("$@"); break; fi
        opts+=("$1"); shift
    done
    PROG_N=$((PROG_N + 1))
    local script=$CONF_TMP/prog$PROG_N.lua
    cat >"$script"
    prog_file "$script" "${opts[@]}" -- "${args[@]}"
}

# prog_file <script.lua> [options...] [-- args...]: like prog, with the script in a file.
prog_file() {
    local script=$1
    shift
    local opts=() args=()
    while [ $# -gt 0 ]; do
        if [ "$1" = -- ]; then shift; args=("$@"); break; fi
        opts+=("$1"); shift
    done
    local out=$CONF_TMP/out err=$CONF_TMP/err rc=0
    zfs program -j "${opts[@]}" -- "$POOL" "$script" "${args[@]}" >"$out" 2>"$err" || rc=$?
    echo "== program: zfs program -j ${opts[*]} -- POOL $(basename "$script") ${args[*]}"
    echo "exit=$rc"
    echo "stdout=$(canon_json <"$out")"
    echo "stderr:"
    normalize_stderr <"$err" | sed 's/^/  | /'
}

# Raw zfs program call for cases that need the pool name in another position (missing pool).
prog_raw() { # prog_raw <args to zfs program...>   (script text on stdin, referenced as SCRIPT)
    PROG_N=$((PROG_N + 1))
    local script=$CONF_TMP/prog$PROG_N.lua a=() x
    cat >"$script"
    for x in "$@"; do if [ "$x" = SCRIPT ]; then a+=("$script"); else a+=("$x"); fi; done
    local out=$CONF_TMP/out err=$CONF_TMP/err rc=0
    zfs program "${a[@]}" >"$out" 2>"$err" || rc=$?
    echo "== program (raw): zfs program $*"
    echo "exit=$rc"
    echo "stdout=$(canon_json <"$out")"
    echo "stderr:"
    normalize_stderr <"$err" | sed 's/^/  | /'
}

# JSON with sorted keys, compact; non-JSON output is kept verbatim with a RAW: prefix.
canon_json() {
    python3 -c '
import json, sys
s = sys.stdin.buffer.read()
if not s:
    print("")
    sys.exit(0)
try:
    v = json.loads(s.decode("utf-8"))
    print(json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=True))
except Exception:
    print("RAW:" + repr(s))
'
}

# Normalization of `zfs program` stderr, by design only:
#  * the Lua "stack traceback:" block (tab-indented frames) is dropped: Lua 5.2 (kernel) and
#    5.4 (emulator) print different frames, and nothing parses them;
#  * (the "<N> Lua instructions" count after a timeout is kept: the hook adds 100 per 100
#    instructions on both sides, so an over-limit loop reports the same N, e.g. 1100 for -t 1000)
#  * the usage text after a usage error (exit 2) is reduced to its first line.
normalize_stderr() {
    awk '
        /^stack traceback:$/ { tb = 1; next }
        tb && /^\t/ { next }
        { tb = 0 }
        /^usage:$/ { print "usage: <elided>"; skip = 1; next }
        skip { next }
        { print }
    '
}

# Print a line; cases use it for notes that are part of the compared result.
say() { echo "note: $*"; }

# A realistic PVE-like pool: zvols and filesystems under tank/data, snapshots of the tool and
# foreign ones, holds, a clone, bookmarks, user properties. Used by the product cases.
realistic_pool() {
    zfs create -o mountpoint=none "$POOL/data"
    zfs create -V 64M "$POOL/data/vm-100-disk-0"
    zfs create -V 64M "$POOL/data/vm-100-disk-1"
    zfs create -V 64M "$POOL/data/vm-101-disk-0"
    zfs create "$POOL/data/subvol-102-disk-0"
    zfs snapshot "$POOL/data/vm-100-disk-0@foreign-replicate" "$POOL/data/vm-100-disk-1@foreign-replicate"
    zfs snapshot "$POOL/data/vm-101-disk-0@manual-before-upgrade"
    zfs snapshot "$POOL/data/subvol-102-disk-0@vzdump"
    zfs hold keep "$POOL/data/vm-101-disk-0@manual-before-upgrade"
    zfs clone "$POOL/data/vm-100-disk-0@foreign-replicate" "$POOL/data/vm-103-disk-0"
    zfs bookmark "$POOL/data/vm-100-disk-1@foreign-replicate" "$POOL/data/vm-100-disk-1#foreign-replicate"
    zfs set com.example:note=keep "$POOL/data/vm-101-disk-0"
}
