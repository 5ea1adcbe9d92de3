# No return statement, and a bare return: {}.
prog <<'EOF'
local x = 1
EOF
prog <<'EOF'
return
EOF
