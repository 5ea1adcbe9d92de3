# origin of a clone, clones of its origin snapshot (array table), numclones.
zfs create "$POOL/fs"
zfs snapshot "$POOL/fs@s1"
zfs clone "$POOL/fs@s1" "$POOL/c1"
zfs clone "$POOL/fs@s1" "$POOL/c2"
prog <<'EOF'
local clones = zfs.get_prop("tank/fs@s1", "clones")
local names = {}
for _, v in pairs(clones) do names[#names + 1] = v end
table.sort(names)
return { origin = zfs.get_prop("tank/c1", "origin"), clones = names,
  numclones = zfs.get_prop("tank/fs@s1", "numclones") }
EOF
