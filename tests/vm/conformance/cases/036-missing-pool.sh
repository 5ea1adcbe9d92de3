# The pool argument must be an existing bare pool name.
prog_raw -j -- nopool SCRIPT <<'EOF'
return 1
EOF
prog_raw -j -- "$POOL/fs" SCRIPT <<'EOF'
return 1
EOF
