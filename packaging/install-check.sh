#!/usr/bin/env bash
# The installed package's checks, on any Debian release (issue 21: bookworm for PVE 8, trixie
# for PVE 9): packaging/ci.sh runs it on the CI host, tests/vm/suite.sh inside the VM images
# (bookworm: 2.3, trixie: 2.4). Needs root, dpkg, man-db, bash-completion and zfsutils-linux
# (the package's dependency); changes the system it runs on (installs, removes and purges
# pve-zfs-snap, writes a test cron file carrying CI_MARK). Refuses to run over a real
# /etc/cron.d/pve-zfs-snap.
#
#   packaging/install-check.sh <pve-zfs-snap_*.deb>
#
# Checks: `dpkg -i` installs it; `--version` equals Cargo.toml's version; `man -w` finds the
# page and it renders without roff warnings; the bash completion loads through bash-completion's
# loader and completes an option; the unit files are shipped and not enabled, no cron file is
# installed; `dpkg -r` leaves only configuration, `dpkg -P` leaves nothing: a cron file with
# pve-zfs-snap's header is removed on purge, a foreign file at the same path is kept, and (where
# systemctl exists) the timer's `systemctl enable` symlink is removed.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive

PKG=pve-zfs-snap
CRON_FILE=/etc/cron.d/pve-zfs-snap
TIMER_LINK=/etc/systemd/system/timers.target.wants/pve-zfs-snap.timer
# Every cron file this script writes carries this line, so that cleanup never deletes another.
CI_MARK='# pve-zfs-snap packaging CI test file'

fail() { echo "install-check: FAIL: $*" >&2; exit 1; }
step() { echo "== $1"; }
if [ $# != 1 ] || [ ! -f "$1" ]; then echo "usage: $0 <pve-zfs-snap_*.deb>" >&2; exit 2; fi
deb=$1
[ "$(id -u)" = 0 ] || fail "must run as root (it installs the package)"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[ -n "$version" ] || fail "no version in Cargo.toml"
for t in dpkg man bash; do command -v "$t" >/dev/null || fail "$t is missing"; done
[ -f /usr/share/bash-completion/bash_completion ] || fail "bash-completion is not installed"
if [ -e "$CRON_FILE" ] && ! grep -qxF "$CI_MARK" "$CRON_FILE"; then
    fail "$CRON_FILE exists and is not a test file of this script: not running the purge tests here"
fi
cleanup() {
    dpkg -P "$PKG" >/dev/null 2>&1 || true
    if [ -f "$CRON_FILE" ] && grep -qxF "$CI_MARK" "$CRON_FILE"; then rm -f "$CRON_FILE"; fi
}
trap cleanup EXIT
cleanup # leftovers of an interrupted run
echo "install-check: $(basename "$deb") on $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release)"

step "dpkg -i"
dpkg -i "$deb"
[ "$(dpkg-query -W -f '${db:Status-Status}' "$PKG")" = installed ] || fail "not installed"
[ -x /usr/sbin/pve-zfs-snap ] || fail "no /usr/sbin/pve-zfs-snap"
[ ! -e "$CRON_FILE" ] || fail "installing wrote $CRON_FILE"
[ ! -e "$TIMER_LINK" ] || fail "installing enabled the timer"

step "version, man page, completions, units"
got=$(/usr/sbin/pve-zfs-snap --version)
[ "$got" = "$PKG $version" ] || fail "--version says '$got', Cargo.toml says $version"
[ "$(man -w "$PKG")" = /usr/share/man/man8/pve-zfs-snap.8.gz ] || fail "man -w: $(man -w "$PKG")"
page=$(MANWIDTH=200 man -P cat "$PKG" 2>&1)
for want in 'pve-zfs-snap(8)' 'System Administration' '--dry-run' 'EXIT STATUS' 'systemctl edit pve-zfs-snap.service'; do
    grep -qF -- "$want" <<<"$page" || fail "man page lacks '$want'"
done
warnings=$(man --warnings -E UTF-8 -l /usr/share/man/man8/pve-zfs-snap.8.gz 2>&1 >/dev/null)
[ -z "$warnings" ] || fail "man page has roff warnings: $warnings"
# Through bash-completion's on-demand loader (checks the file's name and place), then ask the
# loaded function to complete `pve-zfs-snap --dry`.
completed=$(bash -c '
    set -e
    source /usr/share/bash-completion/bash_completion
    _completion_loader pve-zfs-snap || [ $? = 124 ] # 124: "loaded, retry the completion"
    spec=$(complete -p pve-zfs-snap)
    echo "$spec" >&2
    fn=$(sed -n "s/.* -F \([^ ]*\) .*/\1/p" <<<"$spec")
    COMP_WORDS=(pve-zfs-snap --dry); COMP_CWORD=1; COMP_LINE="pve-zfs-snap --dry"; COMP_POINT=${#COMP_LINE}
    "$fn" pve-zfs-snap --dry pve-zfs-snap
    echo "${COMPREPLY[*]}"')
[ "$completed" = "--dry-run" ] || fail "bash completion of '--dry' gave '$completed'"
[ -s /usr/share/zsh/vendor-completions/_pve-zfs-snap ] || fail "no zsh completion"
grep -qx 'ExecStart=/usr/sbin/pve-zfs-snap --cron f100 h24 d7' /lib/systemd/system/pve-zfs-snap.service ||
    fail "service ExecStart"
grep -qx 'OnCalendar=\*:0/15' /lib/systemd/system/pve-zfs-snap.timer || fail "timer OnCalendar"
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify /lib/systemd/system/pve-zfs-snap.service /lib/systemd/system/pve-zfs-snap.timer ||
        fail "systemd-analyze verify"
fi

step "dpkg -r keeps configuration, dpkg -P removes our cron file and the timer link"
# The header render() writes: the MARKER constant, then the rest of render's first line.
marker=$(sed -n 's/^pub const MARKER: &str = "\(.*\)";$/\1/p' src/cron.rs)
rest=$(grep -o '"{MARKER} [^\\]*' src/cron.rs | head -n 1 | sed 's/^"{MARKER}//') || true
header=$marker$rest
{ [ -n "$marker" ] && [ -n "$rest" ]; } || fail "cannot find the cron header (MARKER and render) in src/cron.rs"
printf '%s\n%s\nPATH=/usr/sbin:/usr/bin:/sbin:/bin\n*/15 * * * * root /usr/sbin/pve-zfs-snap --cron f100 h24 d7\n' \
    "$header" "$CI_MARK" >"$CRON_FILE"
if command -v systemctl >/dev/null; then
    systemctl enable pve-zfs-snap.timer 2>&1
    [ -L "$TIMER_LINK" ] || fail "systemctl enable did not create $TIMER_LINK"
else
    echo "install-check: no systemctl here: the timer's enable link is not checked on this system (packaging/ci.sh checks it on the CI host)"
fi
mkdir -p /var/cache/pve-zfs-snap && echo '{}' >/var/cache/pve-zfs-snap/snapshots.json
dpkg -r "$PKG"
[ ! -e /var/cache/pve-zfs-snap ] || fail "dpkg -r kept the snapshot-facts cache /var/cache/pve-zfs-snap"
[ "$(dpkg-query -W -f '${db:Status-Status}' "$PKG")" = config-files ] || fail "not in config-files state after dpkg -r"
for f in /usr/sbin/pve-zfs-snap /usr/share/man/man8/pve-zfs-snap.8.gz /lib/systemd/system/pve-zfs-snap.timer \
    /usr/share/bash-completion/completions/pve-zfs-snap /usr/share/doc/pve-zfs-snap; do
    [ ! -e "$f" ] || fail "$f left after dpkg -r"
done
[ -f "$CRON_FILE" ] || fail "dpkg -r removed the cron file (configuration is kept until purge)"
dpkg -P "$PKG"
[ ! -e "$CRON_FILE" ] || fail "purge kept the cron file pve-zfs-snap wrote"
[ ! -L "$TIMER_LINK" ] || fail "purge kept $TIMER_LINK"
if dpkg-query -W "$PKG" >/dev/null 2>&1; then fail "dpkg still knows $PKG after purge"; fi

step "dpkg -P keeps a foreign cron file"
dpkg -i "$deb" >/dev/null
printf '# my own snapshot job\n%s\n0 * * * * root /usr/sbin/pve-zfs-snap --cron h24\n' "$CI_MARK" >"$CRON_FILE"
purge_out=$(dpkg -P "$PKG" 2>&1)
echo "$purge_out"
[ -f "$CRON_FILE" ] || fail "purge removed a cron file pve-zfs-snap did not write"
grep -qF "keeping $CRON_FILE" <<<"$purge_out" || fail "purge did not say it kept $CRON_FILE"
rm -f "$CRON_FILE"
if dpkg-query -W "$PKG" >/dev/null 2>&1; then fail "dpkg still knows $PKG after purge"; fi

echo "install-check passed: $(basename "$deb") on $(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)"
