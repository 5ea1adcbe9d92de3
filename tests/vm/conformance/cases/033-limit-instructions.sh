# An endless loop trips the instruction limit; exit code and message must match
# (the reported instruction count is elided: Lua 5.2 vs 5.4 bytecode, known gap).
prog -t 1000 <<'EOF'
local i = 0
while true do i = i + 1 end
EOF
prog -t 100000 <<'EOF'
local i = 0
for j = 1, 100 do i = i + j end
return i
EOF
prog -t 5000 <<'EOF'
local t = {}
while true do t[#t + 1] = ("x"):rep(3) end
EOF
