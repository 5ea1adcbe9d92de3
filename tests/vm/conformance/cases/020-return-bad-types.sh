# A function cannot be converted.
prog <<'EOF'
return function() end
EOF
prog <<'EOF'
return { f = function() end }
EOF
