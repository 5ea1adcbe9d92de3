# Table call form with positional and keyword arguments.
zfs create "$POOL/fs"
zfs snapshot "$POOL/fs@a"
prog <<'EOF'
return { snap = zfs.sync.snapshot{"tank/fs@t"}, d = zfs.sync.destroy{"tank/fs@a", defer = false},
  gp = zfs.get_prop("tank/fs", "type") }
EOF
