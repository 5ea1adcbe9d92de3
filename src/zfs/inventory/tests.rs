//! Unit tests of the inventory's pure parts: the join, the decoders, the chunk sizes and the
//! limits read from the module parameters (under a tempdir root). No pool, not even an
//! emulated one: that is `emulated.rs`.

use super::facts::decode_info;
use super::join::join;
use super::list::decode;
use super::*;
use crate::naming::ShortName;
use crate::state::{PropSource, PropValue};
use crate::zfs::program::{DEFAULT_INSTR_LIMIT, DEFAULT_MEM_LIMIT, MAX_INSTR_LIMIT, MAX_MEM_LIMIT};
use crate::zfs::snapcache::Facts;
use serde_json::json;

fn ds(s: &str) -> Dataset {
    Dataset::new(s).unwrap()
}

#[test]
fn join_and_missing_table() {
    let v = |x: &[&str]| x.iter().map(|&s| ShortName::new(s)).collect::<Vec<_>>();
    let facts: BTreeMap<ShortName, Facts> = [
        ("a", (1, 10)),
        ("b", (2, 20)),
        ("d", (4, 40)),
        ("f", (6, 60)),
    ]
    .into_iter()
    .map(|(k, f)| (ShortName::new(k), f))
    .collect();
    // (snapshots, bookmarks, snapshots with facts, bookmarks with txgs, gone, missing)
    #[allow(clippy::type_complexity)]
    let cases: [(&[&str], &[&str], &[&str], &[(&str, u64)], &[&str], &[&str]); 4] = [
        (
            &["a", "b", "c"],
            &["d", "e"],
            &["a", "b"],
            &[("d", 4), ("e", 0)],
            &["f"],
            &["c"],
        ),
        (&[], &[], &[], &[], &["a", "b", "d", "f"], &[]),
        (
            &["a", "b", "d", "f"],
            &["0", "a", "z"],
            &["a", "b", "d", "f"],
            &[("0", 0), ("a", 1), ("z", 0)],
            &[],
            &[],
        ),
        (
            &["c", "e"],
            &["b"],
            &[],
            &[("b", 2)],
            &["a", "d", "f"],
            &["c", "e"],
        ),
    ];
    for (sn, bm, want_s, want_b, gone, miss) in cases {
        let j = join(&v(sn), &v(bm), &facts);
        let got_s: Vec<&str> = j.snapshots.iter().map(|x| x.name.as_str()).collect();
        let got_b: Vec<(&str, u64)> = j
            .bookmarks
            .iter()
            .map(|x| (x.name.as_str(), x.createtxg))
            .collect();
        assert_eq!(got_s, want_s, "{sn:?} {bm:?}");
        assert_eq!(got_b, want_b, "{sn:?} {bm:?}");
        assert_eq!(j.gone, v(gone), "{sn:?} {bm:?}");
        assert!(
            j.snapshots
                .iter()
                .all(|x| facts[&x.name] == (x.createtxg, x.creation))
        );
        assert_eq!(j.unread, v(miss), "{sn:?}");
    }
}

#[test]
fn decode_full_entry() {
    let e = json!({
        "x": 1, "r": "70766531", "rs": "$recvd", "n": "6e6f736e6170", "f": 3, "g": -42,
        "s": "autosnap_b\nautosnap_a\nautosnap_with space",
        "b": "autosnap_a\nautosnap_old"
    });
    let l = decode(&ds("tank/vm-1-disk-0"), &e).unwrap().unwrap();
    assert!(l.state.exists && l.state.nosnap.as_deref() == Some("nosnap"));
    assert_eq!(
        l.state.running,
        Some(PropValue {
            value: "pve1".into(),
            source: PropSource::Received
        })
    );
    assert_eq!((l.state.foreign_snapshots, l.guid), (3, -42));
    assert_eq!(
        l.snapshots,
        ["autosnap_b", "autosnap_a"],
        "a name with a space is not ours"
    );
    assert_eq!(l.bookmarks, ["autosnap_a", "autosnap_old"]);
}

#[test]
fn decode_sources_and_missing() {
    let d = ds("tank/a");
    let local = decode(
        &d,
        &json!({"x":1,"r":"78","rs":"tank/a","f":0,"g":1,"s":"","b":""}),
    )
    .unwrap()
    .unwrap();
    assert_eq!(local.state.running.unwrap().source, PropSource::Local);
    let inh = decode(
        &d,
        &json!({"x":1,"r":"78","rs":"tank","f":0,"g":1,"s":"","b":""}),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        inh.state.running.unwrap().source,
        PropSource::Inherited("tank".into())
    );
    let gone = decode(&d, &json!({"x":0})).unwrap().unwrap();
    assert!(!gone.state.exists && gone.snapshots.is_empty());
    assert_eq!(decode(&d, &json!({"x":2})), Ok(None), "not read: ask again");
    let skipped = decode(&d, &json!({"x":1,"g":1,"c":77,"u":1}))
        .unwrap()
        .unwrap();
    assert!(skipped.unchanged && skipped.changed == Some(77));
    let walked = decode(&d, &json!({"x":1,"g":1,"c":77,"f":0,"s":"","b":""}))
        .unwrap()
        .unwrap();
    assert!(!walked.unchanged && walked.changed == Some(77));
    let clone = decode(&d, &json!({"x":1,"g":1,"c":77,"o":1,"f":0,"s":"","b":""}))
        .unwrap()
        .unwrap();
    assert!(clone.clone && !clone.unchanged);
    for bad in [
        json!({"x":1,"g":1,"c":77,"o":1,"u":1}),
        json!({"x": 3}),
        json!({"x":1,"g":1,"u":1}),
        json!({"x":1,"g":1,"c":"soon","f":0,"s":"","b":""}),
        json!({"x":1,"f":0,"s":"","b":""}),
        json!({"x":1,"r":"7","rs":"tank","f":0,"g":1,"s":"","b":""}),
        json!({"x":1,"f":0,"g":1,"b":""}),
    ] {
        assert!(decode(&d, &bad).is_err(), "{bad}");
    }
}

#[test]
fn decode_info_table() {
    let cases = [
        (json!({"x":0}), Ok(vec![])),
        (
            json!({"x":1,"s":"autosnap_a 10 100\nautosnap_b 11 101"}),
            Ok(vec![
                (ShortName::new("autosnap_a"), (10, 100)),
                (ShortName::new("autosnap_b"), (11, 101)),
            ]),
        ),
        (json!({"x":1,"s":""}), Ok(vec![])),
        (json!({"x":1,"s":"autosnap_a 10"}), Err(())),
        (json!({"x":1,"s":"autosnap_a x 1"}), Err(())),
        (json!({"x":1}), Err(())),
    ];
    for (e, want) in cases {
        assert_eq!(decode_info(&e).map_err(|_| ()), want, "{e}");
    }
}

/// The inventory's chunk: datasets' fixed cost on top of the walk its budget allows.
#[test]
fn inventory_chunk_size_counts_the_walk_budget_once() {
    let m = CostModel {
        instr_per_dataset: 1000,
        instr_per_snapshot: 100,
        mem_per_snapshot: 10,
        mem_per_dataset: 10,
    };
    // (largest dataset, datasets per call) at the default limits (10M instructions,
    // 10 MiB; a quarter each): instructions decide.
    for (snaps, want) in [
        // (2,500,000 - 100 × 10,000) / 1,000
        (0, 1500),
        // (2,500,000 - 100 × 15,000) / 1,000
        (5_000, 1000),
        // the walk alone is over the quarter: one dataset per call (a limit splits no further)
        (25_000, 1),
        (u64::MAX, 1),
    ] {
        assert_eq!(
            inventory_chunk_size(&m, &ReadLimits::DEFAULT, snaps),
            want,
            "{snaps}"
        );
    }
    // Memory decides when datasets are dear: (2,621,440 - 10 × 10,300) / 100,000.
    let dear = CostModel {
        instr_per_dataset: 1,
        mem_per_dataset: 100_000,
        ..m
    };
    assert_eq!(inventory_chunk_size(&dear, &ReadLimits::DEFAULT, 300), 25);
    // Unlike chunk_size, not divided by the walk budget: the program enforces it.
    assert!(
        inventory_chunk_size(&MEASURED, &ReadLimits::SHIPPED_MAX, ASSUMED_SNAPSHOTS)
            > 10 * chunk_size(&MEASURED, &ReadLimits::SHIPPED_MAX, ASSUMED_SNAPSHOTS)
    );
}

#[test]
fn chunk_size_follows_the_model_and_the_limits() {
    let m = CostModel {
        instr_per_dataset: 1000,
        instr_per_snapshot: 100,
        mem_per_snapshot: 10,
        mem_per_dataset: 10,
    };
    // 10M / 4 / (1000 + 100*40) = 500, the snapshot budget 10,000 / 40 = 250: the budget.
    assert_eq!(chunk_size(&m, &ReadLimits::DEFAULT, 40), 250);
    // 10M / 4 / (1000 + 100*20) = 833, the budget 10,000 / 20 = 500: the budget.
    assert_eq!(chunk_size(&m, &ReadLimits::DEFAULT, 20), 500);
    // 10M / 4 / (1000 + 100*5) = 1,666 < 10,000 / 5 = 2,000: the instruction limit decides.
    assert_eq!(chunk_size(&m, &ReadLimits::DEFAULT, 5), 1666);
    let max = ReadLimits::SHIPPED_MAX;
    // The module maxima would allow 1,562; the per-call snapshot budget allows 66.
    assert_eq!(
        chunk_size(&m, &max, 150),
        (SNAPSHOTS_PER_CALL / 150) as usize
    );
    let tiny = CostModel {
        instr_per_dataset: 1,
        instr_per_snapshot: 1,
        mem_per_snapshot: 1,
        mem_per_dataset: 1,
    };
    // (snapshots per dataset, datasets per call): the budget decides for cheap programs.
    for (snaps, want) in [
        (0, SNAPSHOTS_PER_CALL),
        (1, SNAPSHOTS_PER_CALL),
        (100, SNAPSHOTS_PER_CALL / 100),
        (20_000, 1),
    ] {
        assert_eq!(chunk_size(&tiny, &max, snaps), want as usize, "{snaps}");
    }
    assert!(chunk_size(&m, &ReadLimits::DEFAULT, 1_000_000_000) >= 1);
    let memory_bound = CostModel {
        mem_per_snapshot: 10_000,
        ..m
    };
    assert_eq!(
        chunk_size(&memory_bound, &ReadLimits::DEFAULT, 100),
        (DEFAULT_MEM_LIMIT / 4 / (10 + 1_000_000)) as usize
    );
}

#[test]
fn read_limits_come_from_the_module_parameters_capped() {
    let root = tempfile::tempdir().unwrap();
    assert_eq!(ReadLimits::for_host(root.path()), ReadLimits::DEFAULT);
    let dir = root.path().join("sys/module/zfs/parameters");
    std::fs::create_dir_all(&dir).unwrap();
    let set = |i: &str, m: &str| {
        std::fs::write(dir.join("zfs_lua_max_instrlimit"), i).unwrap();
        std::fs::write(dir.join("zfs_lua_max_memlimit"), m).unwrap();
        ReadLimits::for_host(root.path())
    };
    // (instr param, mem param, expected)
    let cases = [
        (
            "100000000\n",
            "104857600\n",
            (MAX_INSTR_LIMIT, MAX_MEM_LIMIT),
        ),
        ("50000000", "20971520", (50_000_000, 20_971_520)),
        (
            "999999999999",
            "999999999999",
            (MAX_INSTR_LIMIT, MAX_MEM_LIMIT),
        ),
        ("1000", "1000", (DEFAULT_INSTR_LIMIT, DEFAULT_MEM_LIMIT)),
        ("junk", "1000", (DEFAULT_INSTR_LIMIT, DEFAULT_MEM_LIMIT)),
    ];
    for (i, m, (wi, wm)) in cases {
        assert_eq!(set(i, m), ReadLimits { instr: wi, mem: wm }, "{i:?} {m:?}");
    }
    assert_eq!(ReadLimits::DEFAULT.opts().instr_limit, None);
    assert_eq!(
        set("100000000", "104857600").opts().mem_limit,
        Some(MAX_MEM_LIMIT)
    );
}
