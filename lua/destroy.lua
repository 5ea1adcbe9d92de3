-- destroy.lua: phase 2 of applying one pool's part of a pve-zfs-snap plan: destroys snapshots,
-- each best effort, in one transaction group. apply.lua (phase 1) made the new snapshots
-- before; the caller sends here only destroys whose dataset's new snapshot (if one was
-- planned) was made, and splits a pool's destroys over as many programs as the argv and
-- instruction/memory limits require.
--
-- Run:      zfs program -j [-t N] [-m N] -- <pool> - <tokens>...
-- Needs:    OpenZFS >= 2.0 (the product's minimum; zfs.check/sync.destroy exist since 0.8).
-- Arguments (argv), in two parts separated by one token that is exactly "@":
--   before "@": datasets whose snapshots_changed to report before and after this program
--               (OpenZFS >= 2.2 only; 2.1 raises "not a valid property", so the caller sends
--               none there);
--   after "@":  "<dataset>@" starts a dataset; every following token up to the next token
--               ending in "@" is the short name of one of its snapshots to destroy.
--   No part of a ZFS name may contain "@", so the three kinds of token cannot be confused;
--   the short names travel without their dataset, which keeps the argv small.
-- Order of work (check-then-sync, because a Lua error cannot be caught and earlier changes stay):
--   1. zfs.check.destroy of every snapshot;
--   2. the snapshots_changed of the watched datasets that exist (zfs.exists);
--   3. zfs.sync.destroy of every snapshot whose check returned 0.
-- A snapshot whose check returns EBUSY is kept: "held" when someone holds it (zfs hold),
-- "busy" when its only holds are the temporary `.send-<pid>-<n>` ones of a running
-- `zfs send` (libzfs; a PVE replication's `send -R -I` range: seen on OpenZFS 2.3.2) or it
-- has none (the kernel's long hold of a send in progress); a snapshot with clones (check
-- EEXIST) is kept as "cloned". All are reported: a later run destroys them once released. A snapshot that does not exist counts as
-- destroyed (zfs.check/sync.destroy return 0 for it, openzfs#13844).
-- Returns { r = "<one result per snapshot, in argv order, separated by spaces>",
--           c = "<before>:<after>" per watched dataset in argv order, separated by spaces
--               ("-" for a dataset that does not exist; absent without watched datasets) }
-- where a result is one of: ok | kept:held | kept:busy | kept:cloned | <ERRNO>, and <ERRNO> is the errno's
-- name (EINVAL, ...) or its number when it has no name.

local args = ...
local argv = args["argv"]

-- errno number -> name, made on the first failure to name.
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

-- True when the snapshot has a hold other than a running zfs send's temporary one.
local function has_holds(snap)
    for tag in zfs.list.holds(snap) do
        if string.sub(tag, 1, 6) ~= ".send-" then
            return true
        end
    end
    return false
end

local function is_marker(tok)
    return string.sub(tok, -1) == "@"
end

-- The watched datasets, up to the separator.
local watched = {}
local i = 1
while i <= #argv and argv[i] ~= "@" do
    watched[#watched + 1] = { ds = argv[i] }
    i = i + 1
end
if i > #argv then
    error("destroy: no '@' separator after the watched datasets")
end
local first = i + 1
if first <= #argv and not is_marker(argv[first]) then
    error("destroy: snapshot name '" .. argv[first] .. "' precedes the first '<dataset>@'")
end

-- 1. Checks: one result (or nil: go ahead) per snapshot, in argv order.
local res = {}
local n = 0
local prefix = nil
for k = first, #argv do
    local tok = argv[k]
    if is_marker(tok) then
        prefix = tok
    else
        n = n + 1
        local err = zfs.check.destroy(prefix .. tok)
        if err == EBUSY then
            if has_holds(prefix .. tok) then
                res[n] = "kept:held"
            else
                res[n] = "kept:busy"
            end
        elseif err == EEXIST then
            res[n] = "kept:cloned"
        elseif err ~= 0 then
            res[n] = ename(err)
        end
    end
end

-- 2. The snapshots_changed of the watched datasets, before any change.
for _, w in ipairs(watched) do
    if zfs.exists(w.ds) then
        w.before = zfs.get_prop(w.ds, "snapshots_changed")
    end
end

-- 3. Sync what passed its check.
n = 0
for k = first, #argv do
    local tok = argv[k]
    if is_marker(tok) then
        prefix = tok
    else
        n = n + 1
        if res[n] == nil then
            local err = zfs.sync.destroy(prefix .. tok)
            res[n] = err == 0 and "ok" or ename(err)
        end
    end
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
return { r = table.concat(res, " ", 1, n), c = changed }
