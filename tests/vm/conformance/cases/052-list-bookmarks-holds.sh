# list.bookmarks and list.holds (tag, numeric time).
zfs create "$POOL/fs"
zfs snapshot "$POOL/fs@a"
zfs bookmark "$POOL/fs@a" "$POOL/fs#ba"
zfs bookmark "$POOL/fs@a" "$POOL/fs#bb"
zfs hold t1 "$POOL/fs@a"
zfs hold t2 "$POOL/fs@a"
prog <<'EOF'
local bms = {}
for b in zfs.list.bookmarks("tank/fs") do bms[#bms + 1] = b end
table.sort(bms)
local holds = {}
for tag, t in zfs.list.holds("tank/fs@a") do holds[#holds + 1] = tag .. ":" .. type(t) .. ":" .. tostring(t > 0) end
table.sort(holds)
return { bookmarks = bms, holds = holds }
EOF
