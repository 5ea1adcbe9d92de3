# Slot for the shipped read-only inventory program on a realistic pool (lead completes args).
[ -f "$REPO/lua/inventory.lua" ] || { echo "SKIP: lua/inventory.lua does not exist yet"; exit 77; }
realistic_pool
# TODO(lead): the real argv of lua/inventory.lua; the result must be deterministic (sorted).
prog_file "$REPO/lua/inventory.lua" -n -- "$POOL/data"
