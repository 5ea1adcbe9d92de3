//! `zfs send | zfs recv` in one process: the stream of one `zfs_main` fed to another.

use super::super::{Version, World, cli, faults::Faults};
use super::*;

fn sv(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn world() -> World {
    let mut w = World::new(Version::default());
    w.set_clock(1_700_000_000);
    assert_eq!(cli::zpool_main(&mut w, &sv("create tank /dev/x")).0, 0);
    w
}

/// Runs a `zfs` command line that must succeed.
fn ok(w: &mut World, line: &str) -> String {
    let (code, out, e) = cli::zfs_main(w, &sv(line), "");
    assert_eq!(code, 0, "{line}: {e}");
    out
}

/// `zfs <send> | zfs <recv>`: the send must succeed; the receive's outcome.
fn pipe(w: &mut World, send: &str, recv: &str) -> Out {
    let (code, stream, e) = cli::zfs_main(w, &sv(send), "");
    assert_eq!(code, 0, "{send}: {e}");
    cli::zfs_main(w, &sv(recv), &stream)
}

fn pipe_ok(w: &mut World, send: &str, recv: &str) {
    let (code, _, e) = pipe(w, send, recv);
    assert_eq!(code, 0, "{send} | {recv}: {e}");
}

/// `name guid` of the snapshots of `ds`, oldest first.
fn snaps(w: &mut World, ds: &str) -> Vec<String> {
    ok(w, &format!("list -H -o name -t snapshot {ds}"))
        .lines()
        .map(|l| l.rsplit('@').next().unwrap().to_string())
        .collect()
}

fn get(w: &mut World, prop: &str, name: &str) -> String {
    ok(w, &format!("get -H -o value {prop} {name}"))
        .trim_end()
        .to_string()
}

/// A source `tank/src` (volume) with snapshots a, b, c and bookmark #a.
fn source(w: &mut World) {
    ok(w, "create -V 8M tank/src");
    for s in ["a", "b", "c"] {
        ok(w, &format!("snapshot tank/src@{s}"));
    }
    ok(w, "bookmark tank/src@a tank/src#a");
}

#[test]
fn received_snapshots_keep_guid_and_creation_and_get_the_targets_txgs() {
    let mut w = world();
    source(&mut w);
    w.set_clock(1_700_000_500);
    pipe_ok(&mut w, "send tank/src@a", "recv tank/dst");
    assert_eq!(
        get(&mut w, "guid", "tank/dst@a"),
        get(&mut w, "guid", "tank/src@a")
    );
    assert_eq!(
        get(&mut w, "creation", "tank/dst@a"),
        get(&mut w, "creation", "tank/src@a")
    );
    assert_eq!(get(&mut w, "type", "tank/dst"), "volume");
    let txg = |w: &mut World, n: &str| get(w, "createtxg", n).parse::<u64>().unwrap();
    assert!(
        txg(&mut w, "tank/dst@a") > txg(&mut w, "tank/src@c"),
        "a new txg on the target"
    );
    assert!(
        txg(&mut w, "tank/dst@a") > txg(&mut w, "tank/dst"),
        "dataset first, snapshot at the end"
    );
    assert_eq!(get(&mut w, "receive_resume_token", "tank/dst"), "-");
    assert!(
        ok(&mut w, "list -H -o name -t bookmark -r tank")
            .lines()
            .all(|l| l.starts_with("tank/src")),
        "bookmarks are never sent"
    );
}

#[test]
fn incremental_sources_snapshot_bookmark_and_ranges() {
    // (send of the increment, the target's snapshots afterwards)
    let cases: &[(&str, &[&str])] = &[
        ("send -i #a tank/src@c", &["a", "c"]),
        ("send -i tank/src#a tank/src@b", &["a", "b"]),
        ("send -i @a tank/src@c", &["a", "c"]),
        ("send -i tank/src@a tank/src@b", &["a", "b"]),
        ("send -I @a tank/src@c", &["a", "b", "c"]),
        ("send -I tank/src@a tank/src@b", &["a", "b"]),
        ("send -R -I @a tank/src@c", &["a", "b", "c"]),
    ];
    for (send, want) in cases {
        let mut w = world();
        source(&mut w);
        pipe_ok(&mut w, "send tank/src@a", "recv tank/dst");
        pipe_ok(&mut w, send, "recv tank/dst");
        assert_eq!(snaps(&mut w, "tank/dst"), *want, "{send}");
        for s in *want {
            assert_eq!(
                get(&mut w, "guid", &format!("tank/dst@{s}")),
                get(&mut w, "guid", &format!("tank/src@{s}"))
            );
        }
    }
}

#[test]
fn send_refuses_what_the_kernel_refuses() {
    let mut w = world();
    source(&mut w);
    let cases: &[(&str, i32, &str)] = &[
        (
            "send -I #a tank/src@c",
            1,
            "Error: multiple snapshots cannot be sent from a bookmark.\n",
        ),
        (
            "send -R -i #a tank/src@c",
            1,
            "Error: multiple snapshots cannot be sent from a bookmark.\n",
        ),
        (
            "send -i @c tank/src@a",
            1,
            "warning: cannot send 'tank/src@a': not an earlier snapshot from the same fs\n",
        ),
        (
            "send -i @zz tank/src@c",
            1,
            "warning: cannot send 'tank/src@c': incremental source (tank/src@zz) does not exist\n",
        ),
        (
            "send tank/src@zz",
            1,
            "cannot open 'tank/src@zz': dataset does not exist\n",
        ),
        ("send", 2, "missing snapshot argument\n"),
        ("send -q tank/src@a", 2, "invalid option 'q'\n"),
        (
            "send -t 1-emu-zz",
            1,
            "cannot resume send: resume token is corrupt (invalid format)\n",
        ),
    ];
    for (line, code, msg) in cases {
        let (c, out, e) = cli::zfs_main(&mut w, &sv(line), "");
        assert_eq!((c, out.as_str()), (*code, ""), "{line}");
        assert!(e.starts_with(msg), "{line}: {e}");
    }
}

#[test]
fn an_incremental_needs_its_source_on_the_target_by_guid() {
    let mut w = world();
    source(&mut w);
    pipe_ok(&mut w, "send tank/src@b", "recv tank/dst");
    // The target has b, not a: the stream from a does not apply.
    let (c, _, e) = pipe(&mut w, "send -i @a tank/src@c", "recv tank/dst");
    assert_eq!(c, 1);
    assert_eq!(
        e,
        "cannot receive incremental stream: most recent snapshot of tank/dst does not\nmatch incremental source\n"
    );
    // Same name, other guid: a snapshot taken on the target is not the source's.
    let mut w = world();
    source(&mut w);
    ok(&mut w, "create -V 8M tank/dst");
    ok(&mut w, "snapshot tank/dst@a");
    let (c, _, e) = pipe(&mut w, "send -i @a tank/src@b", "recv -F tank/dst");
    assert_eq!(c, 1);
    assert!(e.contains("does not\nmatch incremental source"), "{e}");
    // Missing target.
    let (c, _, e) = pipe(&mut w, "send -i @a tank/src@b", "recv tank/nope");
    assert_eq!(
        (c, e.as_str()),
        (
            1,
            "cannot receive incremental stream: destination 'tank/nope' does not exist\n"
        )
    );
}

#[test]
fn without_f_an_older_common_snapshot_is_enough_unless_the_target_was_written() {
    // dmu_recv.c: the source must be in the target's snapshots and the target unmodified
    // since it; later snapshots stay and the new one comes after them.
    let mut w = world();
    source(&mut w);
    pipe_ok(&mut w, "send tank/src@a", "recv tank/dst");
    ok(&mut w, "snapshot tank/dst@mine");
    pipe_ok(&mut w, "send -i @a tank/src@b", "recv tank/dst");
    assert_eq!(snaps(&mut w, "tank/dst"), ["a", "mine", "b"]);
    w.set_faults(Some("dirty:tank/dst".parse::<Faults>().unwrap()));
    let (c, _, e) = pipe(&mut w, "send -i @b tank/src@c", "recv tank/dst");
    assert_eq!(
        (c, e.as_str()),
        (
            1,
            "cannot receive incremental stream: destination tank/dst has been modified\nsince most recent snapshot\n"
        )
    );
    pipe_ok(&mut w, "send -i @b tank/src@c", "recv -F tank/dst");
    assert_eq!(snaps(&mut w, "tank/dst"), ["a", "mine", "b", "c"]);
}

#[test]
fn recv_f_rolls_back_to_the_source_destroying_later_snapshots_not_bookmarks() {
    let mut w = world();
    source(&mut w);
    pipe_ok(&mut w, "send tank/src@a", "recv tank/dst");
    ok(&mut w, "snapshot tank/dst@x");
    ok(&mut w, "snapshot tank/dst@y");
    ok(&mut w, "bookmark tank/dst@x tank/dst#x");
    ok(&mut w, "hold keep tank/dst@y");
    let (c, _, e) = pipe(&mut w, "send -i @a tank/src@b", "recv -F tank/dst");
    assert_eq!(
        (c, e.as_str()),
        (1, "cannot receive incremental stream: dataset is busy\n"),
        "a held later snapshot"
    );
    assert_eq!(
        snaps(&mut w, "tank/dst"),
        ["a", "x", "y"],
        "nothing changed"
    );
    ok(&mut w, "release keep tank/dst@y");
    pipe_ok(&mut w, "send -i @a tank/src@b", "recv -F tank/dst");
    assert_eq!(snaps(&mut w, "tank/dst"), ["a", "b"]);
    assert_eq!(
        ok(&mut w, "list -H -o name -t bookmark tank/dst"),
        "tank/dst#x\n"
    );
}

#[test]
fn replication_f_destroys_the_targets_snapshots_the_source_no_longer_has() {
    let mut w = world();
    source(&mut w);
    pipe_ok(&mut w, "send -R tank/src@b", "recv tank/dst");
    assert_eq!(
        snaps(&mut w, "tank/dst"),
        ["a", "b"],
        "-R without -I: every snapshot"
    );
    ok(&mut w, "snapshot tank/dst@local");
    ok(&mut w, "bookmark tank/dst@local tank/dst#local");
    ok(&mut w, "destroy tank/src@a");
    ok(&mut w, "snapshot tank/src@d");
    // Without -F nothing goes; with -F: a (gone on the source) and local (never there).
    pipe_ok(&mut w, "send -R -I @b tank/src@c", "recv tank/dst");
    assert_eq!(snaps(&mut w, "tank/dst"), ["a", "b", "local", "c"]);
    pipe_ok(&mut w, "send -Rp -I @c tank/src@d", "recv -F tank/dst");
    assert_eq!(snaps(&mut w, "tank/dst"), ["b", "c", "d"]);
    assert_eq!(
        ok(&mut w, "list -H -o name -t bookmark tank/dst"),
        "tank/dst#local\n"
    );
}

#[test]
fn the_first_property_carrying_receive_clears_local_properties_later_ones_do_not() {
    // (send, local value before, value and source after)
    let cases: &[(&str, &str)] = &[
        ("send -i @a tank/src@b", "mine\tlocal"),
        ("send -p -i @a tank/src@b", "pve1\treceived"),
        ("send -R -I @a tank/src@b", "pve1\treceived"),
    ];
    for (send, want) in cases {
        let mut w = world();
        source(&mut w);
        ok(&mut w, "set label:running=pve1 tank/src");
        pipe_ok(&mut w, "send tank/src@a", "recv tank/dst");
        ok(&mut w, "set label:running=mine tank/dst");
        ok(&mut w, "set com.example:x=y tank/dst");
        pipe_ok(&mut w, send, "recv tank/dst");
        assert_eq!(
            ok(&mut w, "get -H -o value,source label:running tank/dst").trim_end(),
            *want,
            "{send}"
        );
    }
    // Later property-carrying receives leave local values (the stale label of issue 18).
    let mut w = world();
    source(&mut w);
    ok(&mut w, "set label:running=pve1 tank/src");
    pipe_ok(&mut w, "send -p tank/src@a", "recv tank/dst");
    assert_eq!(
        ok(&mut w, "get -H -o value,source label:running tank/dst"),
        "pve1\treceived\n"
    );
    ok(&mut w, "set label:running=pve2 tank/dst");
    ok(&mut w, "set label:running=pve3 tank/src");
    pipe_ok(&mut w, "send -p -i @a tank/src@b", "recv tank/dst");
    assert_eq!(
        ok(&mut w, "get -H -o value,source label:running tank/dst"),
        "pve2\tlocal\n"
    );
    ok(&mut w, "inherit -S label:running tank/dst");
    assert_eq!(
        ok(&mut w, "get -H -o value,source label:running tank/dst"),
        "pve3\treceived\n"
    );
    // The received set replaces the previous one; -x keeps one out, -o sets a local value.
    ok(&mut w, "inherit label:running tank/src");
    ok(&mut w, "set com.example:n=1 tank/src");
    pipe_ok(
        &mut w,
        "send -p -i @b tank/src@c",
        "recv -x com.example:n -o com.example:o=2 tank/dst",
    );
    assert_eq!(get(&mut w, "label:running", "tank/dst"), "-");
    assert_eq!(get(&mut w, "com.example:n", "tank/dst"), "-");
    assert_eq!(
        ok(&mut w, "get -H -o value,source com.example:o tank/dst"),
        "2\tlocal\n"
    );
}

#[test]
fn a_full_stream_into_an_existing_dataset() {
    let mut w = world();
    source(&mut w);
    ok(&mut w, "create -V 8M tank/dst");
    let (c, _, e) = pipe(&mut w, "send tank/src@a", "recv tank/dst");
    assert_eq!(
        (c, e.as_str()),
        (
            1,
            "cannot receive new filesystem stream: destination 'tank/dst' exists\nmust specify -F to overwrite it\n"
        )
    );
    ok(&mut w, "snapshot tank/dst@old");
    let (c, _, e) = pipe(&mut w, "send tank/src@a", "recv -F tank/dst");
    assert_eq!(
        (c, e.as_str()),
        (
            1,
            "cannot receive new filesystem stream: destination has snapshots (eg. tank/dst@old)\nmust destroy them to overwrite it\n"
        )
    );
    ok(&mut w, "destroy tank/dst@old");
    pipe_ok(&mut w, "send tank/src@a", "recv -F tank/dst");
    assert_eq!(snaps(&mut w, "tank/dst"), ["a"]);
    // Same snapshot again: already there by guid, skipped.
    let (c, out, _) = pipe(&mut w, "send -i @a tank/src@b", "recv -v tank/dst");
    assert_eq!(c, 0, "{out}");
    let (c, out, _) = pipe(&mut w, "send -i @a tank/src@b", "recv -v tank/dst");
    assert_eq!(
        (c, out.as_str()),
        (0, "snap tank/dst@b already exists; ignoring\n")
    );
}

#[test]
fn an_interrupted_resumable_receive_leaves_a_token_and_send_t_finishes_it() {
    for incremental in [false, true] {
        let mut w = world();
        source(&mut w);
        if incremental {
            pipe_ok(&mut w, "send tank/src@a", "recv tank/dst");
        }
        let send = if incremental {
            "send -p -i @a tank/src@b"
        } else {
            "send -p tank/src@b"
        };
        ok(&mut w, "set label:running=pve1 tank/src");
        let (_, stream, _) = cli::zfs_main(&mut w, &sv(send), "");
        let cut = &stream[..stream.len() - 3000];
        // Without -s: nothing stays.
        let (c, _, e) = cli::zfs_main(&mut w, &sv("recv tank/dst"), cut);
        assert_eq!(c, 1);
        assert!(e.ends_with("stream: incomplete stream\n"), "{e}");
        if incremental {
            assert_eq!(get(&mut w, "receive_resume_token", "tank/dst"), "-");
        } else {
            assert_eq!(
                cli::zfs_main(&mut w, &sv("list tank/dst"), "").0,
                1,
                "no dataset"
            );
        }
        // With -s: a token.
        let (c, _, e) = cli::zfs_main(&mut w, &sv("recv -s tank/dst"), cut);
        assert_eq!(c, 1, "{e}");
        let token = get(&mut w, "receive_resume_token", "tank/dst");
        assert!(token.starts_with("1-"), "{token}");
        assert!(e.contains("Partially received snapshot is saved.\n"), "{e}");
        assert!(e.ends_with(&format!("    zfs send -t {token}\n")), "{e}");
        assert_eq!(
            snaps(&mut w, "tank/dst"),
            if incremental { vec!["a"] } else { vec![] }
        );
        // A new stream cannot start while the partial one is there.
        let (c, _, e) = pipe(&mut w, "send -i @a tank/src@c", "recv tank/dst");
        assert_eq!(c, 1, "{e}");
        // Resume, itself cut once more, then to the end.
        let (_, rest, _) = cli::zfs_main(&mut w, &sv(&format!("send -t {token}")), "");
        let (c, _, _) = cli::zfs_main(&mut w, &sv("recv -s tank/dst"), &rest[..rest.len() - 200]);
        assert_eq!(c, 1);
        let token2 = get(&mut w, "receive_resume_token", "tank/dst");
        assert_ne!(token2, token, "further along");
        pipe_ok(&mut w, &format!("send -t {token2}"), "recv -s tank/dst");
        assert_eq!(get(&mut w, "receive_resume_token", "tank/dst"), "-");
        let want: &[&str] = if incremental { &["a", "b"] } else { &["b"] };
        assert_eq!(snaps(&mut w, "tank/dst"), want);
        assert_eq!(
            get(&mut w, "guid", "tank/dst@b"),
            get(&mut w, "guid", "tank/src@b")
        );
        if !incremental {
            assert_eq!(
                get(&mut w, "label:running", "tank/dst"),
                "pve1",
                "a new dataset keeps the props"
            );
        }
    }
}

#[test]
fn recv_a_drops_the_partial_state() {
    let mut w = world();
    source(&mut w);
    let (_, stream, _) = cli::zfs_main(&mut w, &sv("send tank/src@a"), "");
    cli::zfs_main(&mut w, &sv("recv -s tank/new"), &stream[..stream.len() / 2]);
    assert_eq!(
        ok(&mut w, "list -H -o name tank/new"),
        "tank/new\n",
        "the inconsistent dataset shows"
    );
    ok(&mut w, "recv -A tank/new");
    assert_eq!(
        cli::zfs_main(&mut w, &sv("list tank/new"), "").0,
        1,
        "a new dataset goes"
    );
    pipe_ok(&mut w, "send tank/src@a", "recv tank/dst");
    let (c, _, e) = cli::zfs_main(&mut w, &sv("recv -A tank/dst"), "");
    assert_eq!(
        (c, e.as_str()),
        (
            1,
            "'tank/dst' does not have any resumable receive state to abort\n"
        )
    );
    let (_, stream, _) = cli::zfs_main(&mut w, &sv("send -i @a tank/src@b"), "");
    cli::zfs_main(&mut w, &sv("recv -s tank/dst"), &stream[..stream.len() / 2]);
    ok(&mut w, "recv -A tank/dst");
    assert_eq!(get(&mut w, "receive_resume_token", "tank/dst"), "-");
    assert_eq!(snaps(&mut w, "tank/dst"), ["a"], "an existing one stays");
}

#[test]
fn cut_faults_break_a_transfer_after_n_snapshots() {
    let mut w = world();
    source(&mut w);
    pipe_ok(&mut w, "send tank/src@a", "recv tank/dst");
    w.set_faults(Some("send-cut:1:tank/src".parse::<Faults>().unwrap()));
    let (c, stream, e) = cli::zfs_main(&mut w, &sv("send -I @a tank/src@c"), "");
    assert_eq!(
        (c, e.as_str()),
        (1, "warning: cannot send 'tank/src@c': Input/output error\n")
    );
    w.set_faults(None);
    let (c, _, e) = cli::zfs_main(&mut w, &sv("recv -s tank/dst"), &stream);
    assert_eq!(c, 1, "{e}");
    assert_eq!(
        snaps(&mut w, "tank/dst"),
        ["a", "b"],
        "b came through, c is partial"
    );
    assert_ne!(get(&mut w, "receive_resume_token", "tank/dst"), "-");
    ok(&mut w, "recv -A tank/dst");
    w.set_faults(Some("recv-cut:tank/dst".parse::<Faults>().unwrap()));
    let (c, _, e) = pipe(&mut w, "send -i @b tank/src@c", "recv tank/dst");
    assert_eq!(
        (c, e.as_str()),
        (1, "cannot receive incremental stream: incomplete stream\n")
    );
    assert_eq!(snaps(&mut w, "tank/dst"), ["a", "b"]);
}

#[test]
fn a_stream_that_is_not_one() {
    let mut w = world();
    let zeros = "\0".repeat(400);
    for (input, msg) in [
        ("", "cannot receive: failed to read from stream\n"),
        ("ZFS-EMU", "cannot receive: failed to read from stream\n"),
        ("garbage\n", "cannot receive: failed to read from stream\n"),
        (
            zeros.as_str(),
            "cannot receive: invalid stream (bad magic number)\n",
        ),
    ] {
        let (c, _, e) = cli::zfs_main(&mut w, &sv("recv tank/dst"), input);
        assert_eq!((c, e.as_str()), (1, msg), "{input:?}");
    }
    // A stream cut between two snapshots: what came is kept, no token.
    source(&mut w);
    let (_, stream, _) = cli::zfs_main(&mut w, &sv("send -R tank/src@c"), "");
    let upto_b: String = stream.split_inclusive('\n').take(4).collect();
    let (c, _, e) = cli::zfs_main(&mut w, &sv("recv -s tank/dst"), &upto_b);
    assert_eq!(
        (c, e.as_str()),
        (1, "cannot receive: failed to read from stream\n")
    );
    assert_eq!(snaps(&mut w, "tank/dst"), ["a", "b"]);
    assert_eq!(get(&mut w, "receive_resume_token", "tank/dst"), "-");
}

#[test]
fn dry_runs_change_nothing() {
    let mut w = world();
    source(&mut w);
    let (c, out, _) = cli::zfs_main(&mut w, &sv("send -nv -I @a tank/src@c"), "");
    assert_eq!(c, 0);
    assert_eq!(
        out,
        "send from @a to tank/src@b estimated size is 4.00K\nsend from @b to tank/src@c estimated size is 4.00K\ntotal estimated size is 8.00K\n"
    );
    let (c, out, _) = pipe(&mut w, "send tank/src@a", "recv -nv tank/dst");
    assert_eq!(
        (c, out.as_str()),
        (
            0,
            "would receive full stream of tank/src@a into tank/dst@a\n"
        )
    );
    assert_eq!(cli::zfs_main(&mut w, &sv("list tank/dst"), "").0, 1);
}

#[test]
fn tokens_round_trip() {
    let r = ResumeState {
        toname: "tank/a@s".into(),
        toguid: 42,
        fromguid: Some(7),
        bytes: 100,
        newfs: false,
    };
    let t = parse_token(&resume_token(&r)).unwrap();
    assert_eq!(
        (t.toname.as_str(), t.toguid, t.fromguid, t.bytes),
        ("tank/a@s", 42, Some(7), 100)
    );
    assert_eq!(parse_token("1-emu-7"), None);
    assert_eq!(nicenum(4096), "4.00K");
    assert_eq!(nicenum(100), "100B");
}
