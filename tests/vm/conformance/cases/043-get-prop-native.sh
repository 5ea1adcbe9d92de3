# Native properties: index values as strings, sources, read-only props without a source.
zfs create "$POOL/fs"
zfs create -o compression=off "$POOL/fs/child"
zfs create -V 64M "$POOL/vol"
zfs snapshot "$POOL/fs@s1"
prog <<'EOF'
local function gp(ds, p) local v, s = zfs.get_prop(ds, p); return { v = v, s = s or "nil" } end
return { ro = gp("tank/fs", "readonly"), comp_child = gp("tank/fs/child", "compression"),
  typ = gp("tank/fs", "type"), vtyp = gp("tank/vol", "type"), styp = gp("tank/fs@s1", "type"),
  volsize = gp("tank/vol", "volsize"), userrefs = gp("tank/fs@s1", "userrefs"),
  defer = gp("tank/fs@s1", "defer_destroy"), numclones = gp("tank/fs@s1", "numclones"),
  name = gp("tank/fs@s1", "name"), txg_is_num = type(zfs.get_prop("tank/fs@s1", "createtxg")),
  creation_is_num = type(zfs.get_prop("tank/fs@s1", "creation")),
  txg_src = select(2, zfs.get_prop("tank/fs@s1", "createtxg")) == nil }
EOF
