# String methods and patterns used by product code.
prog <<'EOF'
local s = "tank/data/vm-100-disk-0@pvezs_2024"
local fs, snap = s:match("^([^@]+)@(.+)$")
local parts = {}
for p in fs:gmatch("[^/]+") do parts[#parts + 1] = p end
return { fs = fs, snap = snap, parts = parts, find = s:find("@", 1, true), sub = s:sub(-4),
  rep = ("ab"):rep(3, ","), up = s:upper():sub(1, 4), len = #s, gsub = (s:gsub("%d", "#")),
  hex = ("%02x"):format(("A"):byte()) }
EOF
