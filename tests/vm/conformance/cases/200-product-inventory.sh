# The shipped read-only inventory program (lua/inventory.lua) on a realistic pool, under -n.
# argv: dataset full names (one missing); result per argv index, canonicalised by canon_product.
realistic_pool
d=$POOL/data
prog_file "$REPO/lua/inventory.lua" -n -- "$d/vm-100-disk-0" "$d/vm-100-disk-1" "$d/vm-101-disk-0" \
    "$d/subvol-102-disk-0" "$d/vm-103-disk-0" "$d/guests/vm-104-disk-0" "$d/vm-999-disk-0" |
    canon_product
# Without -n it is read-only too: the pool state below must equal the one after setup.
prog_file "$REPO/lua/inventory.lua" -- "$d/vm-101-disk-0" | canon_product
