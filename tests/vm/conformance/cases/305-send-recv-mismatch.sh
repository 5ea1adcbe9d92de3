# Incremental receives need the stream's source snapshot on the target, by guid (the same
# name is not enough): otherwise 'most recent snapshot ... does not match incremental source'.
# Without -F the source need not be the target's newest snapshot when the target is unchanged
# since it (dmu_recv.c): later snapshots stay and the new one comes after them.
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
