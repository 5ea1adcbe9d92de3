# The shipped two-phase apply on a realistic pool. Phase 1 (lua/apply.lua): labels, snapshots
# of several guests' disks and bookmarks of the new snapshots in one txg, and a group whose
# snapshot check fails (the name exists → the whole group is dropped, its label too).
# Phase 2 (lua/destroy.lua): destroys of plain, held (→ kept:held), cloned (→ kept:cloned) and
# missing (→ ok) snapshots.
realistic_pool
d=$POOL/data
new=autosnap_2026-01-07_00:00:00_daily
prog_file "$REPO/lua/apply.lua" -- \
    G 100 \
    P "$d/vm-100-disk-0" label:running pve9 \
    P "$d/vm-100-disk-1" label:running pve9 \
    S "$d/vm-100-disk-0@$new" \
    S "$d/vm-100-disk-1@$new" \
    B "$d/vm-100-disk-0@$new" "$d/vm-100-disk-0#$new" \
    B "$d/vm-100-disk-1@$new" "$d/vm-100-disk-1#$new" \
    G 102 \
    P "$d/subvol-102-disk-0" label:running pve9 \
    S "$d/subvol-102-disk-0@$new" \
    G 104 \
    P "$d/guests/vm-104-disk-0" label:running pve9 \
    S "$d/guests/vm-104-disk-0@$new" \
    S "$d/guests/vm-104-disk-0@autosnap_2026-01-06_00:00:00_daily" >"$CONF_TMP/apply.out"
canon_product <"$CONF_TMP/apply.out"
t=$(sed -n 's/^stdout=//p' "$CONF_TMP/apply.out" | python3 -c 'import json, sys; print(json.load(sys.stdin)["return"]["t"])')
# The new snapshots and bookmarks: all in the program's one txg, the `t` apply returned
# (bookmarks: see their txgrank in the state dump); the dropped group's snapshot is absent.
# (t goes into the script text: a raw txg must not appear in the printed command line)
sed "s/@T@/$t/" <<'EOF2' | prog -n
local t = @T@
local d = "tank/data/"
local new = "@autosnap_2026-01-07_00:00:00_daily"
local r = {}
for _, ds in ipairs({ "vm-100-disk-0", "vm-100-disk-1", "subvol-102-disk-0" }) do
    r[ds] = zfs.get_prop(d .. ds .. new, "createtxg") == t
end
r.dropped_absent = not zfs.exists(d .. "guests/vm-104-disk-0" .. new)
return r
EOF2
# Phase 2: the destroys, one program (snapshots_changed watching: case 203).
prog_file "$REPO/lua/destroy.lua" -- @ \
    "$d/vm-100-disk-0@" autosnap_2026-01-06_12:00:00_hourly autosnap_2026-01-05_00:00:00_weekly \
    autosnap_2026-01-04_00:00:00_daily \
    "$d/vm-100-disk-1@" autosnap_2026-01-05_00:00:00_weekly autosnap_2026-01-02_00:00:00_daily \
    "$d/subvol-102-disk-0@" autosnap_2026-01-06_00:00:00_stopped | canon_product
# Inventory after apply: what the next run would see.
prog_file "$REPO/lua/inventory.lua" -n -- "$d/vm-100-disk-0" "$d/vm-100-disk-1" \
    "$d/subvol-102-disk-0" "$d/guests/vm-104-disk-0" | canon_product
