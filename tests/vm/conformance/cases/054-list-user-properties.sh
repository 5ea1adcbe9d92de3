# list.user_properties / list.properties: name, value, source (inherited included).
zfs create "$POOL/fs"
zfs create "$POOL/fs/child"
zfs set com.example:a=1 "$POOL/fs"
zfs set com.example:b=2 "$POOL/fs/child"
prog <<'EOF'
local function collect(it) local r = {}; for k, v, s in it do r[#r + 1] = k .. "=" .. v .. " from " .. s end; table.sort(r); return r end
return { up = collect(zfs.list.user_properties("tank/fs/child")), p = collect(zfs.list.properties("tank/fs/child")) }
EOF
