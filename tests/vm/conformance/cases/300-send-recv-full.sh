# zfs send | zfs recv, full streams: a new dataset with the source's guids and creation
# times; with -p the dataset's own user properties arrive as received ones (inherited ones do
# not travel); into an existing dataset only with -F and no snapshots; errors.
zfs create "$POOL/par"
zfs set com.example:inh=parent "$POOL/par"
zfs create "$POOL/par/src"
zfs set com.example:x=1 "$POOL/par/src"
zfs snapshot "$POOL/par/src@a"
zfs snapshot "$POOL/par/src@b"
sr "$POOL/par/src@a" "-u $POOL/dst"
same guid "$POOL/par/src@a" "$POOL/dst@a"
same creation "$POOL/par/src@a" "$POOL/dst@a"
sr "-p $POOL/par/src@b" "-u $POOL/dstp"
same guid "$POOL/par/src@b" "$POOL/dstp@b"
sr "-R $POOL/par/src@b" "-u $POOL/dstr"
same guid "$POOL/par/src@a" "$POOL/dstr@a"
# errors: exists without -F, -F onto snapshots, a missing parent, a missing target of an
# incremental, empty input and a non-stream
sr "$POOL/par/src@a" "-u $POOL/dst"
sr "$POOL/par/src@b" "-u -F $POOL/dst"
sr "$POOL/par/src@a" "-u $POOL/nope/dst"
sr "-i @a $POOL/par/src@b" "-u $POOL/nope2"
sr "$POOL/par/src@zz" "-u $POOL/dst9"
rc=0
zfs recv "$POOL/dst8" </dev/null 2>"$CONF_TMP/e" || rc=$?
echo "== recv of nothing: exit=$rc"; sed 's/^/  | /' "$CONF_TMP/e"
rc=0
head -c 400 /dev/zero | zfs recv "$POOL/dst8" 2>"$CONF_TMP/e" || rc=$?
echo "== recv of zeros: exit=$rc"; sed 's/^/  | /' "$CONF_TMP/e"
