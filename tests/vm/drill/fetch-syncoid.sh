#!/usr/bin/env bash
# Host side, for the drill (tests/vm/drill.sh): bring Debian's syncoid into the VM, which has no
# network. Downloads the `sanoid` packages of bookworm (2.1.0) and trixie (2.2.x) and their
# pure-Perl dependency `libcapture-tiny-perl` with apt, and unpacks them (`dpkg-deb -x`) under
#   tests/vm/cache/syncoid/<version>/        (usr/sbin/syncoid …)
#   tests/vm/cache/syncoid/perl-5.36/        (bookworm's perl-modules-5.36 + libperl5.36 + Capture::Tiny:
#                                             a PERL5LIB for images whose perl is only perl-base 5.36)
# The host's apt configuration is NOT changed: apt runs with a private source list, lists and
# cache under tests/vm/cache/apt (so no trixie source, no pin, nothing installed on the host).
# Idempotent: does nothing when the unpacked trees are there. Prints the versions it holds.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${DRILL_SYNCOID_CACHE:-$(cd "$HERE/.." && pwd)/cache/syncoid}
APTDIR=$(dirname "$CACHE")/apt
mkdir -p "$CACHE"

have() { [ -x "$CACHE/2.1.0/usr/sbin/syncoid" ] && ls -d "$CACHE"/2.2.*/usr/sbin/syncoid >/dev/null 2>&1 &&
    [ -d "$CACHE/perl-5.36/usr/share/perl5" ]; }
if have; then
    ls "$CACHE"
    exit 0
fi
command -v apt-get >/dev/null || { echo "fetch-syncoid: apt-get missing" >&2; exit 1; }
KEY=/usr/share/keyrings/debian-archive-keyring.gpg
mkdir -p "$APTDIR/lists/partial" "$APTDIR/archives/partial"
cat >"$APTDIR/sources.list" <<EOF
deb [signed-by=$KEY] http://deb.debian.org/debian bookworm main
deb [signed-by=$KEY] http://deb.debian.org/debian trixie main
EOF
APT=(-o "Dir::Etc::SourceList=$APTDIR/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$APTDIR/lists" -o "Dir::Cache=$APTDIR" -o "Dir::Cache::archives=$APTDIR/archives"
    -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null -o APT::Get::List-Cleanup=0)
apt-get "${APT[@]}" -q update >/dev/null
# The exact versions per suite, from the private lists.
ver() { # ver <package> <suite>
    apt-cache "${APT[@]}" madison "$1" | awk -F'|' -v s="$2" '$3 ~ " "s"/" {gsub(/ /, "", $2); print $2; exit}'
}
v21=$(ver sanoid bookworm)
v22=$(ver sanoid trixie)
vct=$(ver libcapture-tiny-perl bookworm)
vpm=$(ver perl-modules-5.36 bookworm)
vlp=$(ver libperl5.36 bookworm)
for v in "$v21" "$v22" "$vct" "$vpm" "$vlp"; do [ -n "$v" ] || { echo "fetch-syncoid: a package is missing from the lists" >&2; exit 1; }; done
cd "$APTDIR/archives"
apt-get "${APT[@]}" -q download "sanoid=$v21" "sanoid=$v22" "libcapture-tiny-perl=$vct" \
    "perl-modules-5.36=$vpm" "libperl5.36=$vlp" >/dev/null
unpack() { # unpack <deb> <dir>
    mkdir -p "$2"
    dpkg-deb -x "$1" "$2"
}
for v in "$v21" "$v22"; do
    up=${v%%-*}                     # 2.1.0-1.1 -> 2.1.0
    deb=$(ls sanoid_"${v//:/%3a}"_*.deb)
    rm -rf "${CACHE:?}/$up"
    unpack "$deb" "$CACHE/$up"
    unpack "$(ls libcapture-tiny-perl_"$vct"_*.deb)" "$CACHE/$up"
done
rm -rf "$CACHE/perl-5.36"
unpack "$(ls perl-modules-5.36_*"${vpm#*:}"_*.deb)" "$CACHE/perl-5.36"
unpack "$(ls libperl5.36_*"${vlp#*:}"_*.deb)" "$CACHE/perl-5.36"
unpack "$(ls libcapture-tiny-perl_"$vct"_*.deb)" "$CACHE/perl-5.36"
rm -rf "$CACHE/perl-5.36/usr/share/doc" "$CACHE/perl-5.36/usr/share/man"
have || { echo "fetch-syncoid: unpacking failed" >&2; exit 1; }
echo "sanoid $v21 (bookworm), sanoid $v22 (trixie), libcapture-tiny-perl $vct, perl modules $vpm" >"$CACHE/VERSIONS"
ls "$CACHE"
