# list.system_properties returns a table (not an iterator) of property names.
zfs create "$POOL/fs"
prog <<'EOF'
local t = zfs.list.system_properties("tank/fs")
local has = {}
for _, n in pairs(t) do has[n] = true end
return { t = type(t), createtxg = has.createtxg or false, guid = has.guid or false, used = has.used or false }
EOF
