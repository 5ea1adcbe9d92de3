# destroy: ok, a missing snapshot (and a missing fs) is 0.
zfs create "$POOL/fs"
zfs snapshot "$POOL/fs@a"
prog <<'EOF'
return { ok = zfs.sync.destroy("tank/fs@a"), missing = zfs.sync.destroy("tank/fs@nope"),
  missing_fs = zfs.sync.destroy("tank/nofs@nope") }
EOF
