# All snapshots of one program share one createtxg (state shows one rank for them).
zfs create "$POOL/a"
zfs create "$POOL/b"
zfs create -V 64M "$POOL/v"
prog <<'EOF'
zfs.sync.snapshot("tank/a@s"); zfs.sync.snapshot("tank/b@s"); zfs.sync.snapshot("tank/v@s")
local t = zfs.get_prop("tank/a@s", "createtxg")
return { same = (t == zfs.get_prop("tank/b@s", "createtxg")) and (t == zfs.get_prop("tank/v@s", "createtxg")),
  after_fs = t > zfs.get_prop("tank/v", "createtxg") }
EOF
