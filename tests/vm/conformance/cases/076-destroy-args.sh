# Argument errors are fatal: defer on a filesystem, wrong type, unknown keyword.
zfs create -o mountpoint=none "$POOL/fs"
zfs snapshot "$POOL/fs@a"
prog <<'EOF'
return zfs.sync.destroy{"tank/fs", defer = true}
EOF
prog <<'EOF'
return zfs.sync.destroy(42)
EOF
prog <<'EOF'
return zfs.sync.destroy{"tank/fs@a", bogus = true}
EOF
prog <<'EOF'
return zfs.sync.destroy()
EOF
