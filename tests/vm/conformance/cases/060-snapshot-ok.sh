# Snapshots of a filesystem, a volume and the pool root in one program.
zfs create "$POOL/fs"
zfs create -V 64M "$POOL/vol"
prog <<'EOF'
return { zfs.sync.snapshot("tank/fs@s"), zfs.sync.snapshot("tank/vol@s"), zfs.sync.snapshot("tank@s") }
EOF
