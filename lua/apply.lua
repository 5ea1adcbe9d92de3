-- apply.lua: applies one pool's part of a pve-zfs-snap plan in a single transaction group.
--
-- Run:      zfs program -j [-t N] [-m N] -- <pool> - <item tokens>...
-- Needs:    OpenZFS >= 2.0 (zfs.sync.set_prop, zfs.sync.bookmark).
-- Arguments (argv): a flat token list; every item starts with an opcode:
--   G <group>                        starts a group (a guest); the items up to the next G belong to it
--   P <dataset> <property> <value>   set a user property (value is a string)
--   S <dataset>@<snap>               create a snapshot
--   B <dataset>@<snap> <dataset>#<bm> create a bookmark of a snapshot (made earlier in this program or not)
--   D <dataset>@<snap>               destroy a snapshot, best effort
--   K                                report the creation time of every snapshot made (`k`)
--   C <dataset>                      report the dataset's snapshots_changed before and after
--                                    this program (OpenZFS >= 2.2 only; 2.1 raises "not a
--                                    valid property", so the caller sends none there)
-- Every item but C and K belongs to a group; a G item itself gets no result; C items get no
-- result in `r` but one entry in `c`; K gets none.
-- Order of work (check-then-sync, because a Lua error cannot be caught and earlier changes stay):
--   1. every zfs.check.* of every P, S and D item;
--   2. a group in which a P or S check failed is dropped whole (a guest's disks are all-or-nothing);
--   3. the remaining items run with zfs.sync.*, group by group, in argv order; if a P or S item
--      fails at sync time anyway, the group's later D items are dropped: the plan counted on the
--      new snapshot being the newest when it chose what to destroy.
-- Destroys: a held snapshot (check EBUSY) and a snapshot with clones (check EEXIST) are kept
-- and reported (a later run destroys them once released); this is the only place holds and
-- clones are looked at, so the inventory reads neither. Bookmarks have no check: their source
-- snapshot is usually created in this same program.
-- Returns { r = "<one result per item, in argv order, separated by spaces>", t = <createtxg of the
-- first snapshot created, absent if none>, c = "<before>:<after>" per C item in argv order,
-- separated by spaces ("-" for a dataset that does not exist; absent without C items), k =
-- "<creation>" per S item in argv order, separated by spaces ("-" for one not made; absent
-- without K) }.
-- "before" is read after the checks, before any change of this program, and only for a
-- dataset some check showed to exist (zfs.get_prop on a missing dataset is a fatal error;
-- this saves a zfs.exists per dataset in the txg-holding program); "after" after all changes
-- (the program never destroys a dataset). A result is one of:
--   ok | kept:held | kept:cloned | dropped | check:<ERRNO> | <ERRNO>
-- where <ERRNO> is the errno's name (EEXIST, ...) or its number when it has no name.

local args = ...
local argv = args["argv"]

-- errno number -> name, made on the first failure to name (most runs have none: this
-- program holds the txg, so it does no work it does not need).
local errname = nil
local function ename(code)
    if errname == nil then
        errname = {}
        local names = {
            "EPERM", "ENOENT", "ESRCH", "EINTR", "EIO", "ENXIO", "E2BIG", "ENOEXEC", "EBADF",
            "ECHILD", "EAGAIN", "ENOMEM", "EACCES", "EFAULT", "ENOTBLK", "EBUSY", "EEXIST",
            "EXDEV", "ENODEV", "ENOTDIR", "EISDIR", "EINVAL", "ENFILE", "EMFILE", "ENOTTY",
            "ETXTBSY", "EFBIG", "ENOSPC", "ESPIPE", "EROFS", "EMLINK", "EPIPE", "EDOM", "ERANGE",
            "EDEADLK", "ENOLCK", "ECANCELED", "ENOTSUP", "EDQUOT", "ENAMETOOLONG",
        }
        for _, n in ipairs(names) do
            local v = _G[n]
            if v ~= nil then
                errname[v] = n
            end
        end
    end
    return errname[code] or tostring(code)
end

-- Parse argv into items. An opcode with missing operands is a caller bug: fail before any change.
local ARITY = { G = 1, P = 3, S = 1, B = 2, D = 1, C = 1, K = 0 }
local want_creation = false
local items = {}
local watched = {}
local group = nil
local i = 1
while i <= #argv do
    local op = argv[i]
    local n = ARITY[op]
    if n == nil then
        error("apply: unknown opcode '" .. op .. "' at argument " .. i)
    end
    if i + n > #argv then
        error("apply: opcode '" .. op .. "' at argument " .. i .. " lacks operands")
    end
    if op == "G" then
        group = argv[i + 1]
    elseif op == "C" then
        watched[#watched + 1] = { ds = argv[i + 1] }
    elseif op == "K" then
        want_creation = true
    else
        if group == nil then
            error("apply: item at argument " .. i .. " precedes the first group")
        end
        items[#items + 1] = { op = op, g = group, a = argv[i + 1], b = argv[i + 2], c = argv[i + 3] }
    end
    i = i + n + 1
end

-- 1. Checks.
local alive = {} -- datasets a check showed to exist
local function dataset_of(name)
    local at = string.find(name, "@", 1, true)
    if at == nil then
        return name
    end
    return string.sub(name, 1, at - 1)
end
local failed = {}
for _, it in ipairs(items) do
    local err = 0
    if it.op == "P" then
        err = zfs.check.set_prop(it.a, it.b, it.c)
    elseif it.op == "S" then
        err = zfs.check.snapshot(it.a)
    elseif it.op == "D" then
        err = zfs.check.destroy(it.a)
        if err == EBUSY then
            it.res = "kept:held"
        elseif err == EEXIST then
            it.res = "kept:cloned"
        elseif err ~= 0 then
            it.res = ename(err)
        end
        if err == 0 or err == EBUSY or err == EEXIST then
            alive[dataset_of(it.a)] = true
        end
        err = 0
    end
    if (it.op == "P" and err == 0) or (it.op == "S" and (err == 0 or err == EEXIST)) then
        alive[dataset_of(it.a)] = true
    end
    if err ~= 0 then
        it.res = "check:" .. ename(err)
        failed[it.g] = true
    end
end

-- The snapshots_changed of the watched datasets, before any change.
for _, w in ipairs(watched) do
    if alive[w.ds] then
        w.before = zfs.get_prop(w.ds, "snapshots_changed")
    end
end

-- 2 and 3. Sync what survived.
local txg = nil
local sync_failed = {}
for _, it in ipairs(items) do
    if it.res ~= nil then
        -- reported at check time
    elseif failed[it.g] or (it.op == "D" and sync_failed[it.g]) then
        it.res = "dropped"
    elseif it.op == "P" then
        local err = zfs.sync.set_prop(it.a, it.b, it.c)
        if err == 0 then
            it.res = "ok"
        else
            it.res = ename(err)
            sync_failed[it.g] = true
        end
    elseif it.op == "S" then
        local err = zfs.sync.snapshot(it.a)
        if err == 0 then
            it.res = "ok"
            if txg == nil then
                txg = zfs.get_prop(it.a, "createtxg")
            end
            if want_creation then
                it.creation = zfs.get_prop(it.a, "creation")
            end
        else
            it.res = ename(err)
            sync_failed[it.g] = true
        end
    elseif it.op == "B" then
        local err = zfs.sync.bookmark(it.a, it.b)
        it.res = err == 0 and "ok" or ename(err)
    elseif it.op == "D" then
        local err = zfs.sync.destroy(it.a)
        it.res = err == 0 and "ok" or ename(err)
    end
end

local out = {}
for k, it in ipairs(items) do
    out[k] = it.res
end
local changed = nil
if #watched > 0 then
    local cs = {}
    for k, w in ipairs(watched) do
        if w.before ~= nil then
            cs[k] = w.before .. ":" .. zfs.get_prop(w.ds, "snapshots_changed")
        else
            cs[k] = "-"
        end
    end
    changed = table.concat(cs, " ")
end
local creations = nil
if want_creation then
    local ks = {}
    for _, it in ipairs(items) do
        if it.op == "S" then
            ks[#ks + 1] = it.creation ~= nil and tostring(it.creation) or "-"
        end
    end
    creations = table.concat(ks, " ")
end
return { r = table.concat(out, " "), t = txg, c = changed, k = creations }
