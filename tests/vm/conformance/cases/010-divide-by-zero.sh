# Division and modulo by zero at run time.
prog -- 7 0 <<'EOF'
local a = tonumber((...).argv[1]); local b = tonumber((...).argv[2])
return a / b
EOF
prog -- 7 0 <<'EOF'
local a = tonumber((...).argv[1]); local b = tonumber((...).argv[2])
return a % b
EOF
