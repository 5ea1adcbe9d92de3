# set_prop of user properties on a filesystem and on a snapshot; sources after.
zfs create "$POOL/fs"
zfs create "$POOL/fs/kid"
zfs snapshot "$POOL/fs@a"
prog <<'EOF'
local r = {}
r.fs = zfs.sync.set_prop("tank/fs", "com.example:x", "1")
r.snap = zfs.sync.set_prop("tank/fs@a", "com.example:y", "2")
r.fs_v = { zfs.get_prop("tank/fs", "com.example:x") }
r.kid_v = { zfs.get_prop("tank/fs/kid", "com.example:x") }
r.snap_v = { zfs.get_prop("tank/fs@a", "com.example:y") }
return r
EOF
