# zfs send -I: every snapshot between the source and the target snapshot, in order, each
# with its guid; -R -I the same as a replication stream.
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
for s in a b c d e; do zfs snapshot "$POOL/src@$s"; done
sr "$POOL/src@a" "-u $POOL/dst"
sr "-I @a $POOL/src@c" "-u $POOL/dst"
for s in b c; do same guid "$POOL/src@$s" "$POOL/dst@$s"; done
sr "-R -I $POOL/src@c $POOL/src@e" "-u $POOL/dst"
for s in d e; do same guid "$POOL/src@$s" "$POOL/dst@$s"; done
same creation "$POOL/src@e" "$POOL/dst@e"
# a later incremental source than the target snapshot
sr "-I @e $POOL/src@b" "-u $POOL/dst"
