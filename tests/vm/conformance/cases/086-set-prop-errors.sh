# set_prop: native property EINVAL, missing dataset ENOENT, a number value is fatal.
zfs create "$POOL/fs"
prog <<'EOF'
return { native = zfs.sync.set_prop("tank/fs", "mountpoint", "/x"),
  copies = zfs.sync.set_prop("tank/fs", "copies", "2"),
  missing = zfs.sync.set_prop("tank/missing", "com.example:x", "1"),
  EINVAL = EINVAL, ENOENT = ENOENT }
EOF
prog <<'EOF'
return zfs.sync.set_prop("tank/fs", "com.example:x", 1)
EOF
