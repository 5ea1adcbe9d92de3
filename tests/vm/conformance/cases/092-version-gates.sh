# Which functions exist in this release (rename_snapshot only 2.2+, clone only 2.4+).
prog <<'EOF'
local function has(t, k) return t[k] ~= nil end
return { rename = has(zfs.sync, "rename_snapshot"), clone = has(zfs.sync, "clone"),
  bookmark = has(zfs.sync, "bookmark"), set_prop = has(zfs.sync, "set_prop"), inherit = has(zfs.sync, "inherit"),
  promote = has(zfs.sync, "promote"), rollback = has(zfs.sync, "rollback"),
  check_rename = has(zfs.check, "rename_snapshot"), holds = has(zfs.list, "holds"),
  bookmarks = has(zfs.list, "bookmarks"), user_properties = has(zfs.list, "user_properties"),
  debug = has(zfs, "debug") }
EOF
