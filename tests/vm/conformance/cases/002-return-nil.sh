# Top-level nil is a valueless boolean: {"return":true}.
prog <<'EOF'
return nil
EOF
