-- inventory.lua: read-only inventory of guest datasets for pve-zfs-snap: labels and the NAMES
-- of our snapshots and bookmarks. It reads no snapshot's properties (each zfs.get_prop on a
-- snapshot instantiates it in the kernel, the dominant cost on a big pool); lua/snapinfo.lua
-- reads createtxg/creation of the snapshots the caller does not know yet.
--
-- Run:      zfs program -j -n [-t N] [-m N] -- <pool> - [-w<N>] <dataset>[=<changed>]...
-- Needs:    OpenZFS >= 2.0 (zfs.list.bookmarks); the "=<changed>" form needs >= 2.2
--           (the snapshots_changed property; 2.1 raises "not a valid property").
--           Read-only: no zfs.sync.* call.
-- Arguments (argv), validated by the caller:
--   -w<N>              optional, first: walk at most about N snapshots (ours and foreign) in
--                      this call; once N are walked, the datasets not started yet are
--                      answered { x = 2 } (ask again). A dataset is never cut in the middle.
--   <dataset>          full name of a filesystem or volume in <pool>: walk its snapshots.
--   <dataset>=<c>      the same, and also return its snapshots_changed as `c`; when it equals
--                      <c> (the caller's value from a run that listed it), skip the walk and
--                      answer `u = 1` instead of s/b/f (the caller still knows them). <c> = 0
--                      never matches, nor does a clone. Dataset names cannot contain "=".
-- Returns a table keyed by argv index of the datasets (JSON: "1", "2", ...; -w does not
-- count), each entry one of:
--   { x = 0 }                                   the dataset does not exist
--   { x = 2 }                                   not read: the walk budget was spent
--   { x = 1,
--     r  = <label:running, hex-encoded>,        absent when unset
--     rs = <its source: a dataset name, or "$recvd" when received>,
--     n  = <label:nosnap, hex-encoded>,         absent when unset
--     g  = <the dataset's guid>,                 identity for the caller's cache
--     c  = <snapshots_changed, seconds>,         only for the "=<c>" form
--     o  = 1,                                    only for the "=<c>" form, when it is a clone
--                                                (always walked: a promote moves snapshots
--                                                onto it without changing its value)
--     u  = 1,                                    only when the walk was skipped (then no s/b/f)
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

-- Lowercase hex of every byte of v: one string.format per 64 bytes, not one per byte.
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

local walked = 0
local budget = nil

local function inventory(arg)
    local ds, known = arg, nil
    local eq = string.find(arg, "=", 1, true)
    if eq ~= nil then
        ds = string.sub(arg, 1, eq - 1)
        known = string.sub(arg, eq + 1)
    end
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
    if known ~= nil then
        e.c = zfs.get_prop(ds, "snapshots_changed")
        -- A clone is always walked: promoting it moves snapshots onto it without touching
        -- its snapshots_changed (conformance case 099).
        if zfs.get_prop(ds, "origin") ~= nil then
            e.o = 1
        elseif known ~= "0" and tostring(e.c) == known then
            e.u = 1
            return e
        end
    end
    if budget ~= nil and walked > 0 and walked >= budget then
        return { x = 2 }
    end

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
    walked = walked + #snaps + foreign

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

local first = 1
if argv[1] ~= nil and string.sub(argv[1], 1, 2) == "-w" then
    budget = tonumber(string.sub(argv[1], 3))
    if budget == nil then
        error("inventory: bad walk budget '" .. argv[1] .. "'")
    end
    first = 2
end
local result = {}
for i = first, #argv do
    result[i - first + 1] = inventory(argv[i])
end
return result
