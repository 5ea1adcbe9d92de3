-- probe.lua: bench probe (tests/vm/bench-sanoid.sh), not part of the product: what reading a
-- snapshot costs in the kernel, to size the inventory.
-- Run:      zfs program -j -n -t 100000000 -m 104857600 -- <pool> - <parent> <props> <max>
-- Needs:    OpenZFS >= 2.0. Read-only.
-- Arguments: <parent>: dataset whose children's snapshots are walked; <props>: number of
--            zfs.get_prop calls per snapshot (0 = iterate names only; 1 = createtxg;
--            2 = + creation; 4 = + userrefs, numclones); <max>: walk at most this many children.
-- Returns the number of snapshots walked.
local argv = (...)["argv"]
local parent, props, max = argv[1], tonumber(argv[2]), tonumber(argv[3])
local names = { "createtxg", "creation", "userrefs", "numclones" }
local n, seen = 0, 0
for child in zfs.list.children(parent) do
    seen = seen + 1
    if seen > max then
        break
    end
    for snap in zfs.list.snapshots(child) do
        n = n + 1
        for i = 1, props do
            zfs.get_prop(snap, names[i])
        end
    end
end
return n
