# -t 0 is an invalid instruction limit.
prog -t 0 <<'EOF'
return 1
EOF
