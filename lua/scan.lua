-- scan.lua: read-only search for guest disks and their newest snapshots named like ours,
-- for `pve-zfs-snap check` (any site: the node, the replica, the backup pool).
--
-- Run:      zfs program -j -n [-t N] [-m N] -- <pool> - <root> <k> <mode>
-- Needs:    OpenZFS >= 0.8 (zfs.exists, zfs.list.children, zfs.list.snapshots, zfs.get_prop).
--           Read-only: no zfs.sync.* call.
-- Arguments (argv):
--   <root>  a filesystem or volume in <pool> (the pool's name for the whole pool);
--   <k>     how many of the newest candidates to return per disk (decimal, no leading zero);
--   <mode>  "all": <root> and every descendant (zfs.list.children, recursively);
--           "self": <root> only (the caller splits a walk that hit a limit).
-- A guest disk is a dataset whose last component matches vm-<digits>-disk-<digits> or
-- subvol-<digits>-disk-<digits>, under any parent. A candidate is a snapshot whose short name
-- has the shape autosnap_NNNN-NN-NN_NN:NN:NN_<suffix of ours>; the caller re-checks every
-- candidate it uses (real calendar date), so a look-alike is never taken as ours.
-- Returns:
--   { x = 0 }                                   <root> does not exist
--   { x = 1, d = { [i] = {                      one entry per guest disk (any order)
--       n = <full dataset name>,
--       l = <label:nosnap, hex-encoded>,         absent when unset (set or inherited)
--       ls = <its source: a dataset name, or "$recvd" when received>,
--       c = <number of candidates>,
--       s = "<short> <createtxg> <creation>" lines joined by "\n": the k newest candidates
--           by createtxg (any order) } } }
-- Cost: one get_prop per candidate and one per disk; a whole pool in one call. Numbers are
-- integers only. Property values are hex-encoded: they may hold any bytes, and `zfs program -j`
-- cannot print non-UTF-8 text.

local args = ...
local argv = args["argv"]
local root = argv[1]
local k = tonumber(argv[2])
local mode = argv[3]

local DISK_VM = "^vm%-%d+%-disk%-%d+$"
local DISK_CT = "^subvol%-%d+%-disk%-%d+$"
local SHAPE = "^autosnap_%d%d%d%d%-%d%d%-%d%d_%d%d:%d%d:%d%d_(%l+)$"
local SUFFIX = {
    frequently = true, hourly = true, daily = true, weekly = true,
    monthly = true, yearly = true, stopped = true,
}

-- Lowercase hex of every byte of v (as in inventory.lua).
local function hex(v)
    local out = {}
    for i = 1, #v, 64 do
        local j = i + 63
        if j > #v then
            j = #v
        end
        out[#out + 1] = string.format(string.rep("%02x", j - i + 1), string.byte(v, i, j))
    end
    return table.concat(out)
end

local function leaf(ds)
    local last = string.match(ds, "([^/]+)$")
    return last or ds
end

local function is_disk(ds)
    local l = leaf(ds)
    return string.find(l, DISK_VM) ~= nil or string.find(l, DISK_CT) ~= nil
end

-- The k newest candidates of one disk, kept as parallel arrays (txg, line).
local function disk_entry(ds)
    local cut = #ds + 2
    local txgs = {}
    local lines = {}
    local count = 0
    for snap in zfs.list.snapshots(ds) do
        local short = string.sub(snap, cut)
        local suffix = string.match(short, SHAPE)
        if suffix ~= nil and SUFFIX[suffix] then
            count = count + 1
            local txg = zfs.get_prop(snap, "createtxg")
            local slot = nil
            if #txgs < k then
                slot = #txgs + 1
            else
                local min = 1
                for i = 2, #txgs do
                    if txgs[i] < txgs[min] then
                        min = i
                    end
                end
                if txg > txgs[min] then
                    slot = min
                end
            end
            if slot ~= nil then
                local creation = zfs.get_prop(snap, "creation")
                txgs[slot] = txg
                lines[slot] = string.format("%s %d %d", short, txg, creation)
            end
        end
    end
    local e = { n = ds, c = count, s = table.concat(lines, "\n") }
    local v, src = zfs.get_prop(ds, "label:nosnap")
    if v ~= nil then
        e.l = hex(v)
        e.ls = src
    end
    return e
end

local found = {}

local function walk(ds)
    if is_disk(ds) then
        found[#found + 1] = disk_entry(ds)
    end
    if mode == "all" then
        for child in zfs.list.children(ds) do
            walk(child)
        end
    end
end

if not zfs.exists(root) then
    return { x = 0 }
end
walk(root)
return { x = 1, d = found }
