# Properties that return zero values: origin on a non-clone, volsize on a filesystem, mounted.
zfs create "$POOL/fs"
zfs create -V 64M "$POOL/vol"
prog <<'EOF'
return { origin = select('#', zfs.get_prop("tank/fs", "origin")),
  volsize_fs = select('#', zfs.get_prop("tank/fs", "volsize")),
  mounted = select('#', zfs.get_prop("tank/fs", "mounted")) }
EOF
