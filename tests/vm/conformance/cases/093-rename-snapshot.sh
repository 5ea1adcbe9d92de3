# rename_snapshot (2.2+): ok, missing old is 0, EEXIST.
zfs create "$POOL/fs"
zfs snapshot "$POOL/fs@a"
zfs snapshot "$POOL/fs@b"
prog <<'EOF'
if zfs.sync.rename_snapshot == nil then return "absent" end
return { ok = zfs.sync.rename_snapshot("tank/fs", "a", "c"), missing = zfs.sync.rename_snapshot("tank/fs", "zz", "yy"),
  eexist = zfs.sync.rename_snapshot("tank/fs", "b", "c") }
EOF
