# The native property `readonly` (the README's third-site setup: `zfs create -o readonly=on
# backup/pve1`, then pulls receive below it): its default, a value set locally, inheritance
# by children (filesystems and volumes) and by a received dataset, a bad value.
# (a filesystem created below a readonly parent cannot get its mountpoint directory, and the
# emulator does not model mounts: the children are made first, readonly set after)
zfs create "$POOL/ro"
zfs create "$POOL/ro/fs"
zfs create -s -V 8M "$POOL/ro/vol"
zfs set readonly=on "$POOL/ro"
zfs create "$POOL/rw"
zfs snapshot "$POOL/rw@a"
zfs send "$POOL/rw@a" | zfs recv -u "$POOL/ro/copy"
zfs create -o readonly=on "$POOL/ro2"
zfs send "$POOL/rw@a" | zfs recv -u "$POOL/ro2/copy"
for d in "$POOL" "$POOL/ro" "$POOL/ro/fs" "$POOL/ro/vol" "$POOL/ro/copy" "$POOL/rw" "$POOL/ro2" "$POOL/ro2/copy"; do
    say "${d#"$POOL"}: $(zfs get -H -o value,source readonly "$d" | sed "s#$POOL#POOL#")"
done
zfs set readonly=off "$POOL/ro/fs"
say "set off: $(zfs get -H -o value,source readonly "$POOL/ro/fs")"
rc=0
zfs set readonly=maybe "$POOL/rw" 2>"$CONF_TMP/e" || rc=$?
say "readonly=maybe: exit=$rc"
