# A held snapshot: EBUSY; with defer=true: 0 and defer_destroy set.
zfs create "$POOL/fs"
zfs snapshot "$POOL/fs@a"
zfs snapshot "$POOL/fs@b"
zfs hold keep "$POOL/fs@a" "$POOL/fs@b"
prog <<'EOF'
local e = zfs.sync.destroy("tank/fs@a")
local d = zfs.sync.destroy{"tank/fs@b", defer = true}
return { ebusy = e, defer = d, defer_prop = zfs.get_prop("tank/fs@b", "defer_destroy"),
  still = zfs.exists("tank/fs@b"), EBUSY = EBUSY }
EOF
