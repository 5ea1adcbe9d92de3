# zfs.debug writes to the kernel debug log, nothing to stdout.
prog <<'EOF'
zfs.debug("hello")
return "ok"
EOF
