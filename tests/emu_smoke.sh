#!/usr/bin/env bash
# Shell-level smoke test of the zfs-emu stand-in: symlinks named zfs/zpool first on PATH,
# a state file, and the commands the product runs. Usage: tests/emu_smoke.sh [path/to/zfs-emu]
set -eu
BIN=${1:-$(dirname "$0")/../target/debug/zfs-emu}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
[ -x "$BIN" ] || { echo "emu_smoke: $BIN not built (cargo build -p zfs-emu)" >&2; exit 1; }
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
ln -s "$BIN" "$DIR/zfs"
ln -s "$BIN" "$DIR/zpool"
PATH="$DIR:$PATH"
export ZFS_EMU_STATE="$DIR/state.json" ZFS_EMU_NOW=1700000000 ZFS_EMU_SEED=1
fail() { echo "emu_smoke: FAIL: $*" >&2; exit 1; }
expect() { [ "$1" = "$2" ] || fail "$3: got [$1], want [$2]"; }

"$BIN" --help | grep -q ZFS_EMU_STATE || fail "--help"
zpool create rpool /dev/vdb
expect "$(zpool list -H -o name)" "rpool" "zpool list"
zfs create -p rpool/data/vm-100-disk-0
zfs set label:running=node1 rpool/data
expect "$(zfs get -H -p -o value,source label:running rpool/data/vm-100-disk-0)" \
  "node1	inherited from rpool/data" "zfs get"
out=$(zfs program -j -- rpool - rpool/data/vm-100-disk-0 <<'LUA'
local args = ...
local ds = args.argv[1]
local a = zfs.sync.snapshot(ds .. "@one")
local b = zfs.sync.snapshot(ds .. "@two")
return {a = a, b = b, d = zfs.sync.destroy(ds .. "#nobm")}
LUA
)
echo "$out" | grep -q '"a":0' || fail "snapshot: $out"
echo "$out" | grep -q '"b":11' || fail "EAGAIN: $out"
echo "$out" | grep -q '"d":2' || fail "bookmark destroy: $out"
expect "$(zfs list -H -o name -t snapshot rpool/data/vm-100-disk-0)" "rpool/data/vm-100-disk-0@one" "list"
set +e
zfs program -j rpool - <<<'return 1.5' 2>"$DIR/err"; rc=$?
set -e
expect "$rc" 1 "float literal exit code"
grep -q "malformed number near '1.5'" "$DIR/err" || fail "float message"
expect "$(ZFS_EMU_VERSION=2.1.11 zfs version | head -1)" "zfs-2.1.11-1" "version"
expect "$(ZFS_EMU_VERSION=2.1.11 zfs program -j rpool - <<<'return zfs.sync.rename_snapshot == nil')" \
  '{"return":true}' "version gating"
# concurrent invocations do not lose updates
for i in 1 2 3 4 5 6; do zfs create "rpool/c$i" & done
wait
expect "$(zfs list -H -o name -r rpool | grep -c '^rpool/c')" 6 "concurrent creates"
# fault injection (ZFS_EMU_FAULTS): a bad spec is a usage error, a kill is a real SIGKILL
# that keeps the change, a hang sleeps first, fail-exec fails at once
set +e
ZFS_EMU_FAULTS=bogus:1 zfs version >/dev/null 2>"$DIR/err"; rc=$?
set -e
expect "$rc" 2 "bad fault spec exit code"
grep -q "ZFS_EMU_FAULTS" "$DIR/err" || fail "bad fault spec message"
"$BIN" --help | grep -q "kill-after" || fail "--help documents the faults"
set +e
out=$(ZFS_EMU_FAULTS=kill-after:1 zfs program -j -- rpool - rpool/data/vm-100-disk-0 2>&1 <<'LUA'
local ds = ...
zfs.sync.snapshot(ds.argv[1] .. "@killed")
return "finished"
LUA
); rc=$?
set -e
expect "$rc" 137 "killed program exit status"
expect "$out" "" "killed program output"
zfs list -H -o name rpool/data/vm-100-disk-0@killed >/dev/null || fail "the killed program's snapshot stays"
start=$(date +%s)
ZFS_EMU_FAULTS=hang:version:1 zfs version | grep -q "^zfs-" || fail "hang then run"
[ $(( $(date +%s) - start )) -ge 1 ] || fail "hang:version:1 did not sleep"
set +e
ZFS_EMU_FAULTS=fail-exec:list zfs list >/dev/null 2>"$DIR/err"; rc=$?
set -e
expect "$rc" 1 "fail-exec exit code"
grep -q "modules are not loaded" "$DIR/err" || fail "fail-exec message"
# send | recv through a pipe: a full, a cut resumable receive (head -c) finished with send -t,
# an incremental from a bookmark, the kernel's mismatch message
zfs create -V 8M rpool/src
zfs set label:running=pve1 rpool/src
zfs snapshot rpool/src@s1
zfs snapshot rpool/src@s2
zfs bookmark rpool/src@s1 rpool/src#s1
zfs send -p rpool/src@s1 | zfs recv rpool/dst
size=$(zfs send -p -i '#s1' rpool/src@s2 | wc -c)
set +e
zfs send -p -i '#s1' rpool/src@s2 | head -c $((size / 2)) | zfs recv -s rpool/dst 2>"$DIR/err"; rc=$?
set -e
expect "$rc" 1 "cut receive exit code"
grep -q "Partially received snapshot is saved" "$DIR/err" || fail "cut receive message"
token=$(zfs get -H -o value receive_resume_token rpool/dst)
[ "$token" != "-" ] || fail "no receive_resume_token"
zfs send -t "$token" | zfs recv -s rpool/dst
expect "$(zfs get -H -o value receive_resume_token rpool/dst)" "-" "token gone after resume"
expect "$(zfs get -H -o value guid rpool/dst@s2)" "$(zfs get -H -o value guid rpool/src@s2)" "guid kept"
expect "$(zfs get -H -o value,source label:running rpool/dst)" "$(printf 'pve1\treceived')" "received label"
set +e
zfs send -i @s1 rpool/src@s2 | zfs recv rpool/dst2 2>"$DIR/err"; rc=$?
set -e
expect "$rc" 1 "incremental into a missing target"
grep -q "cannot receive incremental stream: destination 'rpool/dst2' does not exist" "$DIR/err" ||
  fail "missing target message"
echo "emu_smoke: ok"
