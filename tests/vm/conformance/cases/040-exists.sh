# exists: fs, volume, snapshot true; missing and bookmark false.
zfs create "$POOL/fs"
zfs create -V 64M "$POOL/vol"
zfs snapshot "$POOL/fs@s1"
zfs bookmark "$POOL/fs@s1" "$POOL/fs#b1"
prog <<'EOF'
return { pool = zfs.exists("tank"), fs = zfs.exists("tank/fs"), vol = zfs.exists("tank/vol"),
  snap = zfs.exists("tank/fs@s1"), missing = zfs.exists("tank/nope"),
  missing_snap = zfs.exists("tank/fs@nope"), bookmark = zfs.exists("tank/fs#b1") }
EOF
