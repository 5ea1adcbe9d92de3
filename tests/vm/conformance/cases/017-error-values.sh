# error() with a string, with a table, assert(false, msg).
prog <<'EOF'
error("boom")
EOF
prog <<'EOF'
error({})
EOF
prog <<'EOF'
assert(false, "assertion msg")
EOF
