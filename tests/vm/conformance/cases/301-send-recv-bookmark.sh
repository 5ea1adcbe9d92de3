# zfs send -i from a bookmark: the source's snapshot is gone, its bookmark still names it;
# bookmarks are never sent; -I and -R cannot start from a bookmark.
# sr "<send args>" "<recv args>": zfs send | zfs recv (word-split args), printing both exit
# codes and stderrs (no sizes, no stream bytes; a resume token shows as TOKEN).
sr() {
    set +e
    # shellcheck disable=SC2086
    zfs send $1 2>"$CONF_TMP/se" | zfs recv $2 >/dev/null 2>"$CONF_TMP/re"
    local st=("${PIPESTATUS[@]}")
    # A sender killed by SIGPIPE (141) because the receiver failed and stopped reading: whether
    # the stream still fitted the pipe buffer first is by nature, not by ZFS version.
    [ "${st[0]}" = 141 ] && [ "${st[1]}" != 0 ] && st[0]=0
    set -e
    echo "== send $1 | recv $2" | sed 's/-t [^ ]*/-t TOKEN/'
    echo "exit=${st[0]},${st[1]}"
    sed -e 's/^/  send| /' "$CONF_TMP/se"
    sed -e 's/zfs send -t .*/zfs send -t TOKEN/' -e 's/^/  recv| /' "$CONF_TMP/re"
}
# same <prop> <name1> <name2>: whether a property is equal on both (guid, creation).
same() {
    local a b
    a=$(zfs get -H -p -o value "$1" "$2")
    b=$(zfs get -H -p -o value "$1" "$3")
    if [ "$a" = "$b" ]; then say "$1 of $2 = $3: yes"; else say "$1 of $2 = $3: no"; fi
}
zfs create "$POOL/src"
zfs snapshot "$POOL/src@a"
zfs snapshot "$POOL/src@b"
zfs snapshot "$POOL/src@c"
zfs bookmark "$POOL/src@a" "$POOL/src#a"
zfs bookmark "$POOL/src@b" "$POOL/src#b"
sr "$POOL/src@a" "-u $POOL/dst"
zfs destroy "$POOL/src@a"
sr "-i #a $POOL/src@b" "-u $POOL/dst"
same guid "$POOL/src@b" "$POOL/dst@b"
sr "-i $POOL/src#b $POOL/src@c" "-u $POOL/dst"
same guid "$POOL/src#b" "$POOL/dst@b"
sr "-I #b $POOL/src@c" "-u $POOL/dst2"
sr "-R -i #b $POOL/src@c" "-u $POOL/dst2"
sr "-i #nope $POOL/src@c" "-u $POOL/dst2"
