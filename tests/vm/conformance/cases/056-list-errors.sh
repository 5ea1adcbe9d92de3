# list.* on a missing dataset, and snapshots of a snapshot, are fatal.
zfs create "$POOL/fs"
zfs snapshot "$POOL/fs@a"
prog <<'EOF'
for s in zfs.list.snapshots("tank/missing") do end
return 1
EOF
prog <<'EOF'
for s in zfs.list.children("tank/missing") do end
return 1
EOF
prog <<'EOF'
for s in zfs.list.holds("tank/fs@missing") do end
return 1
EOF
