# Destroying the snapshot just yielded, inside the list.snapshots loop, is supported.
zfs create "$POOL/fs"
zfs snapshot "$POOL/fs@a"
zfs snapshot "$POOL/fs@b"
zfs snapshot "$POOL/fs@c"
zfs hold keep "$POOL/fs@b"
prog <<'EOF'
local r = {}
for s in zfs.list.snapshots("tank/fs") do r[#r + 1] = s .. "=" .. zfs.sync.destroy(s) end
table.sort(r)
return r
EOF
