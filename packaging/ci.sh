#!/usr/bin/env bash
# Packaging CI (issue 8), run by .ci/run on a Debian 12 machine as root. It changes this
# machine: it adds `contrib` to apt, installs lintian, man-db, bash-completion and the real
# zfsutils-linux (from contrib; it installs without the kernel module, its postinst only warns
# that modprobe is missing, so no stand-in package is needed), installs pve-zfs-snap with dpkg,
# then removes and purges it again. It refuses to run over a real /etc/cron.d/pve-zfs-snap.
#
# Checks: the .deb builds from this checkout (packaging/build-deb.sh); lintian shows no error and
# no warning that packaging/lintian-overrides does not explain; then packaging/install-check.sh
# (the same checks run inside the bookworm and trixie VM images, tests/vm/suite.sh): `dpkg -i`
# installs it with its dependency; the man page renders; `--version` equals Cargo.toml's version; the bash completion
# loads through bash-completion's loader and completes an option; the unit files are shipped and
# not enabled, no cron file is installed; `dpkg -r` leaves only configuration, `dpkg -P` leaves
# nothing: a cron file with pve-zfs-snap's header is removed on purge, a foreign file at the
# same path is kept, and the timer's `systemctl enable` symlink is removed.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive

PKG=pve-zfs-snap
CRON_FILE=/etc/cron.d/pve-zfs-snap
# Every cron file this script writes carries this line, so that cleanup never deletes another.
CI_MARK='# pve-zfs-snap packaging CI test file'

fail() { echo "ci: FAIL: $*" >&2; exit 1; }
timings=()
step_name=
step_start=$SECONDS
step() {
    if [ -n "$step_name" ]; then timings+=("$(printf '%4ds  %s' $((SECONDS - step_start)) "$step_name")"); fi
    step_name=$1
    step_start=$SECONDS
    echo "== $1"
}
cleanup() {
    dpkg -P "$PKG" >/dev/null 2>&1 || true
    if [ -f "$CRON_FILE" ] && grep -qxF "$CI_MARK" "$CRON_FILE"; then rm -f "$CRON_FILE"; fi
}

[ "$(id -u)" = 0 ] || fail "must run as root (it installs packages)"
[ -r /etc/os-release ] && . /etc/os-release
codename=${VERSION_CODENAME:?not a Debian system (no VERSION_CODENAME in /etc/os-release)}
if [ -e "$CRON_FILE" ] && ! grep -qxF "$CI_MARK" "$CRON_FILE"; then
    fail "$CRON_FILE exists and is not a test file of this script: not running the purge tests here"
fi
trap cleanup EXIT
cleanup # leftovers of an interrupted run

step "apt: contrib component, lintian man-db bash-completion zfsutils-linux"
# zfsutils-linux is in contrib. Enabled already (by us, by tests/vm/setup-host.sh's own file, or
# by the admin)? Then leave apt alone; else add contrib to the Components of the main archive's
# stanza(s) in the deb822 debian.sources (not -security, which has no zfs).
# shellcheck disable=SC2016 # apt's own $(FIELD) syntax, not a shell expansion
if ! apt-get indextargets --format '$(RELEASE) $(COMPONENT)' | grep -qx "$codename contrib"; then
    src=/etc/apt/sources.list.d/debian.sources
    [ -f "$src" ] || fail "contrib is not enabled and there is no $src to add it to"
    cp "$src" "$src.bak-pve-zfs-snap"
    awk -v codename="$codename" '
        function flush() {
            if (is_main && comp_line && block[comp_line] !~ /(^|[ \t])contrib([ \t]|$)/)
                block[comp_line] = block[comp_line] " contrib"
            for (i = 1; i <= n; i++) print block[i]
            n = 0; is_main = 0; comp_line = 0
        }
        /^[ \t]*$/ { flush(); print; next }
        {
            block[++n] = $0
            if ($0 ~ /^Suites:/ && (" " $0 " ") ~ (" " codename " ")) is_main = 1
            if ($0 ~ /^Components:/) comp_line = n
        }
        END { flush() }
    ' "$src.bak-pve-zfs-snap" >"$src"
    echo "added contrib to $src (backup: $src.bak-pve-zfs-snap)"
    # shellcheck disable=SC2016 # apt's own $(FIELD) syntax
    apt-get indextargets --format '$(RELEASE) $(COMPONENT)' | grep -qx "$codename contrib" ||
        fail "could not enable contrib in $src"
    need_update=1
fi
needed=(lintian man-db bash-completion zfsutils-linux)
missing=()
for p in "${needed[@]}"; do
    dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ] || [ -n "${need_update:-}" ]; then
    apt-get update -q >/dev/null
fi
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v zfs >/dev/null || fail "zfsutils-linux installed but no zfs command"

step "build the .deb (packaging/build-deb.sh)"
deb=$(packaging/build-deb.sh | tail -n 1)
echo "$deb"
# .ci/run: the VM tier's install checks (bookworm and trixie images) wait for this path.
if [ -n "${CI_DEB_FILE:-}" ]; then echo "$deb" >"$CI_DEB_FILE"; fi
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[ -n "$version" ] || fail "no version in Cargo.toml"
case "$(basename "$deb")" in
"${PKG}_${version}-"*.deb) ;;
*) fail "$deb is not named after version $version" ;;
esac
contents=$(dpkg-deb -c "$deb")
if grep -q 'zfs-emu' <<<"$contents"; then fail "the test tool zfs-emu is in the package"; fi
if grep -q '\./etc/' <<<"$contents"; then fail "the package ships files in /etc: $(grep '\./etc/' <<<"$contents")"; fi

step "lintian (errors and unexplained warnings fail; overrides: packaging/lintian-overrides)"
# lintian counts overridden tags under --show-overrides, so the gate and the listing are two runs.
lintian --show-overrides "$deb" 2>&1 | grep -v 'running with root privileges' || true
lintian --fail-on error,warning --display-info "$deb" 2>&1 | grep -v 'running with root privileges' || true
lintian --fail-on error,warning "$deb" >/dev/null 2>&1 || fail "lintian: an error or an unexplained warning"

step "the installed package (packaging/install-check.sh: dpkg -i, version, man, completion, units, remove, purge)"
packaging/install-check.sh "$deb"
step "done"
echo "== timings"
printf '%s\n' "${timings[@]}"
echo "packaging CI passed: $deb"
