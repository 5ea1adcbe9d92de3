# A syntax error: nothing runs.
prog <<'EOF'
return (
EOF
