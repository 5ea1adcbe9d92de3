# Slot for the shipped apply program (snapshots + destroys) on a realistic pool (lead completes args).
[ -f "$REPO/lua/apply.lua" ] || { echo "SKIP: lua/apply.lua does not exist yet"; exit 77; }
realistic_pool
# TODO(lead): the real argv of lua/apply.lua (snapshot the running guests' disks, destroy expired
# own snapshots, leave foreign/held/cloned ones); the state dump after is part of the result.
prog_file "$REPO/lua/apply.lua" -- "$POOL/data"
