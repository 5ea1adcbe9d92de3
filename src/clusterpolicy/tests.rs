use super::*;
use crate::policy::Policy;

fn keys(s: &str) -> Policy {
    Policy::parse(&s.split(' ').map(str::to_string).collect::<Vec<_>>()).unwrap()
}

fn cli(s: &str) -> CommandLine {
    CommandLine {
        keep: keys(s),
        bookmarks: None,
    }
}

fn guest(vmid: u32, node: &str, tags: &[&str], pools: &[&str], disks: &[&str]) -> ClusterGuest {
    ClusterGuest {
        vmid,
        kind: GuestKind::Qemu,
        node: node.into(),
        name: None,
        tags: tags.iter().map(|s| s.to_string()).collect(),
        pools: pools.iter().map(|s| s.to_string()).collect(),
        disks: disks.iter().map(|s| s.to_string()).collect(),
    }
}

/// The README's worked example.
const EXAMPLE: &str = "\
# pve-zfs-snap cluster policy
defaults
\tkeep f96 h24 d7
\tnosnap-tag nosnap

rule: web
\ttag web
\tkeep f8 h24 d7

rule: database
\ttag database
\tkeep f96 h48 d30 m12
\tbookmarks h96 d60 m24

rule: templates-pool
\tpool templates
\texclude 1

rule: scratch
\tdisk scsi2,mp1
\texclude 1

rule: db01-scratch-kept
\tvmid 105
\tdisk scsi2
\tkeep f4

rule: lab
\tnode pve3
\tkeep h24
";

fn example() -> InForce {
    InForce {
        file: Some(parse(EXAMPLE).unwrap()),
        cli: cli("f100 h24 d7"),
    }
}

#[test]
fn precedence_table() {
    let p = example();
    // (guest, disk, expected decision text)
    let cases: &[(ClusterGuest, &str, &str)] = &[
        (
            guest(100, "pve1", &[], &[], &["scsi0"]),
            "scsi0",
            "f96 h24 d7 (defaults, line 3)",
        ),
        (
            guest(101, "pve1", &["web"], &[], &["scsi0"]),
            "scsi0",
            "f8 h24 d7 (tag web; rule web, line 6)",
        ),
        (
            guest(105, "pve1", &["database"], &[], &["scsi0"]),
            "scsi0",
            "f96 h48 d30 m12 (tag database; rule database, line 10)",
        ),
        // disk beats tag
        (
            guest(106, "pve1", &["database"], &[], &["scsi2"]),
            "scsi2",
            "excluded (disk scsi2; rule scratch, line 19)",
        ),
        // vmid + disk beats disk
        (
            guest(105, "pve1", &["database"], &[], &["scsi2"]),
            "scsi2",
            "f4 (vmid 105, disk scsi2; rule db01-scratch-kept, line 23)",
        ),
        // tag beats pool
        (
            guest(107, "pve1", &["web"], &["templates"], &["scsi0"]),
            "scsi0",
            "f8 h24 d7 (tag web; rule web, line 6)",
        ),
        (
            guest(108, "pve1", &[], &["templates"], &["scsi0"]),
            "scsi0",
            "excluded (pool templates; rule templates-pool, line 15)",
        ),
        // pool beats node
        (
            guest(109, "pve3", &[], &["templates"], &["scsi0"]),
            "scsi0",
            "excluded (pool templates; rule templates-pool, line 15)",
        ),
        (
            guest(110, "pve3", &[], &[], &["scsi0"]),
            "scsi0",
            "h24 (node pve3; rule lab, line 28)",
        ),
        // the nosnap tag beats everything, even a vmid rule
        (
            guest(105, "pve1", &["database", "nosnap"], &[], &["scsi2"]),
            "scsi2",
            "excluded (tag nosnap)",
        ),
    ];
    for (g, disk, want) in cases {
        assert_eq!(p.decide(g, Some(disk)).to_string(), *want, "{g:?} {disk}");
    }
}

#[test]
fn same_precedence_on_one_guest_is_a_conflict_never_a_guess() {
    let p = example();
    let g = guest(111, "pve1", &["web", "database"], &[], &["scsi0"]);
    let d = p.decide(&g, Some("scsi0"));
    let Decision::Conflict { why } = &d else {
        panic!("{d}");
    };
    assert!(
        why.starts_with(
            "rules web (line 6) and database (line 10) both select it at the same precedence (tag)"
        ),
        "{why}"
    );
}

#[test]
fn command_line_and_defaults_combine() {
    // No file: the command line, with its bookmarks, and the default nosnap tag.
    let mut c = cli("f100 h24 d7");
    c.bookmarks = Some(BookmarkPolicy::Disabled);
    let p = InForce::command_line(c);
    let g = guest(100, "pve1", &[], &[], &["scsi0"]);
    assert_eq!(
        p.decide(&g, Some("scsi0")),
        Decision::Keep {
            policy: keys("f100 h24 d7"),
            bookmarks: BookmarkPolicy::Disabled,
            why: "command line".into()
        }
    );
    let tagged = guest(100, "pve1", &["nosnap"], &[], &["scsi0"]);
    assert_eq!(
        p.decide(&tagged, Some("scsi0")).to_string(),
        "excluded (tag nosnap)"
    );
    assert_eq!(p.override_note(), None);
    // A file without defaults: rules, else the command line.
    let p = InForce {
        file: Some(parse("rule: db\n\ttag database\n\tkeep d30\n").unwrap()),
        cli: cli("f100 h24 d7"),
    };
    assert_eq!(
        p.decide(&g, Some("scsi0")).to_string(),
        "f100 h24 d7 (command line)"
    );
    assert_eq!(p.override_note(), None);
    // The file's defaults win over the command line, and say so.
    let p = example();
    assert!(
        p.override_note()
            .unwrap()
            .contains("keys f100 h24 d7 are overridden by 'keep f96 h24 d7'"),
        "{:?}",
        p.override_note()
    );
    // The tag name is configurable, and `none` disables it.
    let p = InForce {
        file: Some(parse("defaults\n\tnosnap-tag skip\n").unwrap()),
        cli: cli("f1"),
    };
    assert!(matches!(
        p.decide(&tagged, Some("scsi0")),
        Decision::Keep { .. }
    ));
    let skip = guest(100, "pve1", &["skip"], &[], &["scsi0"]);
    assert!(matches!(
        p.decide(&skip, Some("scsi0")),
        Decision::Exclude { .. }
    ));
    let p = InForce {
        file: Some(parse("defaults\n\tnosnap-tag none\n").unwrap()),
        cli: cli("f1"),
    };
    assert!(matches!(
        p.decide(&tagged, Some("scsi0")),
        Decision::Keep { .. }
    ));
}

#[test]
fn bookmark_retention_chain() {
    let bm = |d: Decision| match d {
        Decision::Keep { bookmarks, .. } => bookmarks,
        other => panic!("{other}"),
    };
    let counts = |b: BookmarkPolicy| match b {
        BookmarkPolicy::Keep(c) => c.to_string(),
        BookmarkPolicy::Disabled => "none".into(),
    };
    let p = example();
    // The rule's own.
    let db = guest(105, "pve1", &["database"], &[], &["scsi0"]);
    assert_eq!(counts(bm(p.decide(&db, Some("scsi0")))), "h96 d60 m24");
    // Else doubled counts of the policy in force (no defaults/bookmarks, no CLI bookmarks).
    let web = guest(101, "pve1", &["web"], &[], &["scsi0"]);
    assert_eq!(counts(bm(p.decide(&web, Some("scsi0")))), "h48 d14");
    // The file's defaults bookmarks beat the command line's.
    let mut c = cli("f1 h1");
    c.bookmarks = Some(BookmarkPolicy::Disabled);
    let p = InForce {
        file: Some(parse("defaults\n\tbookmarks h5\n").unwrap()),
        cli: c.clone(),
    };
    assert_eq!(counts(bm(p.decide(&web, Some("scsi0")))), "h5");
    let p = InForce {
        file: Some(parse("defaults\n\tcomment x\n").unwrap()),
        cli: c,
    };
    assert_eq!(counts(bm(p.decide(&web, Some("scsi0")))), "none");
}

#[test]
fn parse_errors_name_the_line_and_the_fix() {
    let cases: &[(&str, usize, &str)] = &[
        ("rule: a\n\ttag db\n\tkep f1\n", 3, "unknown key \"kep\""),
        ("rule: a\n\ttag db\n\tkeep f96 q1\n", 3, "invalid key 'q1'"),
        ("rule: a\n\ttag db\n\tkeep f0\n", 3, "keeps nothing"),
        (
            "defaults\n\tkeep f1\n\ttag db\n",
            3,
            "\"tag\" is not allowed in 'defaults'",
        ),
        (
            "rule: a\n\tkeep f1\n",
            1,
            "selects nothing: give at least one of",
        ),
        (
            "rule: a\n\ttag db\n",
            1,
            "neither 'keep <keys>' nor 'exclude 1'",
        ),
        (
            "rule: a\n\ttag db\n\tkeep f1\n\texclude 1\n",
            1,
            "both 'keep' and 'exclude'",
        ),
        (
            "rule: a\n\tvmid 105-100\n\tkeep f1\n",
            2,
            "backwards; write 100-105",
        ),
        ("rule: a\n\tvmid 99\n\tkeep f1\n", 2, "is not a VMID"),
        ("rule: a\n\ttag DB\n\tkeep f1\n", 2, "not a valid tag name"),
        (
            "rule: a\n\ttag db\n\ttag web\n\tkeep f1\n",
            3,
            "given twice (first on line 2)",
        ),
        (
            "rule: a\n\ttag db\n\tkeep f1\nrule: a\n\ttag x\n\tkeep f1\n",
            4,
            "already defined on line 1",
        ),
        (
            "rule: a\n\ttag db\n\tkeep f1\nrule: b\n\ttag db\n\texclude 1\n",
            4,
            "selects exactly what rule \"a\" (line 1) selects",
        ),
        (
            "vzdump: x\n\tkeep f1\n",
            1,
            "unknown section type \"vzdump\"",
        ),
        ("\tkeep f1\n", 1, "outside any section"),
        ("keep f1\n", 1, "is not a section header"),
        ("defaults\ndefaults\n", 2, "a second 'defaults' section"),
        (
            "defaults\n\tbookmarks f3\n",
            2,
            "frequent snapshots get no bookmarks",
        ),
        (
            "rule: a\n\ttag db\n\texclude 1\n\tbookmarks h1\n",
            1,
            "'bookmarks' has no meaning",
        ),
        ("rule: a b\n\ttag db\n\tkeep f1\n", 1, "rule name \"a b\""),
    ];
    for (text, line, want) in cases {
        let errs = parse(text).expect_err(text);
        assert!(
            errs.iter()
                .any(|e| e.line == *line && e.message.contains(want)),
            "{text:?}: want line {line} {want:?}, got {errs:?}"
        );
    }
}

#[test]
fn parses_lists_ranges_comments_and_crlf() {
    let f = parse(
        "\u{feff}# comment\r\nrule: r1\r\n    vmid 100,105-110 200\r\n    tag a;b, c\r\n  \
         # inner comment\n    keep f1,h2\n",
    )
    .unwrap();
    let r = &f.rules[0];
    assert_eq!(
        r.selectors.vmid,
        Some(vec![
            VmidRange(100, 100),
            VmidRange(105, 110),
            VmidRange(200, 200)
        ])
    );
    assert_eq!(
        r.selectors.tag,
        Some(vec!["a".into(), "b".into(), "c".into()])
    );
    assert_eq!(r.action, Action::Keep(keys("f1 h2")));
    assert_eq!(f.nosnap_tag.as_deref(), Some(DEFAULT_NOSNAP_TAG));
    let g = guest(107, "n", &["b"], &[], &["scsi0"]);
    assert!(r.selectors.matches(&g, Some("scsi0")));
    assert!(
        !r.selectors
            .matches(&guest(111, "n", &["b"], &[], &[]), None)
    );
    assert!(!r.selectors.matches(&guest(107, "n", &[], &[], &[]), None));
}

#[test]
fn check_against_the_cluster() {
    let f = parse(EXAMPLE).unwrap();
    let cluster = Cluster {
        guests: vec![
            guest(101, "pve1", &["web"], &[], &["scsi0"]),
            guest(105, "pve2", &["database", "web"], &[], &["scsi0", "scsi2"]),
        ],
        pools: BTreeMap::from([("other".to_string(), vec![])]),
        nodes: vec!["pve1".into(), "pve2".into()],
    };
    let found: Vec<(usize, String)> = check(&f, &cluster)
        .into_iter()
        .map(|e| (e.line, e.message))
        .collect();
    let has = |line: usize, text: &str| {
        assert!(
            found.iter().any(|(l, m)| *l == line && m.contains(text)),
            "line {line} {text:?} not in {found:#?}"
        )
    };
    // VM 105 has tags web and database: rules web and database conflict on it.
    has(
        10,
        "VM 105 scsi0 (on pve2): rules web (line 6) and database (line 10)",
    );
    has(
        15,
        "there is no resource pool \"templates\" in /etc/pve/user.cfg (pools: other)",
    );
    has(15, "rule templates-pool selects no guest disk");
    has(
        28,
        "\"pve3\" is not a node of this cluster (nodes: pve1, pve2)",
    );
    has(28, "rule lab selects no guest disk");
    // scratch selects VM 105 scsi2; the vmid+disk rule too.
    assert!(
        !found.iter().any(|(l, _)| *l == 19 || *l == 23),
        "{found:#?}"
    );
    // A tag no guest has.
    let f = parse("rule: db\n\ttag databse\n\tkeep f1\n").unwrap();
    let e = check(&f, &cluster);
    assert!(
        e[0].message
            .contains("no guest has tag \"databse\" (tags in use: database, web)"),
        "{e:?}"
    );
    // A valid file fits.
    let f = parse("rule: db\n\ttag database\n\tkeep f1\n").unwrap();
    assert_eq!(check(&f, &cluster), vec![]);
}

#[test]
fn guest_line_groups_disks_and_hash_follows_inputs() {
    let p = example();
    let g = guest(
        106,
        "pve1",
        &["database"],
        &[],
        &["scsi0", "scsi1", "scsi2"],
    );
    let (line, per_disk) = p.decide_guest(&g);
    assert_eq!(per_disk.len(), 3);
    assert_eq!(
        line,
        "scsi0 scsi1: f96 h48 d30 m12 (tag database; rule database, line 10); \
         scsi2: excluded (disk scsi2; rule scratch, line 19)"
    );
    let a = example().hash();
    assert_eq!(a, example().hash());
    assert_eq!(a.len(), 16);
    // The file's defaults replace the command line's keys: those do not count.
    let mut other = example();
    other.cli = cli("f1");
    assert_eq!(a, other.hash());
    other.cli.bookmarks = Some(BookmarkPolicy::Disabled);
    assert_ne!(a, other.hash(), "the command line's bookmarks still count");
    assert_ne!(a, InForce::command_line(cli("f100 h24 d7")).hash());
    let no_defaults = |keys: &str| InForce {
        file: Some(parse("rule: a\n\ttag x\n\tkeep f1\n").unwrap()),
        cli: cli(keys),
    };
    assert_ne!(no_defaults("f1").hash(), no_defaults("f2").hash());
}

/// The first code block of `doc` after `marker`.
fn block_after(doc: &str, marker: &str) -> String {
    let from = &doc[doc.find(marker).expect("marker")..];
    let start = from.find("```\n").expect("a code block") + 4;
    let len = from[start..].find("```").expect("closed");
    from[start..start + len].to_string()
}

#[test]
fn the_documented_examples_parse_and_say_what_the_docs_say() {
    let readme = block_after(include_str!("../../README.md"), "## Policy");
    let policy_md = block_after(include_str!("../../docs/POLICY.md"), "## Syntax");
    for text in [&readme, &policy_md] {
        let f = parse(text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        let p = InForce {
            file: Some(f),
            cli: cli("f100 h24 d7"),
        };
        let db01 = ClusterGuest {
            name: Some("db01".into()),
            ..guest(105, "pve1", &["database"], &[], &["scsi0", "scsi2"])
        };
        let d = p.decide(&db01, Some("scsi0")).to_string();
        assert!(
            d.starts_with("f96 h48 d30 m12 (tag database; rule database, line "),
            "{d}"
        );
        assert!(
            p.decide(&db01, Some("scsi2"))
                .to_string()
                .starts_with("f4 (vmid 105, disk scsi2"),
        );
        let both = guest(106, "pve1", &["database", "web"], &[], &["scsi0"]);
        assert!(matches!(
            p.decide(&both, Some("scsi0")),
            Decision::Conflict { .. }
        ));
    }
    assert!(include_str!("../../README.md").contains("(tag database; rule database, line 5)"));
    assert!(
        include_str!("../../docs/POLICY.md").contains("(tag database; rule\n  database, line 7)")
    );
}
