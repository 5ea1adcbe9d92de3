# Bookmarks cannot be destroyed from a channel program: ENOENT.
zfs create "$POOL/fs"
zfs snapshot "$POOL/fs@a"
zfs bookmark "$POOL/fs@a" "$POOL/fs#b"
prog <<'EOF'
return { r = zfs.sync.destroy("tank/fs#b"), ENOENT = ENOENT }
EOF
