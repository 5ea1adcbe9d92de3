# list.clones of a snapshot.
zfs create "$POOL/fs"
zfs snapshot "$POOL/fs@a"
zfs clone "$POOL/fs@a" "$POOL/c1"
zfs clone "$POOL/fs@a" "$POOL/c2"
prog <<'EOF'
local r = {}
for c in zfs.list.clones("tank/fs@a") do r[#r + 1] = c end
table.sort(r)
return r
EOF
