# destroy of filesystems: with snapshots EBUSY, with children EEXIST, missing ENOENT,
# unmounted leaf 0, volume 0.
zfs create -o mountpoint=none "$POOL/p"
zfs create "$POOL/p/withsnap"
zfs snapshot "$POOL/p/withsnap@s"
zfs create "$POOL/p/parent"
zfs create "$POOL/p/parent/kid"
zfs create "$POOL/p/leaf"
zfs create -V 64M "$POOL/vol"
prog <<'EOF'
return { withsnap = zfs.sync.destroy("tank/p/withsnap"), parent = zfs.sync.destroy("tank/p/parent"),
  missing = zfs.sync.destroy("tank/p/missing"), leaf = zfs.sync.destroy("tank/p/leaf"),
  vol = zfs.sync.destroy("tank/vol") }
EOF
