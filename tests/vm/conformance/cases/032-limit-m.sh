# -m 0 and -m above zfs_lua_max_memlimit (100 MiB) are invalid; the maximum is fine.
prog -m 0 <<'EOF'
return 1
EOF
prog -m 104857601 <<'EOF'
return 1
EOF
prog -m 104857600 <<'EOF'
return 1
EOF
