# The pool default for compression differs between releases (on in 2.2+, off before).
zfs create "$POOL/fs"
prog <<'EOF'
local v, s = zfs.get_prop("tank/fs", "compression")
return { v = v, s = s }
EOF
