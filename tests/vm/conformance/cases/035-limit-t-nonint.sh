# A non-integer -t is a usage error (exit 2).
prog -t abc <<'EOF'
return 1
EOF
