# int64 wrap-around at run time.
prog -- 9223372036854775807 <<'EOF'
local m = tonumber((...).argv[1])
return { wrap = m + 1, max = m, neg = -m - 1 }
EOF
