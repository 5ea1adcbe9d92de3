# Incremental receives need the stream's source snapshot on the target, by guid (the same
# name is not enough): otherwise 'most recent snapshot ... does not match incremental source'.
# Without -F the source need not be the target's newest snapshot when the target is unchanged
# since it (dmu_recv.c): later snapshots stay and the new one comes after them.
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
for s in a b c d; do zfs snapshot "$POOL/src@$s"; done
sr "$POOL/src@b" "-u $POOL/dst"
sr "-i @a $POOL/src@c" "-u $POOL/dst"
sr "-i @a $POOL/src@c" "-u -F $POOL/dst"
zfs create "$POOL/other"
zfs snapshot "$POOL/other@a"
sr "-i @a $POOL/src@b" "-u -F $POOL/other"
# an older common snapshot without -F
zfs snapshot "$POOL/dst@later"
sr "-i @b $POOL/src@c" "-u $POOL/dst"
zfs list -H -o name -s createtxg -t snapshot "$POOL/dst"
# the same snapshot again: already there by guid, skipped
sr "-i @b $POOL/src@c" "-u $POOL/dst"
