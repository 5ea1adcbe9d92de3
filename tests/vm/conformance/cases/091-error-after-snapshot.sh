# A runtime error after a snapshot: exit 1, the snapshot stays (no rollback).
zfs create "$POOL/fs"
prog <<'EOF'
zfs.sync.snapshot("tank/fs@kept")
error("after the snapshot")
EOF
prog <<'EOF'
zfs.sync.set_prop("tank/fs", "com.example:kept", "yes")
local i = 0
while true do i = i + 1 end
EOF
