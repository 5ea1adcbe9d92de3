# A snapshot with clones: EEXIST; defer=true: 0 and defer_destroy set.
zfs create "$POOL/fs"
zfs snapshot "$POOL/fs@a"
zfs clone "$POOL/fs@a" "$POOL/c"
prog <<'EOF'
local e = zfs.sync.destroy("tank/fs@a")
local d = zfs.sync.destroy{"tank/fs@a", defer = true}
return { eexist = e, defer = d, defer_prop = zfs.get_prop("tank/fs@a", "defer_destroy"), EEXIST = EEXIST }
EOF
