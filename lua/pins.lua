-- pins.lua: read-only: which of some snapshots a destroy would not remove now, for
-- pve-zfs-snap's planner: the snapshots a run would destroy are asked for before the plan is
-- final, so that the dry run and the real run agree on a held or cloned one (issue 21).
--
-- Run:      zfs program -j -n [-t N] [-m N] -- <pool> - <dataset> <names> [<dataset> <names>]...
-- Needs:    OpenZFS >= 2.0 (zfs.list.holds). Read-only: no zfs.sync.* call.
-- Arguments (argv): pairs (at least one); <dataset> is a filesystem or volume of <pool>
--   (validated by the caller); <names> is short snapshot names joined by "/" (a character no
--   snapshot name holds).
-- Returns a table keyed by pair index (JSON: "1", "2", ...), each entry one of:
--   { x = 0 }                                   the dataset does not exist
--   { x = 1,
--     p = "<short> <pin>" lines joined by "\n", in argv order, one per snapshot asked for
--         that exists and is pinned (a free or missing one is left out), where <pin> is
--         held   a user hold (zfs hold) other than a running zfs send's temporary one,
--         busy   only the temporary `.send-<pid>-<n>` holds of a running zfs send (libzfs),
--         cloned no hold, and clones depend on it }
-- The same order and words as lua/destroy.lua's apply-time check (kernel:
-- dsl_destroy_snapshot_check_impl returns EBUSY for userrefs > 0 before EEXIST for clones).
-- What real OpenZFS returns (module/zfs/zcp_get.c, get_special_prop): `userrefs` is
-- dsl_get_userrefs(), the snapshot's count of user holds, temporary ones included, as an
-- integer (0 without holds), source nil; `numclones` is dsl_get_numclones(), an integer.
-- A kernel-only long hold (a send of a snapshot nobody holds) is not visible here:
-- destroy.lua still reports it as "busy" at apply time.
-- Cost: two zfs.get_prop per snapshot asked for (plus the holds listing of a held one).

local args = ...
local argv = args["argv"]

-- "held" or "busy" for a snapshot with user holds (see the header).
local function hold_kind(snap)
    for tag in zfs.list.holds(snap) do
        if string.sub(tag, 1, 6) ~= ".send-" then
            return "held"
        end
    end
    return "busy"
end

local function pins(ds, names)
    if not zfs.exists(ds) then
        return { x = 0 }
    end
    local out = {}
    local start = 1
    while start <= #names do
        local stop = string.find(names, "/", start, true)
        local short = string.sub(names, start, (stop or (#names + 1)) - 1)
        start = (stop or #names) + 1
        local snap = ds .. "@" .. short
        if short ~= "" and zfs.exists(snap) then
            local pin = nil
            if zfs.get_prop(snap, "userrefs") > 0 then
                pin = hold_kind(snap)
            elseif zfs.get_prop(snap, "numclones") > 0 then
                pin = "cloned"
            end
            if pin ~= nil then
                out[#out + 1] = short .. " " .. pin
            end
        end
    end
    return { x = 1, p = table.concat(out, "\n") }
end

if #argv % 2 ~= 0 then
    error("pins: arguments come in pairs, got " .. #argv)
end
local result = {}
for i = 1, #argv, 2 do
    result[#result + 1] = pins(argv[i], argv[i + 1])
end
return result
