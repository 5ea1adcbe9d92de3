# User properties: local, inherited (source = ancestor), on snapshots, unset (zero values).
zfs create "$POOL/fs"
zfs create "$POOL/fs/child"
zfs snapshot "$POOL/fs@s1"
zfs set com.example:a=va "$POOL/fs"
zfs set com.example:b=vb "$POOL/fs@s1"
prog <<'EOF'
local function gp(ds, p) local r = { zfs.get_prop(ds, p) }; return { n = select('#', zfs.get_prop(ds, p)), v = r[1], s = r[2] } end
return { loc = gp("tank/fs", "com.example:a"), inh = gp("tank/fs/child", "com.example:a"),
  snap_inh = gp("tank/fs@s1", "com.example:a"), snap_loc = gp("tank/fs@s1", "com.example:b"),
  unset = gp("tank/fs", "com.example:zz") }
EOF
prog <<'EOF'
return zfs.get_prop("tank/fs", "com.example:zz")
EOF
