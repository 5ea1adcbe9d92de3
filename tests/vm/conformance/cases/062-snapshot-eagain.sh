# A second snapshot of one filesystem in one program returns EAGAIN.
zfs create "$POOL/fs"
prog <<'EOF'
return { zfs.sync.snapshot("tank/fs@a"), zfs.sync.snapshot("tank/fs@b"), EAGAIN }
EOF
