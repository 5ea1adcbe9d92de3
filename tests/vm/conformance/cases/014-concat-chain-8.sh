# A chain of 8 `..` is fine.
prog <<'EOF'
local a = "a"
return a..a..a..a..a..a..a..a..a
EOF
