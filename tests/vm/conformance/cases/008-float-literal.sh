# No floats: a float literal is a syntax error (malformed number).
prog <<'EOF'
return 1.5
EOF
prog <<'EOF'
local x = 1.0
return x
EOF
