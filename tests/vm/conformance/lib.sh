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

# A realistic PVE-like pool for the product cases: under tank/data (mountpoint=none) zvols and
# a filesystem; label:running set on some (one inherited from tank/data/guests), label:nosnap on
# one; our autosnap_* snapshots of several classes (one held, one cloned), foreign snapshots
# (replication, vzdump-like, near-misses of our prefix), our and foreign bookmarks, a user
# property. Each `zfs snapshot` is its own txg (one call may not snapshot one fs twice).
realistic_pool() {
    local d=$POOL/data s
    zfs create -o mountpoint=none "$d"
    zfs create "$d/guests"
    zfs create -V 64M "$d/vm-100-disk-0"
    zfs create -V 64M "$d/vm-100-disk-1"
    zfs create -V 64M "$d/vm-101-disk-0"
    zfs create "$d/subvol-102-disk-0"
    zfs create -V 64M "$d/guests/vm-104-disk-0"
    zfs set label:running=pve1 "$d/vm-100-disk-0"
    zfs set label:running=pve1 "$d/vm-100-disk-1"
    zfs set label:running=stopped "$d/subvol-102-disk-0"
    zfs set label:running=pve2 "$d/guests"
    zfs set label:nosnap=nosnap "$d/vm-101-disk-0"
    zfs set com.example:note=keep "$d/vm-101-disk-0"
    # ours, oldest first; both disks of guest 100 in the same txgs
    for s in autosnap_2026-01-01_00:00:00_monthly autosnap_2026-01-05_00:00:00_weekly \
        autosnap_2026-01-06_00:00:00_daily autosnap_2026-01-06_12:00:00_hourly; do
        zfs snapshot "$d/vm-100-disk-0@$s" "$d/vm-100-disk-1@$s"
    done
    zfs snapshot "$d/vm-101-disk-0@autosnap_2026-01-06_00:00:00_daily"
    zfs snapshot "$d/subvol-102-disk-0@autosnap_2026-01-06_00:00:00_stopped"
    zfs snapshot "$d/guests/vm-104-disk-0@autosnap_2026-01-06_00:00:00_daily"
    # foreign ones (and names that only look like ours)
    zfs snapshot "$d/vm-100-disk-0@__replicate_100-0_1718000000__" "$d/vm-100-disk-1@__replicate_100-0_1718000000__"
    zfs snapshot "$d/vm-100-disk-0@__base__"
    zfs snapshot "$d/vm-101-disk-0@rep_default_2026-01-06_00:00:00"
    zfs snapshot "$d/vm-101-disk-0@autosnapshot-manual"
    zfs snapshot "$d/subvol-102-disk-0@vzdump"
    # a held one and a cloned one of ours
    zfs hold keep "$d/vm-100-disk-0@autosnap_2026-01-05_00:00:00_weekly"
    zfs clone "$d/vm-100-disk-1@autosnap_2026-01-05_00:00:00_weekly" "$d/vm-103-disk-0"
    # our bookmarks and a foreign one
    zfs bookmark "$d/vm-100-disk-0@autosnap_2026-01-01_00:00:00_monthly" "$d/vm-100-disk-0#autosnap_2026-01-01_00:00:00_monthly"
    zfs bookmark "$d/vm-100-disk-0@autosnap_2026-01-06_00:00:00_daily" "$d/vm-100-disk-0#autosnap_2026-01-06_00:00:00_daily"
    zfs bookmark "$d/vm-100-disk-0@__base__" "$d/vm-100-disk-0#__base__"
}

# Canonical form of a product program's result (prog/prog_file output on stdin): inside the
# `stdout=` JSON, the "\n"-joined `s` (snapshot) and `b` (bookmark) line lists are sorted
# (zfs.list.* order is arbitrary) and in `s` lines "<short> <createtxg> <creation> <userrefs>
# <numclones>" the createtxg becomes its dense rank among all createtxgs printed (`t`, the
# createtxg apply returns, joins that ranking) and the creation time becomes "C" when it is
# a plausible epoch; the case also checks that creation never decreases as createtxg grows.
canon_product() {
    python3 -c '
import json, sys
for line in sys.stdin.read().splitlines():
    if not line.startswith("stdout=") or line == "stdout=":
        print(line)
        continue
    v = json.loads(line[len("stdout="):])
    ret = v.get("return")
    txgs, rows = set(), []
    entries = ret.values() if isinstance(ret, dict) else []
    for e in entries:
        if isinstance(e, dict):
            for l in filter(None, e.get("s", "").split("\n")):
                f = l.split(" ")
                if len(f) < 3:
                    continue  # inventory.lua: names only
                rows.append((int(f[1]), int(f[2])))
                txgs.add(int(f[1]))
    if isinstance(ret, dict) and isinstance(ret.get("t"), int):
        txgs.add(ret["t"])
    rank = {t: i + 1 for i, t in enumerate(sorted(txgs))}
    rows.sort()
    mono = all(rows[i][1] <= rows[i + 1][1] for i in range(len(rows) - 1))
    for e in entries:
        if not isinstance(e, dict):
            continue
        if "s" in e:
            out = []
            for l in filter(None, e["s"].split("\n")):
                f = l.split(" ")
                if len(f) >= 3:
                    f[1] = "txg" + str(rank[int(f[1])])
                    f[2] = "C" if int(f[2]) > 1500000000 else "BAD-CREATION:" + f[2]
                out.append(" ".join(f))
            e["s"] = "\n".join(sorted(out))
        if "b" in e:
            e["b"] = "\n".join(sorted(filter(None, e["b"].split("\n"))))
        if isinstance(e.get("g"), int):
            e["g"] = "GUID"  # random per pool
    if isinstance(ret, dict) and isinstance(ret.get("t"), int):
        ret["t"] = "txg" + str(rank[ret["t"]])
    print("stdout=" + json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=True))
    if rows:
        print("note: creation never decreases with createtxg: " + str(mono).lower())
'
}

# ---- zfs send | zfs recv (cases 300-306)
# sr "<send args>" "<recv args>": zfs send | zfs recv (word-split args), printing both exit
# codes and stderrs (no sizes, no stream bytes; a resume token shows as TOKEN).
sr() {
    set +e
    # shellcheck disable=SC2086
    zfs send $1 2>"$CONF_TMP/se" | zfs recv $2 >/dev/null 2>"$CONF_TMP/re"
    local st=("${PIPESTATUS[@]}")
    # A sender killed by SIGPIPE (141) because the receiver failed and stopped reading: whether
    # the stream still fitted the pipe buffer first is by nature, not by ZFS version.
    [ "${st[0]}" = 141 ] && [ "${st[1]}" != 0 ] && st[0]=0
    set -e
    echo "== send $1 | recv $2" | sed 's/-t [^ ]*/-t TOKEN/'
    echo "exit=${st[0]},${st[1]}"
    sed -e 's/^/  send| /' "$CONF_TMP/se"
    sed -e 's/zfs send -t .*/zfs send -t TOKEN/' -e 's/^/  recv| /' "$CONF_TMP/re"
}
# same <prop> <name1> <name2>: whether a property is equal on both (guid, creation).
same() {
    local a b
    a=$(zfs get -H -p -o value "$1" "$2")
    b=$(zfs get -H -p -o value "$1" "$3")
    if [ "$a" = "$b" ]; then say "$1 of $2 = $3: yes"; else say "$1 of $2 = $3: no"; fi
}
