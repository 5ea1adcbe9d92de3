-- snapinfo.lua: read-only: createtxg and creation of some of our snapshots, for pve-zfs-snap.
--
-- Run:      zfs program -j -n [-t N] [-m N] -- <pool> - <dataset> <which> [<dataset> <which>]...
-- Needs:    OpenZFS >= 2.0. Read-only: no zfs.sync.* call.
-- Arguments (argv): pairs (at least one); <dataset> is a filesystem or volume of <pool> (validated by the
--   caller); <which> is "*" for every snapshot of <dataset> whose short name starts with
--   "autosnap_", or short snapshot names joined by "/" (a character no snapshot name holds).
-- Returns a table keyed by pair index (JSON: "1", "2", ...), each entry one of:
--   { x = 0 }                                   the dataset does not exist
--   { x = 1,
--     s = "<short> <createtxg> <creation>" lines joined by "\n", one per snapshot asked for
--         that exists (a name that no longer exists is left out) }
-- Cost: two zfs.get_prop per snapshot read; nothing for the others.

local args = ...
local argv = args["argv"]

local PREFIX = "autosnap_"
local PLEN = #PREFIX

local function line(ds, short)
    local snap = ds .. "@" .. short
    local txg = zfs.get_prop(snap, "createtxg")
    local creation = zfs.get_prop(snap, "creation")
    -- Both properties are integers: concatenated as decimal, like "%d" would write them.
    return short .. " " .. txg .. " " .. creation
end

local function info(ds, which)
    if not zfs.exists(ds) then
        return { x = 0 }
    end
    local out = {}
    if which == "*" then
        local cut = #ds + 2
        for snap in zfs.list.snapshots(ds) do
            local short = string.sub(snap, cut)
            if string.sub(short, 1, PLEN) == PREFIX then
                out[#out + 1] = line(ds, short)
            end
        end
    else
        local start = 1
        while start <= #which do
            local stop = string.find(which, "/", start, true)
            local short = string.sub(which, start, (stop or (#which + 1)) - 1)
            start = (stop or #which) + 1
            if short ~= "" and zfs.exists(ds .. "@" .. short) then
                out[#out + 1] = line(ds, short)
            end
        end
    end
    return { x = 1, s = table.concat(out, "\n") }
end

if #argv % 2 ~= 0 then
    error("snapinfo: arguments come in pairs, got " .. #argv)
end
local result = {}
for i = 1, #argv, 2 do
    result[#result + 1] = info(argv[i], argv[i + 1])
end
return result
