# string.format: integer formats work, float formats are refused.
prog <<'EOF'
return string.format("%d|%5i|%x|%X|%o|%c|%q|%s|%%|%-4d|%05d", 42, 7, 255, 255, 8, 65, "a\"b", "s", 3, 12)
EOF
prog <<'EOF'
return string.format("%f", 1)
EOF
