# Leading-zero decimals are octal: literals, tonumber, coercion; hex works.
prog <<'EOF'
return { lit = 010, ton = tonumber("010"), coerce = "010" + 0, hex = 0x10, bad = tonumber("08") == nil, plain = tonumber("10") }
EOF
prog <<'EOF'
return 08
EOF
