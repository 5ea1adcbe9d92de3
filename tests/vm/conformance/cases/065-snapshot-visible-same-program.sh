# A new snapshot is visible at once to exists, get_prop, set_prop, bookmark and destroy.
zfs create "$POOL/fs"
prog <<'EOF'
local r = {}
r.snap = zfs.sync.snapshot("tank/fs@n")
r.exists = zfs.exists("tank/fs@n")
r.refs = zfs.get_prop("tank/fs@n", "userrefs")
r.setp = zfs.sync.set_prop("tank/fs@n", "com.example:k", "v")
r.bm = zfs.sync.bookmark("tank/fs@n", "tank/fs#n")
r.destroy = zfs.sync.destroy("tank/fs@n")
r.exists_after = zfs.exists("tank/fs@n")
return r
EOF
