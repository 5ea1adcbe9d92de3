//! A native twin of `lua/inventory.lua` for long simulations, checked against the real one.
//!
//! Reading ~800 snapshots through the Lua emulator on each of 38,400 runs is most of a
//! simulation's time, so [`Twin`] answers the inventory program from the emulated pool
//! directly, producing the JSON `zfs program -j` would print for `inventory.lua` (its contract
//! is at the top of that file). On the runs the simulator marks ([`Twin::verify_next`]), the real
//! program runs instead, and the twin's answer is compared with it; any difference is kept
//! ([`Twin::mismatch`]) and makes the simulation fail. Everything else (the apply program,
//! `zfs version`, bookmark listings and destroys) always goes to the emulator.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use crate::emu::World;
use crate::naming::PREFIX;
use crate::zfs::program::INVENTORY;
use crate::zfs::{Exec, InProcess, Output, Tool, ZfsError};

/// An [`Exec`] over an [`InProcess`] emulator that may answer `inventory.lua` natively.
pub struct Twin<'a> {
    inner: &'a InProcess,
    /// Never answer natively (`--exact`).
    exact: bool,
    verify: Cell<bool>,
    native: Cell<u64>,
    compared: Cell<u64>,
    mismatch: RefCell<Option<String>>,
}

impl<'a> Twin<'a> {
    /// Wraps `inner`; with `exact`, every inventory runs the real program.
    pub fn new(inner: &'a InProcess, exact: bool) -> Twin<'a> {
        Twin {
            inner,
            exact,
            verify: Cell::new(true),
            native: Cell::new(0),
            compared: Cell::new(0),
            mismatch: RefCell::new(None),
        }
    }

    /// Whether the inventories of the next run go through the real program (and are compared).
    pub fn verify_next(&self, yes: bool) {
        self.verify.set(yes);
    }

    /// Inventory calls answered natively.
    pub fn native_calls(&self) -> u64 {
        self.native.get()
    }

    /// Inventory calls answered by the real program (compared with the twin unless exact).
    pub fn real_calls(&self) -> u64 {
        self.compared.get()
    }

    /// The first difference found between the twin and the real program.
    pub fn mismatch(&self) -> Option<String> {
        self.mismatch.borrow().clone()
    }
}

/// `(pool, datasets)` of an inventory argv (`program -j -n [-t N] [-m N] -- <pool> - <ds>…`).
fn inventory_args(args: &[String]) -> Option<(&str, &[String])> {
    let dd = args.iter().position(|a| a == "--")?;
    let pool = args.get(dd + 1)?;
    (args.first()? == "program" && args.get(dd + 2)? == "-")
        .then(|| (pool.as_str(), &args[dd + 3..]))
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// What `inventory.lua` returns for `datasets` on `pool`, as `zfs program -j` prints it.
pub fn native_inventory(world: &World, pool: &str, datasets: &[String]) -> Option<String> {
    let p = world.pools.get(pool)?;
    let mut ret = Map::new();
    for (i, ds) in datasets.iter().enumerate() {
        let Some(node) = p.ds(ds) else {
            ret.insert((i + 1).to_string(), json!({"x": 0}));
            continue;
        };
        let mut e = Map::new();
        e.insert("x".into(), json!(1));
        if let Some(h) = p.user_prop(ds, "label:running") {
            e.insert("r".into(), json!(hex(&h.value)));
            e.insert("rs".into(), json!(h.setpoint));
        }
        if let Some(h) = p.user_prop(ds, "label:nosnap") {
            e.insert("n".into(), json!(hex(&h.value)));
        }
        let mut lines = String::new();
        let mut foreign = 0u64;
        for (short, s) in &node.snapshots {
            if short.starts_with(PREFIX) {
                if !lines.is_empty() {
                    lines.push('\n');
                }
                let _ = write!(
                    lines,
                    "{short} {} {} {} {}",
                    s.createtxg,
                    s.creation,
                    s.holds.len(),
                    s.clones.len()
                );
            } else {
                foreign += 1;
            }
        }
        e.insert("s".into(), Value::String(lines));
        e.insert("f".into(), json!(foreign));
        let bms: Vec<&str> = node
            .bookmarks
            .keys()
            .filter(|b| b.starts_with(PREFIX))
            .map(String::as_str)
            .collect();
        e.insert("b".into(), json!(bms.join("\n")));
        ret.insert((i + 1).to_string(), Value::Object(e));
    }
    Some(json!({ "return": ret }).to_string())
}

/// The answer with its line lists sorted (the program lists in a shuffled order).
fn normalized(stdout: &str) -> Option<Value> {
    let mut v: Value = serde_json::from_str(stdout.trim_end()).ok()?;
    if let Some(entries) = v.get_mut("return").and_then(Value::as_object_mut) {
        for e in entries.values_mut() {
            for key in ["s", "b"] {
                if let Some(Value::String(text)) = e.get_mut(key) {
                    let mut lines: Vec<&str> = text.lines().collect();
                    lines.sort_unstable();
                    *text = lines.join("\n");
                }
            }
        }
    }
    Some(v)
}

impl Exec for Twin<'_> {
    fn run(&self, tool: Tool, args: &[String], stdin: Option<&str>) -> Result<Output, ZfsError> {
        let is_inventory = tool == Tool::Zfs && stdin == Some(INVENTORY.source);
        let Some((pool, datasets)) = inventory_args(args).filter(|_| is_inventory) else {
            return self.inner.run(tool, args, stdin);
        };
        if self.exact {
            self.compared.set(self.compared.get() + 1);
            return self.inner.run(tool, args, stdin);
        }
        let native = native_inventory(&self.inner.world(), pool, datasets);
        if !self.verify.get()
            && let Some(out) = native
        {
            self.native.set(self.native.get() + 1);
            return Ok(Output {
                code: 0,
                stdout: out,
                stderr: String::new(),
            });
        }
        let real = self.inner.run(tool, args, stdin)?;
        self.compared.set(self.compared.get() + 1);
        let same = native.as_deref().and_then(normalized) == normalized(&real.stdout);
        if (!same || real.code != 0) && self.mismatch.borrow().is_none() {
            *self.mismatch.borrow_mut() = Some(format!(
                "inventory.lua (exit {}) and its native twin differ for {datasets:?}:\n  real: {}{}\n  twin: {}",
                real.code,
                real.stdout.trim_end(),
                real.stderr.trim_end(),
                native.unwrap_or_default()
            ));
        }
        Ok(real)
    }

    fn commands_run(&self) -> u64 {
        self.inner.commands_run() + self.native.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_ignores_line_order_only() {
        let a = r#"{"return":{"1":{"x":1,"s":"b 2\na 1","b":"y\nx","f":0}}}"#;
        let b = r#"{"return":{"1":{"f":0,"b":"x\ny","s":"a 1\nb 2","x":1}}}"#;
        let c = r#"{"return":{"1":{"f":0,"b":"x\ny","s":"a 1\nb 3","x":1}}}"#;
        assert_eq!(normalized(a), normalized(b));
        assert_ne!(normalized(a), normalized(c));
        assert_eq!(normalized("not json"), None);
    }

    #[test]
    fn inventory_args_shape() {
        let argv = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let a = argv("program -j -n -t 5 -- tank - tank/a tank/b");
        assert_eq!(inventory_args(&a), Some(("tank", &a[8..])));
        assert_eq!(inventory_args(&argv("program -j -- tank x tank/a")), None);
        assert_eq!(inventory_args(&argv("list -- tank - a")), None);
    }
}
