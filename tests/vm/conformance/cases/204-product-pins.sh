# The shipped read-only pins program (lua/pins.lua) on a realistic pool, under -n: which of
# some snapshots of ours a destroy cannot remove now. Asked for: a held one (hold "keep"), a
# free one and a missing name on one disk; the cloned one and a free one on the other; a
# dataset that does not exist. Then the same held snapshot with a second hold, and what
# zfs.get_prop returns for userrefs/numclones on a held, a cloned and a free snapshot
# (real OpenZFS, zcp_get.c: integers, dsl_get_userrefs/dsl_get_numclones; source nil).
realistic_pool
d=$POOL/data
prog_file "$REPO/lua/pins.lua" -n -- \
    "$d/vm-100-disk-0" "autosnap_2026-01-05_00:00:00_weekly/autosnap_2026-01-06_00:00:00_daily/autosnap_2099-01-01_00:00:00_daily" \
    "$d/vm-100-disk-1" "autosnap_2026-01-01_00:00:00_monthly/autosnap_2026-01-05_00:00:00_weekly" \
    "$d/vm-999-disk-0" "autosnap_2026-01-06_00:00:00_daily"
zfs hold other "$d/vm-100-disk-0@autosnap_2026-01-05_00:00:00_weekly"
prog -n <<'LUA'
local d = "tank/data/"
local out = {}
for i, s in ipairs({ "vm-100-disk-0@autosnap_2026-01-05_00:00:00_weekly",
                     "vm-100-disk-1@autosnap_2026-01-05_00:00:00_weekly",
                     "vm-100-disk-0@autosnap_2026-01-06_00:00:00_daily" }) do
    local u, us = zfs.get_prop(d .. s, "userrefs")
    local c, cs = zfs.get_prop(d .. s, "numclones")
    out[i] = { u = u, us = tostring(us), c = c, cs = tostring(cs) }
end
return out
LUA
# Odd argument count: an error before anything is read.
prog_file "$REPO/lua/pins.lua" -n -- "$d/vm-100-disk-0"
