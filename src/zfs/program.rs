//! Running a channel program: `zfs program -j [-n] [-t N] [-m N] -- <pool> - <args…>` with the
//! script on stdin, and reading its JSON. The scripts themselves live in `lua/`, one per file,
//! embedded here verbatim.

use super::error::ZfsError;
use super::exec::{Exec, Tool};
use serde_json::Value;

/// A channel program shipped in `lua/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Program {
    /// File name in `lua/`.
    pub name: &'static str,
    /// The exact file text.
    pub source: &'static str,
}

/// `lua/inventory.lua`: read-only inventory of guest datasets.
pub const INVENTORY: Program = Program {
    name: "inventory.lua",
    source: include_str!("../../lua/inventory.lua"),
};
/// `lua/snapinfo.lua`: read-only createtxg/creation of named snapshots.
pub const SNAPINFO: Program = Program {
    name: "snapinfo.lua",
    source: include_str!("../../lua/snapinfo.lua"),
};
/// `lua/pins.lua`: read-only: which of named snapshots are held, busy or cloned.
pub const PINS: Program = Program {
    name: "pins.lua",
    source: include_str!("../../lua/pins.lua"),
};
/// `lua/apply.lua`: phase 1 of a pool's plan (labels, snapshots, bookmarks) in one
/// transaction group.
pub const APPLY: Program = Program {
    name: "apply.lua",
    source: include_str!("../../lua/apply.lua"),
};
/// `lua/destroy.lua`: phase 2 of a pool's plan, snapshot destroys, best effort.
pub const DESTROY: Program = Program {
    name: "destroy.lua",
    source: include_str!("../../lua/destroy.lua"),
};
/// `lua/scan.lua`: read-only search for guest disks and their newest candidates (`check`).
pub const SCAN: Program = Program {
    name: "scan.lua",
    source: include_str!("../../lua/scan.lua"),
};
/// Every shipped program.
pub const ALL: [Program; 6] = [INVENTORY, SNAPINFO, PINS, APPLY, DESTROY, SCAN];

/// OpenZFS' default instruction limit (`-t`).
pub const DEFAULT_INSTR_LIMIT: u64 = 10_000_000;
/// OpenZFS' default memory limit (`-m`), bytes.
pub const DEFAULT_MEM_LIMIT: u64 = 10 * 1024 * 1024;
/// OpenZFS' shipped maximum instruction limit (`zfs_lua_max_instrlimit`'s default).
pub const MAX_INSTR_LIMIT: u64 = 100_000_000;
/// OpenZFS' shipped maximum memory limit (`zfs_lua_max_memlimit`'s default), bytes.
pub const MAX_MEM_LIMIT: u64 = 100 * 1024 * 1024;

/// How to run a program.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgramOpts {
    /// `-n`: read-only, open context; any `zfs.sync.*` call is fatal.
    pub read_only: bool,
    /// `-t`: instruction limit; `None` leaves OpenZFS' default.
    pub instr_limit: Option<u64>,
    /// `-m`: memory limit in bytes; `None` leaves OpenZFS' default.
    pub mem_limit: Option<u64>,
}

/// The argv (after `zfs`) that runs `program` on `pool` with `args`; the script goes to stdin.
pub fn program_argv(pool: &str, opts: &ProgramOpts, args: &[String]) -> Vec<String> {
    let mut argv = vec!["program".to_string(), "-j".to_string()];
    if opts.read_only {
        argv.push("-n".into());
    }
    if let Some(t) = opts.instr_limit {
        argv.extend(["-t".to_string(), t.to_string()]);
    }
    if let Some(m) = opts.mem_limit {
        argv.extend(["-m".to_string(), m.to_string()]);
    }
    // `--` so that an argument starting with '-' is never taken for an option (GNU getopt permutes).
    argv.extend(["--".to_string(), pool.to_string(), "-".to_string()]);
    argv.extend(args.iter().cloned());
    argv
}

/// Runs `program` and returns its `return` value. A missing `return` key is an error: both
/// shipped programs always return a table, and an oversized output can come back "smushed"
/// with exit 0 and no `return`.
pub fn run(
    exec: &dyn Exec,
    pool: &str,
    program: &Program,
    args: &[String],
    opts: &ProgramOpts,
) -> Result<Value, ZfsError> {
    let argv = program_argv(pool, opts, args);
    let out = exec.run(Tool::Zfs, &argv, Some(program.source))?;
    if out.code != 0 {
        return Err(ZfsError::failed(Tool::Zfs, &argv, &out));
    }
    let mut json: Value = serde_json::from_str(out.stdout.trim_end()).map_err(|e| {
        ZfsError::parse(
            Tool::Zfs,
            &argv,
            format!("{} returned invalid JSON: {e}", program.name),
            &out.stdout,
        )
    })?;
    match json.get_mut("return") {
        Some(v) => Ok(v.take()),
        None => Err(ZfsError::parse(
            Tool::Zfs,
            &argv,
            format!("{} printed no `return` key", program.name),
            &out.stdout,
        )),
    }
}

/// Reads a Lua array as `zfs program -j` prints it (an object keyed "1", "2", …) into a
/// vector in index order. Missing indices, extra keys or an empty array printed as `{}` are
/// handled: the result has exactly `len` slots, `None` where an index is absent.
pub fn lua_array(value: &Value, len: usize) -> Result<Vec<Option<&Value>>, String> {
    let obj = value
        .as_object()
        .ok_or_else(|| format!("expected a table, got {value}"))?;
    let mut out = vec![None; len];
    for (k, v) in obj {
        let idx: usize = k
            .parse()
            .map_err(|_| format!("unexpected key {k:?} in an array"))?;
        if idx == 0 || idx > len {
            return Err(format!("array index {idx} out of range 1..={len}"));
        }
        out[idx - 1] = Some(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zfs::exec::Output;
    use std::cell::RefCell;

    /// Replays canned outputs and records the calls.
    struct Canned {
        out: Output,
        calls: RefCell<Vec<(Vec<String>, Option<String>)>>,
    }
    impl Exec for Canned {
        fn run(&self, _: Tool, args: &[String], stdin: Option<&str>) -> Result<Output, ZfsError> {
            self.calls
                .borrow_mut()
                .push((args.to_vec(), stdin.map(String::from)));
            Ok(self.out.clone())
        }
        fn commands_run(&self) -> u64 {
            self.calls.borrow().len() as u64
        }
    }
    fn canned(code: i32, stdout: &str, stderr: &str) -> Canned {
        Canned {
            out: Output {
                code,
                stdout: stdout.into(),
                stderr: stderr.into(),
            },
            calls: RefCell::new(vec![]),
        }
    }

    #[test]
    fn argv_shape() {
        let args = vec!["-dash".to_string(), "b".to_string()];
        let ro = ProgramOpts {
            read_only: true,
            instr_limit: Some(5),
            mem_limit: Some(7),
        };
        assert_eq!(
            program_argv("tank", &ro, &args),
            [
                "program", "-j", "-n", "-t", "5", "-m", "7", "--", "tank", "-", "-dash", "b"
            ]
        );
        assert_eq!(
            program_argv("tank", &ProgramOpts::default(), &[]),
            ["program", "-j", "--", "tank", "-"]
        );
    }

    #[test]
    fn run_passes_the_embedded_script_on_stdin() {
        let c = canned(0, r#"{"return":{"1":"a"}}"#, "");
        let v = run(
            &c,
            "tank",
            &INVENTORY,
            &["tank/a".into()],
            &ProgramOpts::default(),
        )
        .unwrap();
        assert_eq!(v, serde_json::json!({"1": "a"}));
        let calls = c.calls.borrow();
        assert_eq!(calls[0].1.as_deref(), Some(INVENTORY.source));
        assert!(INVENTORY.source.contains("zfs.list.snapshots"));
    }

    #[test]
    fn run_errors() {
        let missing = run(
            &canned(0, "{}", ""),
            "tank",
            &APPLY,
            &[],
            &ProgramOpts::default(),
        )
        .unwrap_err();
        assert!(missing.to_string().contains("no `return` key"), "{missing}");
        let smushed = run(
            &canned(0, r#"{"N_MORE_ERRORS":1}"#, ""),
            "tank",
            &APPLY,
            &[],
            &ProgramOpts::default(),
        )
        .unwrap_err();
        assert!(matches!(smushed, ZfsError::Parse { .. }));
        let bad = run(
            &canned(0, "{not json", ""),
            "tank",
            &APPLY,
            &[],
            &ProgramOpts::default(),
        )
        .unwrap_err();
        assert!(bad.to_string().contains("invalid JSON"), "{bad}");
        let limit = run(
            &canned(
                1,
                "",
                "Channel program execution failed:\nChannel program timed out.\n",
            ),
            "tank",
            &APPLY,
            &[],
            &ProgramOpts::default(),
        )
        .unwrap_err();
        assert_eq!(
            limit.kind(),
            Some(crate::zfs::FailureKind::InstructionLimit)
        );
        assert!(
            limit.to_string().contains("zfs program -j -- tank -"),
            "{limit}"
        );
    }

    #[test]
    fn lua_array_reads_objects_in_index_order() {
        let v = serde_json::json!({"2": "b", "1": "a", "4": "d"});
        let got = lua_array(&v, 4).unwrap();
        assert_eq!(
            got.iter()
                .map(|x| x.and_then(|v| v.as_str()))
                .collect::<Vec<_>>(),
            [Some("a"), Some("b"), None, Some("d")]
        );
        assert!(lua_array(&serde_json::json!({"5": 1}), 4).is_err());
        assert!(lua_array(&serde_json::json!({"x": 1}), 4).is_err());
        assert!(lua_array(&serde_json::json!([1]), 1).is_err());
        assert_eq!(lua_array(&serde_json::json!({}), 0).unwrap().len(), 0);
    }
}
