# bookmark: ok, EEXIST, ENOENT (missing source), from a bookmark, from a new snapshot.
zfs create "$POOL/fs"
zfs snapshot "$POOL/fs@a"
zfs bookmark "$POOL/fs@a" "$POOL/fs#old"
prog <<'EOF'
local r = {}
r.ok = zfs.sync.bookmark("tank/fs@a", "tank/fs#a")
r.eexist = zfs.sync.bookmark("tank/fs@a", "tank/fs#old")
r.enoent = zfs.sync.bookmark("tank/fs@nope", "tank/fs#x")
r.copy = zfs.sync.bookmark("tank/fs#old", "tank/fs#copy")
r.snap = zfs.sync.snapshot("tank/fs@new")
r.fromnew = zfs.sync.bookmark("tank/fs@new", "tank/fs#new")
return r
EOF
