# list.children yields direct children (sorted here; the order itself is arbitrary).
zfs create "$POOL/a"
zfs create "$POOL/a/x"
zfs create "$POOL/b"
zfs create -V 64M "$POOL/v"
prog <<'EOF'
local function collect(it) local r = {}; for x in it do r[#r + 1] = x end; table.sort(r); return r end
return { top = collect(zfs.list.children("tank")), a = collect(zfs.list.children("tank/a")),
  leaf = collect(zfs.list.children("tank/a/x")), vol = collect(zfs.list.children("tank/v")) }
EOF
