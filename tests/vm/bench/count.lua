-- count.lua: bench bookkeeping (tests/vm/bench-sanoid.sh), not part of the product.
-- Run:      zfs program -j -n -t 100000000 -m 104857600 -- <pool> - <parent> <stamp>
-- Needs:    OpenZFS >= 2.0. Read-only.
-- Arguments: <parent>: the dataset whose children are counted; <stamp>: a name prefix such as
--            "autosnap_2026-11-21_23:45" (the run being measured).
-- Returns { n = <snapshots of the children>, m = <of them, names starting with stamp>,
--           t = "<txg> <txg> ..." the distinct createtxg of those (only they are read) }
local argv = (...)["argv"]
local parent, stamp = argv[1], argv[2]
local n, m, seen, txgs = 0, 0, {}, {}
for child in zfs.list.children(parent) do
    local cut = #child + 2
    for snap in zfs.list.snapshots(child) do
        n = n + 1
        if string.sub(snap, cut, cut + #stamp - 1) == stamp then
            m = m + 1
            local txg = zfs.get_prop(snap, "createtxg")
            if not seen[txg] then
                seen[txg] = true
                txgs[#txgs + 1] = tostring(txg)
            end
        end
    end
end
return { n = n, m = m, t = table.concat(txgs, " ") }
