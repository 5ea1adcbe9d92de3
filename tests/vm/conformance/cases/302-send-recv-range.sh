# zfs send -I: every snapshot between the source and the target snapshot, in order, each
# with its guid; -R -I the same as a replication stream.
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
