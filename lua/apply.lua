-- apply.lua: phase 1 of applying one pool's part of a pve-zfs-snap plan: label changes, new
-- snapshots and their bookmarks, in a single transaction group. Destroys never come here: they
-- run afterwards in destroy.lua programs (phase 2), so that no destroy can block or fail a
-- snapshot (docs/ARCHITECTURE.md, "Apply in two phases per pool").
--
-- Run:      zfs program -j [-t N] [-m N] -- <pool> - <item tokens>...
-- Needs:    OpenZFS >= 2.0 (zfs.sync.set_prop, zfs.sync.bookmark).
-- Arguments (argv): a flat token list; every item starts with an opcode:
--   G <group>                        starts a group (a guest); the items up to the next G belong to it
--   P <dataset> <property> <value>   set a user property (value is a string)
--   S <dataset>@<snap>               create a snapshot
--   B <dataset>@<snap> <dataset>#<bm> create a bookmark of a snapshot (made earlier in this program or not)
--   K                                report the creation time of every snapshot made (`k`)
--   C <dataset>                      report the dataset's snapshots_changed before and after
--                                    this program (OpenZFS >= 2.2 only; 2.1 raises "not a
--                                    valid property", so the caller sends none there)
-- Every item but C and K belongs to a group; a G item itself gets no result; C items get no
-- result in `r` but one entry in `c`; K gets none.
-- Order of work (check-then-sync, because a Lua error cannot be caught and earlier changes stay):
--   1. every zfs.check.* of every P and S item;
--   2. a group in which a check failed is dropped whole (a guest's disks are all-or-nothing);
--   3. the remaining items run with zfs.sync.*, group by group, in argv order.
-- Bookmarks have no check: their source snapshot is usually created in this same program.
-- Returns { r = "<one result per item, in argv order, separated by spaces>", t = <createtxg of the
-- first snapshot created, absent if none>, c = "<before>:<after>" per C item in argv order,
-- separated by spaces ("-" for a dataset that does not exist; absent without C items), k =
-- "<creation>" per S item in argv order, separated by spaces ("-" for one not made; absent
-- without K) }.
-- "before" is read after the checks, before any change of this program, and only for a
-- dataset some check showed to exist (zfs.get_prop on a missing dataset is a fatal error;
-- this saves a zfs.exists per dataset in the txg-holding program); "after" after all changes
-- (the program never destroys a dataset). A result is one of:
--   ok | dropped | check:<ERRNO> | <ERRNO>
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

-- Parse argv into items, kept as parallel arrays (argv index of the opcode, group, result)
-- rather than a table per item: a fraction of the memory. An opcode with missing operands is
-- a caller bug: fail before any change.
local ARITY = { G = 1, P = 3, S = 1, B = 2, C = 1, K = 0 }
local want_creation = false
local at = {}  -- item -> argv index of its opcode
local grp = {} -- item -> its group
local res = {} -- item -> its result
local cre = {} -- item -> creation of the snapshot it made (S items)
local watched = {}
local before = {}
local group = nil
local n_items = 0
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
        watched[#watched + 1] = argv[i + 1]
    elseif op == "K" then
        want_creation = true
    else
        if group == nil then
            error("apply: item at argument " .. i .. " precedes the first group")
        end
        n_items = n_items + 1
        at[n_items] = i
        grp[n_items] = group
    end
    i = i + n + 1
end

-- 1. Checks.
local alive = {} -- datasets a check showed to exist
local function dataset_of(name)
    local p = string.find(name, "@", 1, true)
    if p == nil then
        return name
    end
    return string.sub(name, 1, p - 1)
end
local failed = {}
for k = 1, n_items do
    local j = at[k]
    local op = argv[j]
    local err = 0
    if op == "P" then
        err = zfs.check.set_prop(argv[j + 1], argv[j + 2], argv[j + 3])
    elseif op == "S" then
        err = zfs.check.snapshot(argv[j + 1])
    end
    if (op == "P" and err == 0) or (op == "S" and (err == 0 or err == EEXIST)) then
        alive[dataset_of(argv[j + 1])] = true
    end
    if err ~= 0 then
        res[k] = "check:" .. ename(err)
        failed[grp[k]] = true
    end
end

-- The snapshots_changed of the watched datasets, before any change.
for w, ds in ipairs(watched) do
    if alive[ds] then
        before[w] = zfs.get_prop(ds, "snapshots_changed")
    end
end

-- 2 and 3. Sync what survived.
local txg = nil
for k = 1, n_items do
    local j = at[k]
    local op = argv[j]
    if res[k] ~= nil then
        -- reported at check time
    elseif failed[grp[k]] then
        res[k] = "dropped"
    elseif op == "P" then
        local err = zfs.sync.set_prop(argv[j + 1], argv[j + 2], argv[j + 3])
        res[k] = err == 0 and "ok" or ename(err)
    elseif op == "S" then
        local err = zfs.sync.snapshot(argv[j + 1])
        if err == 0 then
            res[k] = "ok"
            if txg == nil then
                txg = zfs.get_prop(argv[j + 1], "createtxg")
            end
            if want_creation then
                cre[k] = zfs.get_prop(argv[j + 1], "creation")
            end
        else
            res[k] = ename(err)
        end
    elseif op == "B" then
        local err = zfs.sync.bookmark(argv[j + 1], argv[j + 2])
        res[k] = err == 0 and "ok" or ename(err)
    end
end

local changed = nil
if #watched > 0 then
    local cs = {}
    for w, ds in ipairs(watched) do
        if before[w] ~= nil then
            cs[w] = before[w] .. ":" .. zfs.get_prop(ds, "snapshots_changed")
        else
            cs[w] = "-"
        end
    end
    changed = table.concat(cs, " ")
end
local creations = nil
if want_creation then
    local ks = {}
    for k = 1, n_items do
        if argv[at[k]] == "S" then
            ks[#ks + 1] = cre[k] ~= nil and tostring(cre[k]) or "-"
        end
    end
    creations = table.concat(ks, " ")
end
return { r = table.concat(res, " ", 1, n_items), t = txg, c = changed, k = creations }
