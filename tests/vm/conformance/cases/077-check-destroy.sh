# zfs.check.destroy: codes without destroying.
zfs create "$POOL/fs"
zfs snapshot "$POOL/fs@a"
zfs snapshot "$POOL/fs@b"
zfs hold keep "$POOL/fs@b"
prog <<'EOF'
return { ok = zfs.check.destroy("tank/fs@a"), held = zfs.check.destroy("tank/fs@b"),
  still = zfs.exists("tank/fs@a") }
EOF
