# Growing a table past -m trips the memory limit.
prog -m 1048576 <<'EOF'
local t = {}
for i = 1, 1000000 do t[i] = ("x"):rep(100) .. i end
return #t
EOF
