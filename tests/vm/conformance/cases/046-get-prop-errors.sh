# get_prop is fatal for an unknown property and for a missing dataset.
zfs create "$POOL/fs"
prog <<'EOF'
return zfs.get_prop("tank/fs", "nosuchprop")
EOF
prog <<'EOF'
return zfs.get_prop("tank/missing", "type")
EOF
prog <<'EOF'
return zfs.get_prop("tank/fs@missing", "createtxg")
EOF
