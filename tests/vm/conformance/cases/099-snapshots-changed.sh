# snapshots_changed (2.2+; zcp_get.c: dsl_dir_snap_cmtime(ds_dir).tv_sec): the second the
# snapshot list of a filesystem/volume last changed. Times are compared in Lua, never printed:
# a value read before an operation is written into the next program's text (not argv: prog
# prints argv), with `sleep 1` between so that a bump is a strictly greater value. 2.1 does not know the name (fatal error in get_prop).
zfs create "$POOL/fs"
zfs create -V 16M "$POOL/vol"

# scval <dataset>: the raw value (never printed), "nil" without one, "error" if get_prop fails.
scval() {
    local f=$CONF_TMP/scval.lua out
    echo "local v = zfs.get_prop('$1', 'snapshots_changed') return v" >"$f"
    out=$(zfs program -j "$POOL" "$f" 2>/dev/null) || { echo error; return 0; }
    python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get("return"); print(v if isinstance(v,int) else "nil")' "$out"
}

# Fresh datasets (and the pool's root): the value, its type and source.
prog <<'EOF'
local function cls(v)
  if v == nil then return "nil" elseif type(v) ~= "number" then return type(v)
  elseif v == 0 then return "zero" elseif v > 1500000000 then return "epoch" else return "small" end
end
local v, src = zfs.get_prop("tank/fs", "snapshots_changed")
return { fs = cls(v), fs_type = type(v), fs_src = src or "nil",
  vol = cls(zfs.get_prop("tank/vol", "snapshots_changed")), root = cls(zfs.get_prop("tank", "snapshots_changed")) }
EOF
if [ "$(scval "$POOL/fs")" = error ]; then
    say "snapshots_changed is not a property on this release"
    exit 0
fi

# A CLI snapshot (one txg, two datasets): c is the snapshot's creation or creation+1; the
# parent is not touched; on a snapshot name get_prop returns nothing.
zfs snapshot "$POOL/fs@a" "$POOL/vol@a"
prog <<'EOF'
local c = zfs.get_prop("tank/fs", "snapshots_changed")
local cr = zfs.get_prop("tank/fs@a", "creation")
local cv = zfs.get_prop("tank/vol", "snapshots_changed")
local crv = zfs.get_prop("tank/vol@a", "creation")
return { fs_in_range = c >= cr and c <= cr + 1, vol_in_range = cv >= crv and cv <= crv + 1,
  root_zero = zfs.get_prop("tank", "snapshots_changed") == 0,
  on_snapshot_nvals = select('#', zfs.get_prop("tank/fs@a", "snapshots_changed")) }
EOF

# zfs.sync.snapshot in a program: is the new value visible at once (same program)?
A=$(scval "$POOL/fs")
sleep 1
prog <<EOF
local function cmp(a, b) if a > b then return "bumped" elseif a == b then return "same" else return "older" end end
local before = $A
local c0 = zfs.get_prop("tank/fs", "snapshots_changed")
local e = zfs.sync.snapshot("tank/fs@b")
local c1 = zfs.get_prop("tank/fs", "snapshots_changed")
local cr = zfs.get_prop("tank/fs@b", "creation")
return { snapshot = e, start_vs_before = cmp(c0, before), after_snapshot = cmp(c1, c0),
  in_range = c1 >= cr and c1 <= cr + 1 }
EOF

# zfs.sync.destroy of a snapshot bumps at once; a snapshot right after in the same program
# lands in the same or the next second (same second: the value does not move).
A=$(scval "$POOL/fs")
sleep 1
prog <<EOF
local function cmp(a, b) if a > b then return "bumped" elseif a == b then return "same" else return "older" end end
local before = $A
local e = zfs.sync.destroy("tank/fs@a")
local c1 = zfs.get_prop("tank/fs", "snapshots_changed")
local e2 = zfs.sync.snapshot("tank/fs@c")
local c2 = zfs.get_prop("tank/fs", "snapshots_changed")
return { destroy = e, after_destroy = cmp(c1, before), snapshot = e2, snapshot_within_1s = c2 >= c1 and c2 <= c1 + 1 }
EOF

# Not a change of the snapshot list: bookmarks (CLI and ZCP), set_prop, a hold, a clone,
# rollback of a volume, then a deferred destroy of a held and cloned snapshot.
A=$(scval "$POOL/fs")
V=$(scval "$POOL/vol")
sleep 1
zfs bookmark "$POOL/fs@b" "$POOL/fs#bm1"
zfs hold keep "$POOL/fs@b"
zfs clone "$POOL/fs@b" "$POOL/cl"
prog <<'EOF'
return { bookmark = zfs.sync.bookmark("tank/fs@c", "tank/fs#bm2"),
  set_prop = zfs.sync.set_prop("tank/fs", "conf:x", "1"), rollback = zfs.sync.rollback("tank/vol") }
EOF
prog <<EOF
local function cmp(a, b) if a > b then return "bumped" elseif a == b then return "same" else return "older" end end
local fs1 = zfs.get_prop("tank/fs", "snapshots_changed")
local d = zfs.sync.destroy({"tank/fs@b", defer = true})
local fs2 = zfs.get_prop("tank/fs", "snapshots_changed")
return { fs = cmp(fs1, $A), vol = cmp(zfs.get_prop("tank/vol", "snapshots_changed"), $V),
  clone = zfs.get_prop("tank/cl", "snapshots_changed") == 0, defer = d, after_defer = cmp(fs2, fs1),
  still_there = zfs.exists("tank/fs@b") }
EOF

# CLI bookmark destroy and a release that leaves a clone: no change. Destroying the clone
# (the deferred snapshot finally goes) and a CLI snapshot destroy: bumped.
A=$(scval "$POOL/fs")
V=$(scval "$POOL/vol")
sleep 1
zfs destroy "$POOL/fs#bm1"
zfs release keep "$POOL/fs@b"
prog <<EOF
local function cmp(a, b) if a > b then return "bumped" elseif a == b then return "same" else return "older" end end
return { fs = cmp(zfs.get_prop("tank/fs", "snapshots_changed"), $A), still_there = zfs.exists("tank/fs@b") }
EOF
zfs destroy "$POOL/cl"
zfs destroy "$POOL/vol@a"
prog <<EOF
local function cmp(a, b) if a > b then return "bumped" elseif a == b then return "same" else return "older" end end
return { fs = cmp(zfs.get_prop("tank/fs", "snapshots_changed"), $A), gone = not zfs.exists("tank/fs@b"),
  vol = cmp(zfs.get_prop("tank/vol", "snapshots_changed"), $V) }
EOF

# rename_snapshot (2.2+) bumps; promote bumps the origin's head, not the promoted clone
# (its snapshots arrive by zap_add without dsl_dir_snap_cmtime_update).
A=$(scval "$POOL/fs")
sleep 1
prog <<EOF
local function cmp(a, b) if a > b then return "bumped" elseif a == b then return "same" else return "older" end end
local e = zfs.sync.rename_snapshot("tank/fs", "c", "d")
return { rename = e, fs = cmp(zfs.get_prop("tank/fs", "snapshots_changed"), $A) }
EOF
zfs clone "$POOL/fs@d" "$POOL/cl2"
A=$(scval "$POOL/fs")
sleep 1
prog <<EOF
local function cmp(a, b) if a > b then return "bumped" elseif a == b then return "same" else return "older" end end
local e = zfs.sync.promote("tank/cl2")
return { promote = e, origin_head = cmp(zfs.get_prop("tank/fs", "snapshots_changed"), $A),
  promoted_zero = zfs.get_prop("tank/cl2", "snapshots_changed") == 0,
  moved = zfs.exists("tank/cl2@d") }
EOF
