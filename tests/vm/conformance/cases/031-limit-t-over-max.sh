# -t above zfs_lua_max_instrlimit (100,000,000) is invalid; the maximum itself is fine.
prog -t 100000001 <<'EOF'
return 1
EOF
prog -t 100000000 <<'EOF'
return 1
EOF
