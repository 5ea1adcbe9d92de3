# More than one top-level value is an error after the program ran.
prog <<'EOF'
return 1, 2
EOF
