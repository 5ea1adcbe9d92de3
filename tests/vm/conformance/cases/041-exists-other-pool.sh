# exists on another pool is fatal.
prog <<'EOF'
return zfs.exists("otherpool/fs")
EOF
