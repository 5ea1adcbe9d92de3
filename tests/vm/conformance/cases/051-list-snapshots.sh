# list.snapshots, including one made earlier in the same program, minus one destroyed.
zfs create "$POOL/fs"
zfs snapshot "$POOL/fs@a"
zfs snapshot "$POOL/fs@b"
prog <<'EOF'
local function collect(it) local r = {}; for x in it do r[#r + 1] = x end; table.sort(r); return r end
local before = collect(zfs.list.snapshots("tank/fs"))
local e1 = zfs.sync.snapshot("tank/fs@c")
local e2 = zfs.sync.destroy("tank/fs@a")
return { before = before, after = collect(zfs.list.snapshots("tank/fs")), e1 = e1, e2 = e2 }
EOF
