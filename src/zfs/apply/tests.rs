use super::*;

/// A snapshot name of ours for a short test tag (`old1`, `new`, …), the same for the same tag.
pub(super) fn sn(tag: &str) -> SnapName {
    let tags = [
        "old1",
        "old2",
        "old",
        "s0",
        "s1",
        "s2",
        "x",
        "n",
        "n1",
        "n2",
        "new",
        "gone",
        "never-was",
        "same",
        "first",
    ];
    let i = tags.iter().position(|t| *t == tag).expect("a known tag");
    SnapName::parse(&format!("autosnap_2026-01-01_{i:02}:00:00_hourly")).expect("ours")
}

/// `dataset@tag` or `dataset#tag` with the tag's name of ours.
pub(super) fn full(name: &str) -> String {
    let i = name.find(['@', '#']).expect("a snapshot or bookmark");
    format!("{}{}", &name[..=i], sn(&name[i + 1..]))
}

fn ds(s: &str) -> Dataset {
    Dataset::new(s).unwrap()
}

#[test]
fn encode_groups() {
    let groups = vec![
        Group {
            key: "100".into(),
            keeps: vec![],
            changes: vec![
                Change::SetLabel {
                    dataset: ds("t/a"),
                    value: "pve1".into(),
                },
                Change::Snapshot {
                    dataset: ds("t/a"),
                    name: sn("s1"),
                },
                Change::Bookmark {
                    dataset: ds("t/a"),
                    name: sn("s1"),
                },
                Change::DestroyBookmark {
                    dataset: ds("t/a"),
                    name: sn("old"),
                },
                Change::Destroy {
                    dataset: ds("t/a"),
                    name: sn("s0"),
                },
            ],
        },
        Group {
            key: "101".into(),
            keeps: vec![],
            changes: vec![Change::DestroyBookmark {
                dataset: ds("t/b"),
                name: sn("x"),
            }],
        },
    ];
    assert_eq!(
        encode(&groups, &[]),
        [
            "K",
            "G",
            "100",
            "P",
            "t/a",
            "label:running",
            "pve1",
            "S",
            &full("t/a@s1"),
            "B",
            &full("t/a@s1"),
            &full("t/a#s1"),
        ]
    );
    let a = ds("t/a");
    let b = ds("t/b");
    assert_eq!(
        encode_destroys(
            &[(&a, "s0"), (&a, "s1"), (&b, "x"), (&a, "s2")],
            std::slice::from_ref(&b)
        ),
        ["t/b", "@", "t/a@", "s0", "s1", "t/b@", "x", "t/a@", "s2"]
    );
    assert_eq!(encode_destroys(&[], &[]), ["@"]);
}

#[test]
fn outcome_tokens() {
    let cases = [
        ("ok", Outcome::Ok),
        ("kept:held", Outcome::Kept("held".into())),
        ("kept:cloned", Outcome::Kept("cloned".into())),
        ("dropped", Outcome::Dropped),
        ("check:EEXIST", Outcome::CheckFailed("EEXIST".into())),
        ("EBUSY", Outcome::Failed("EBUSY".into())),
        ("1039", Outcome::Failed("1039".into())),
    ];
    for (t, want) in cases {
        assert_eq!(Outcome::parse(t), want);
    }
    assert!(!Outcome::Kept("held".into()).is_failure() && Outcome::Dropped.is_failure());
}
