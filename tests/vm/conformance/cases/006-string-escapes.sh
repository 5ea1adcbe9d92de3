# JSON escaping of control characters and quotes.
prog <<'EOF'
return "q\"b\\s/n\nr\rt\tf\fb\b" .. string.char(1) .. string.char(31) .. string.char(127)
EOF
