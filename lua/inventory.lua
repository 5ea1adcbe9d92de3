-- inventory.lua: read-only inventory of guest datasets for pve-zfs-snap: labels and the NAMES
-- of our snapshots and bookmarks. It reads no snapshot's properties (each zfs.get_prop on a
-- snapshot instantiates it in the kernel, the dominant cost on a big pool); lua/snapinfo.lua
-- reads createtxg/creation of the snapshots the caller does not know yet.
--
-- Run:      zfs program -j -n [-t N] [-m N] -- <pool> - <dataset>...
-- Needs:    OpenZFS >= 2.0 (zfs.list.bookmarks). Read-only: no zfs.sync.* call.
-- Arguments (argv): full names of filesystems or volumes, all in <pool>, validated by the caller.
-- Returns a table keyed by argv index (JSON: "1", "2", ...), each entry one of:
--   { x = 0 }                                   the dataset does not exist
--   { x = 1,
--     r  = <label:running, hex-encoded>,        absent when unset
--     rs = <its source: a dataset name, or "$recvd" when received>,
--     n  = <label:nosnap, hex-encoded>,         absent when unset
--     g  = <the dataset's guid>,                 identity for the caller's cache
--     s  = "<short>" lines joined by "\n", one per snapshot whose short name starts with
--          "autosnap_" (any order)
--     b  = "<short>" lines joined by "\n", one per bookmark whose short name starts with "autosnap_"
--     f  = <number of other snapshots> }
-- Property values are hex-encoded because they may hold any bytes and `zfs program -j`
-- cannot print non-UTF-8 text; dataset and snapshot names are ASCII by ZFS' rules.

local args = ...
local argv = args["argv"]

local PREFIX = "autosnap_"
local PLEN = #PREFIX

local function hex(v)
    local out = {}
    for i = 1, #v do
        out[i] = string.format("%02x", string.byte(v, i))
    end
    return table.concat(out)
end

local function inventory(ds)
    if not zfs.exists(ds) then
        return { x = 0 }
    end
    local e = { x = 1 }
    local v, src = zfs.get_prop(ds, "label:running")
    if v ~= nil then
        e.r = hex(v)
        e.rs = src
    end
    v = zfs.get_prop(ds, "label:nosnap")
    if v ~= nil then
        e.n = hex(v)
    end
    e.g = zfs.get_prop(ds, "guid")

    local cut = #ds + 2
    local snaps = {}
    local foreign = 0
    for snap in zfs.list.snapshots(ds) do
        local short = string.sub(snap, cut)
        if string.sub(short, 1, PLEN) == PREFIX then
            snaps[#snaps + 1] = short
        else
            foreign = foreign + 1
        end
    end
    e.s = table.concat(snaps, "\n")
    e.f = foreign

    local bms = {}
    for bm in zfs.list.bookmarks(ds) do
        local short = string.sub(bm, cut)
        if string.sub(short, 1, PLEN) == PREFIX then
            bms[#bms + 1] = short
        end
    end
    e.b = table.concat(bms, "\n")
    return e
end

local result = {}
for i = 1, #argv do
    result[i] = inventory(argv[i])
end
return result
