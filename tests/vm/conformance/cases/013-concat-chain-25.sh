# A chain of 25 `..` exceeds LUAI_MAXCCALLS (20) in the parser.
prog <<'EOF'
local a = "a"
return a..a..a..a..a..a..a..a..a..a..a..a..a..a..a..a..a..a..a..a..a..a..a..a..a..a
EOF
