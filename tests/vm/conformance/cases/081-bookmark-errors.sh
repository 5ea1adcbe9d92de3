# bookmark: bad target name (EINVAL), other pool (EXDEV), target fs missing (ENOENT).
zfs create "$POOL/fs"
zfs snapshot "$POOL/fs@a"
prog <<'EOF'
return { badname = zfs.sync.bookmark("tank/fs@a", "tank/fs@notabm"),
  otherpool = zfs.sync.bookmark("tank/fs@a", "other/fs#b"),
  check = zfs.check.bookmark("tank/fs@a", "tank/fs#c"), exists = zfs.exists("tank/fs#c") }
EOF
