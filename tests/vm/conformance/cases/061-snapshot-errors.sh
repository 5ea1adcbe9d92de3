# EEXIST, ENOENT, EINVAL (no @), EXDEV (other pool), ENAMETOOLONG.
zfs create "$POOL/fs"
zfs snapshot "$POOL/fs@old"
prog <<'EOF'
local long = "tank/fs@" .. ("x"):rep(260)
return { eexist = zfs.sync.snapshot("tank/fs@old"), enoent = zfs.sync.snapshot("tank/missing@s"),
  einval = zfs.sync.snapshot("tank/fs"), exdev = zfs.sync.snapshot("otherpool/fs@s"),
  toolong = zfs.sync.snapshot(long), EEXIST = EEXIST, ENOENT = ENOENT, EINVAL = EINVAL, EXDEV = EXDEV,
  ENAMETOOLONG = ENAMETOOLONG }
EOF
