# Arguments arrive as {argv = {...}} strings, including ones starting with '-'.
prog -- one -x "with space" <<'EOF'
return ...
EOF
prog <<'EOF'
local args = ...
return { n = #args.argv, t = type(args.argv) }
EOF
