# Return tables nest at most 20 levels; a self-reference fails the same way.
prog <<'EOF'
local t = {}
local cur = t
for i = 1, 25 do cur.x = {}; cur = cur.x end
return t
EOF
prog <<'EOF'
local t = {}
local cur = t
for i = 1, 18 do cur.x = {}; cur = cur.x end
return t
EOF
prog <<'EOF'
local t = {}
t.self = t
return t
EOF
