# promote a clone.
zfs create -o mountpoint=none "$POOL/fs"
zfs snapshot "$POOL/fs@a"
zfs clone "$POOL/fs@a" "$POOL/c"
prog <<'EOF'
return { r = zfs.sync.promote("tank/c"), origin_after = select('#', zfs.get_prop("tank/c", "origin")) }
EOF
