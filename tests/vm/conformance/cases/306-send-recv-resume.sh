# recv -s: a stream cut in the middle (half its bytes) leaves the partially received
# snapshot and receive_resume_token; zfs send -t finishes it. Without -s nothing stays.
# recv -A drops the partial state. (On the kernel the source holds 4 MiB per snapshot so
# that half a stream is inside the data.)
zfs create "$POOL/src"
if [ "$MODE" = kernel ]; then dd if=/dev/urandom of="/$POOL/src/f1" bs=1M count=4 status=none; sync; fi
zfs snapshot "$POOL/src@a"
if [ "$MODE" = kernel ]; then dd if=/dev/urandom of="/$POOL/src/f2" bs=1M count=4 status=none; sync; fi
zfs snapshot "$POOL/src@b"
token() { zfs get -H -o value receive_resume_token "$1" | sed 's/^[^-].*/TOKEN/'; }
half() { echo $(($(zfs send "$@" | wc -c) / 2)); }
n=$(half "$POOL/src@a")
cut() { # cut <bytes> "<send args>" "<recv args>"
    set +e
    # shellcheck disable=SC2086
    zfs send $2 | head -c "$1" | zfs recv $3 2>"$CONF_TMP/re"
    local rc=${PIPESTATUS[2]}
    set -e
    echo "== send $2 | (cut) | recv $3"
    echo "exit=$rc"
    sed -e 's/zfs send -t .*/zfs send -t TOKEN/' -e 's/^/  recv| /' "$CONF_TMP/re"
}
cut "$n" "$POOL/src@a" "-u $POOL/dst"
cut "$n" "$POOL/src@a" "-u -s $POOL/dst"
echo "token: $(token "$POOL/dst")"
zfs list -H -o name,type "$POOL/dst"
t=$(zfs get -H -o value receive_resume_token "$POOL/dst")
sr "-t $t" "-u -s $POOL/dst"
echo "token: $(token "$POOL/dst")"
same guid "$POOL/src@a" "$POOL/dst@a"
n=$(half -i @a "$POOL/src@b")
cut "$n" "-i @a $POOL/src@b" "-u $POOL/dst"
echo "token: $(token "$POOL/dst")"
cut "$n" "-i @a $POOL/src@b" "-u -s $POOL/dst"
echo "token: $(token "$POOL/dst")"
sr "-i @a $POOL/src@b" "-u -s $POOL/dst"
rc=0; zfs recv -A "$POOL/dst" 2>&1 || rc=$?
echo "== recv -A: exit=$rc token: $(token "$POOL/dst")"
cut "$n" "-i @a $POOL/src@b" "-u -s $POOL/dst"
t=$(zfs get -H -o value receive_resume_token "$POOL/dst")
sr "-t $t" "-u -s $POOL/dst"
echo "token: $(token "$POOL/dst")"
same guid "$POOL/src@b" "$POOL/dst@b"
rc=0; zfs recv -A "$POOL/dst" 2>"$CONF_TMP/e" || rc=$?
echo "== recv -A again: exit=$rc"; sed 's/^/  | /' "$CONF_TMP/e"
