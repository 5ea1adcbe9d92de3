# -n (read-only): any zfs.sync call is fatal; check and reads work.
zfs create "$POOL/fs"
prog -n <<'EOF'
return zfs.sync.snapshot("tank/fs@x")
EOF
prog -n <<'EOF'
return { c = zfs.check.snapshot("tank/fs@x"), e = zfs.exists("tank/fs"), t = zfs.get_prop("tank/fs", "type") }
EOF
