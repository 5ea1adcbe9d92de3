# Arrays become objects with "1".. keys; nesting; booleans; numeric and boolean keys.
prog <<'EOF'
return { {1, 2, 3}, {a = {b = {"x", "y"}}}, t = true, f = false, [10] = "ten", [-3] = "neg", s = "str" }
EOF
