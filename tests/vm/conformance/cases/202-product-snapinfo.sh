# The shipped read-only snapinfo program (lua/snapinfo.lua) on a realistic pool, under -n:
# every snapshot of ours ("*"), named ones (one of them missing, a held and a cloned one),
# a foreign name asked for by name, and a dataset that does not exist.
realistic_pool
d=$POOL/data
prog_file "$REPO/lua/snapinfo.lua" -n -- "$d/vm-100-disk-0" "*" \
    "$d/vm-100-disk-1" "autosnap_2026-01-05_00:00:00_weekly/autosnap_2099-01-01_00:00:00_daily/autosnap_2026-01-06_12:00:00_hourly" \
    "$d/vm-101-disk-0" "autosnapshot-manual" \
    "$d/vm-999-disk-0" "*" | canon_product
# Odd argument count: an error before anything is read.
prog_file "$REPO/lua/snapinfo.lua" -n -- "$d/vm-100-disk-0"
