# The shipped programs' newer forms: inventory.lua's walk budget "-w<N>" (any version) and
# "<dataset>=<changed>" (report snapshots_changed, skip the walk when it equals the value
# given, never for a clone; OpenZFS >= 2.2, 2.1 raises "not a valid property"), and
# apply.lua's "C <dataset>" items (snapshots_changed before and after the program).
# Raw times never reach the output: the values go from one program to the next through shell
# variables and only comparisons are printed.
realistic_pool
d=$POOL/data
a=$d/vm-100-disk-0 b=$d/subvol-102-disk-0 c=$d/vm-103-disk-0
# Budget: after the first dataset's walk (8 snapshots) a budget of 1 is spent: the others are
# answered x=2 (ask again); a missing dataset still answers x=0.
prog_file "$REPO/lua/inventory.lua" -n -- -w1 "$a" "$d/missing" "$b" | canon_product
prog_file "$REPO/lua/inventory.lua" -n -- -wnope "$a" | canon_product

# run <program> <args...>: the return value as JSON (exit code on failure, stderr normalized).
run() {
    local f=$1 rc=0
    shift
    zfs program -j -n -- "$POOL" "$REPO/lua/$f" "$@" >"$CONF_TMP/o" 2>"$CONF_TMP/e" || rc=$?
    if [ "$rc" != 0 ]; then
        echo "exit=$rc"
        normalize_stderr <"$CONF_TMP/e" | sed 's/^/  | /'
        return 1
    fi
}
field() { # field <argv index> <key>: from the last run's return ("" when absent)
    python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))["return"][sys.argv[2]]
v = r.get(sys.argv[3])
print("" if v is None else v)' "$CONF_TMP/o" "$1" "$2"
}
echo "== inventory with =0 (report the value, always walk)"
if run inventory.lua "$a=0" "$b=0" "$c=0"; then
    ca=$(field 1 c) cb=$(field 2 c) cc=$(field 3 c)
    echo "values are integers: $([[ $ca =~ ^[0-9]+$ && $cb =~ ^[0-9]+$ && $cc =~ ^[0-9]+$ ]] && echo yes || echo no)"
    echo "a walked: $([ -n "$(field 1 s)" ] && [ -z "$(field 1 u)" ] && echo yes || echo no)"
    echo "clone flagged: a=$(field 1 o) b=$(field 2 o) c=$(field 3 o)"
    echo "== inventory with the values just read"
    run inventory.lua "$a=$ca" "$b=$cb" "$c=$cc"
    echo "a skipped: $(field 1 u), has s: $([ -n "$(field 1 s)" ] && echo yes || echo no), guid given: $([ -n "$(field 1 g)" ] && echo yes || echo no)"
    echo "b skipped: $(field 2 u)"
    echo "clone skipped: $(field 3 u), walked: $([ -n "$(field 3 f)" ] && echo yes || echo no)"
    echo "== inventory with another value"
    run inventory.lua "$a=$((ca - 1))"
    echo "a skipped: $(field 1 u), walked: $([ -n "$(field 1 s)" ] && echo yes || echo no)"
    echo "== apply with C items (sync)"
    sleep 1
    new=autosnap_2026-01-07_00:00:00_daily rc=0
    # a: a snapshot is made; b: only a label is set (no change to its snapshot list); the
    # clone c has no item (no check shows it exists: not read), nor has the missing one.
    zfs program -j -- "$POOL" "$REPO/lua/apply.lua" C "$a" C "$b" C "$c" C "$d/missing" \
        G 100 S "$a@$new" G 102 P "$b" label:running pve9 >"$CONF_TMP/o" 2>"$CONF_TMP/e" || rc=$?
    echo "exit=$rc"
    python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))["return"]
ca, cb = int(sys.argv[2]), int(sys.argv[3])
parts = r["c"].split(" ")
print("results:", r["r"], "| entries:", len(parts), "| clone:", parts[2], "| missing:", parts[3])
ba, aa = map(int, parts[0].split(":"))
bb, ab = map(int, parts[1].split(":"))
print("a before = inventory value:", ba == ca, "| a after > before:", aa > ba)
print("b before = after = inventory value:", bb == ab == cb)' "$CONF_TMP/o" "$ca" "$cb"
    echo "== inventory after the apply, with the old value of a"
    run inventory.lua "$a=$ca" "$b=$cb"
    echo "a skipped: $(field 1 u) (changed by the apply), b skipped: $(field 2 u)"
fi
