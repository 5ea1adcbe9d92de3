# Received properties (issue 18): the first property-carrying receive (-p or -R) into an
# existing dataset clears its local user properties; later ones replace only the received
# values, so a local value set in between stays and masks the received one (zfs inherit -S
# reverts to it). A stream without -p changes no property.
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
zfs set label:running=pve1 "$POOL/src"
zfs set com.example:keep=x "$POOL/src"
zfs snapshot "$POOL/src@a"
sr "$POOL/src@a" "-u $POOL/dst"
zfs set label:running=pve2 "$POOL/dst"
zfs set com.example:mine=1 "$POOL/dst"
zfs snapshot "$POOL/src@b"
sr "-i @a $POOL/src@b" "-u $POOL/dst"
zfs get -H -o name,property,value,source label:running,com.example:mine "$POOL/dst"
zfs snapshot "$POOL/src@c"
sr "-Rp -I @b $POOL/src@c" "-u -F $POOL/dst"
zfs get -H -o name,property,value,source label:running,com.example:mine,com.example:keep "$POOL/dst"
zfs set label:running=pve3 "$POOL/dst"
zfs set label:running=pve4 "$POOL/src"
zfs inherit com.example:keep "$POOL/src"
zfs snapshot "$POOL/src@d"
sr "-Rp -I @c $POOL/src@d" "-u -F $POOL/dst"
zfs get -H -o name,property,value,source label:running,com.example:keep "$POOL/dst"
zfs inherit -S label:running "$POOL/dst"
zfs get -H -o name,property,value,source label:running "$POOL/dst"
