//! `pins.lua`: which of the snapshots a run would destroy a destroy cannot remove now (held,
//! busy, cloned), read after a first plan so that the final plan keeps them and the dry run
//! says so (issue 21). Read-only; sized like `snapinfo.lua` (two `zfs.get_prop` per snapshot),
//! split when a call hits a limit anyway.

use super::InventoryStats;
use super::budget::ReadLimits;
use super::facts::{Which, entry_lines, run_chunked};
use crate::naming::{Dataset, ShortName, SnapName};
use crate::state::Pin;
use crate::zfs::error::ZfsError;
use crate::zfs::exec::Exec;
use crate::zfs::program::PINS;
use serde_json::Value;

/// The pinned snapshots found per dataset (a dataset that vanished meanwhile has none).
pub type PinsRead = Vec<(Dataset, Vec<(ShortName, Pin)>)>;

/// `pins.lua` for the snapshots `candidates` names (per dataset of `pool`), in chunks bounded
/// like `snapinfo.lua`'s. Returns only the datasets with a pinned snapshot.
pub fn read_pins(
    exec: &dyn Exec,
    pool: &str,
    candidates: &[(Dataset, Vec<SnapName>)],
    limits: &ReadLimits,
    stats: &mut InventoryStats,
) -> Result<PinsRead, ZfsError> {
    let requests: Vec<(Dataset, Which)> = candidates
        .iter()
        .filter(|(_, names)| !names.is_empty())
        .map(|(d, names)| {
            let names = names.iter().map(|n| ShortName::from(*n)).collect();
            (d.clone(), Which::Names(names))
        })
        .collect();
    let calls: fn(&mut InventoryStats) -> &mut u64 = |s| &mut s.pin_programs;
    run_chunked(exec, pool, (&PINS, calls), &requests, limits, stats, |e| {
        decode_pins(e).map(|pins| (!pins.is_empty()).then_some(pins))
    })
}

/// Decodes one `pins.lua` entry.
fn decode_pins(e: &Value) -> Result<Vec<(ShortName, Pin)>, String> {
    let mut out = Vec::new();
    for line in entry_lines(e, "p", "pin list")? {
        let (name, word) = line
            .split_once(' ')
            .ok_or_else(|| format!("bad pin line {line:?}"))?;
        let pin = Pin::parse(word).ok_or_else(|| format!("bad pin in {line:?}"))?;
        out.push((ShortName::new(name), pin));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_pins_and_refuses_what_it_does_not_know() {
        let e = serde_json::json!({"x": 1, "p": "autosnap_a held\nautosnap_b cloned"});
        let got = decode_pins(&e).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].0.as_str(), got[0].1), ("autosnap_a", Pin::Held));
        assert_eq!((got[1].0.as_str(), got[1].1), ("autosnap_b", Pin::Cloned));
        assert!(
            decode_pins(&serde_json::json!({"x": 0}))
                .unwrap()
                .is_empty()
        );
        assert!(
            decode_pins(&serde_json::json!({"x": 1, "p": ""}))
                .unwrap()
                .is_empty()
        );
        assert!(decode_pins(&serde_json::json!({"x": 1, "p": "a frozen"})).is_err());
        assert!(decode_pins(&serde_json::json!({"x": 1})).is_err());
    }
}
