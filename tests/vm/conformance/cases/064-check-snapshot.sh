# zfs.check.snapshot reports codes without creating anything.
zfs create "$POOL/fs"
zfs snapshot "$POOL/fs@old"
prog <<'EOF'
return { ok = zfs.check.snapshot("tank/fs@new"), eexist = zfs.check.snapshot("tank/fs@old"),
  enoent = zfs.check.snapshot("tank/missing@x"), exists_after = zfs.exists("tank/fs@new") }
EOF
