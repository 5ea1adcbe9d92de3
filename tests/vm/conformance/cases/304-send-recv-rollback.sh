# recv -F: an incremental rolls the target back to the stream's source, destroying the
# target's later snapshots (a held one makes the receive fail); its bookmarks stay. -R -F of an
# incremental replication stream also destroys the target's snapshots that the source no
# longer has (by guid), older ones included.
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
for s in a b c; do zfs snapshot "$POOL/src@$s"; done
sr "$POOL/src@a" "-u $POOL/dst"
zfs snapshot "$POOL/dst@x"
zfs snapshot "$POOL/dst@y"
zfs bookmark "$POOL/dst@x" "$POOL/dst#x"
zfs hold keep "$POOL/dst@y"
sr "-i @a $POOL/src@b" "-u -F $POOL/dst"
zfs release keep "$POOL/dst@y"
sr "-i @a $POOL/src@b" "-u -F $POOL/dst"
# replication: dst2 gets a and b, takes a snapshot of its own; the source drops a
sr "-R $POOL/src@b" "-u $POOL/dst2"
zfs snapshot "$POOL/dst2@local"
zfs bookmark "$POOL/dst2@local" "$POOL/dst2#local"
zfs destroy "$POOL/src@a"
zfs snapshot "$POOL/src@d"
sr "-R -I @b $POOL/src@c" "-u $POOL/dst2"
sr "-R -I @c $POOL/src@d" "-u -F $POOL/dst2"
