# destroy of a mounted filesystem returns EBUSY (ZCP never unmounts).
zfs create "$POOL/m"
prog <<'EOF'
return { r = zfs.sync.destroy("tank/m"), EBUSY = EBUSY }
EOF
