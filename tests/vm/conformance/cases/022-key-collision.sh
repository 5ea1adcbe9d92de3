# Keys colliding once converted to strings.
prog <<'EOF'
return { [1] = "a", ["1"] = "b" }
EOF
