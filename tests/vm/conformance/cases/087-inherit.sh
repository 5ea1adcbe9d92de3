# inherit clears a local user property (the inherited value shows through).
zfs create "$POOL/fs"
zfs create "$POOL/fs/kid"
zfs set com.example:x=parent "$POOL/fs"
zfs set com.example:x=kid "$POOL/fs/kid"
zfs set com.example:only=kid "$POOL/fs/kid"
prog <<'EOF'
local r = {}
r.e1 = zfs.sync.inherit("tank/fs/kid", "com.example:x")
r.e2 = zfs.sync.inherit("tank/fs/kid", "com.example:only")
r.x = { zfs.get_prop("tank/fs/kid", "com.example:x") }
r.only = select('#', zfs.get_prop("tank/fs/kid", "com.example:only"))
return r
EOF
