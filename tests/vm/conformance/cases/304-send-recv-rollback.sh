# recv -F: an incremental rolls the target back to the stream's source, destroying the
# target's later snapshots (a held one makes the receive fail); its bookmarks stay. -R -F of an
# incremental replication stream also destroys the target's snapshots that the source no
# longer has (by guid), older ones included.
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
