# A plain return value.
prog <<'EOF'
return 42
EOF
