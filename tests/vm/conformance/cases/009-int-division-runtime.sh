# Run-time / is floor integer division, % is floor modulo.
prog -- 7 2 -7 <<'EOF'
local a = tonumber((...).argv[1]); local b = tonumber((...).argv[2]); local n = tonumber((...).argv[3])
return { div = a / b, negdiv = n / b, mod = a % b, negmod = n % b }
EOF
