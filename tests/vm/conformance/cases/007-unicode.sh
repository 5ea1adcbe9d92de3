# Non-ASCII (BMP) in a UTF-8 locale.
prog <<'EOF'
return "caf\195\169 \226\130\172"
EOF
