//! `zfs` and `zpool` command lines run in-process against a [`World`]: exactly what the
//! `zfs-emu` executable does, and what the product's `simulate` command calls.
//!
//! `zfs program` parses like the real one (getopt `nt:m:j` with GNU permutation, `--`,
//! `--json` from 2.3, `strtoull(…, 0)` limits, exit 2 on usage errors, `cannot open pool`,
//! EINVAL for a zero or too large limit). The other commands cover what tests need to build
//! and inspect a pool: `create [-p] [-s] [-V size] [-o p=v]`, `snapshot`, `bookmark`,
//! `destroy [-d]` (non-recursive), `set` (user properties; `--received` is an emulator
//! extension that stores a value as if it came with `zfs recv`), `inherit`, `get -H -p -o`,
//! `list -H -p -o -t -r -d -s -S`, `hold`, `release`, `clone`, `version`, and `send`/`recv`
//! (in `sendrecv`; the stream is this emulator's own format). Output formats
//! follow real `zfs` for `-H -p`; error messages are close to the real ones.
//! Pure with respect to the process: no printing, no exit; returns (code, stdout, stderr).

use std::collections::BTreeSet;

use super::model::{self, DsKind, NameKind, errno::*, split_name};
use super::{DEFAULT_INSTR_LIMIT, DEFAULT_MEM_LIMIT, ProgramRequest, World, json::Nv};

type Out = (i32, String, String);

fn err(code: i32, msg: impl Into<String>) -> Out {
    (code, String::new(), msg.into())
}

const PROGRAM_USAGE: &str = "usage:\n\tprogram [-jn] [-t <instruction limit>] [-m <memory limit (b)>]\n\t    <pool> <program file> [lua args...]\n";

/// Help text of the `zfs-emu` executable.
pub const HELP: &str = "\
zfs-emu: a stand-in for `zfs` and `zpool` backed by the pve-zfs-snap channel-program emulator.
Test tool; not part of the installed package.

Invocation: as `zfs ...` / `zpool ...` (a symlink or copy with that name first on PATH), or
`zfs-emu zfs ...` / `zfs-emu zpool ...`.

Environment:
  ZFS_EMU_STATE=<file>    JSON state of all pools (created empty if missing; default
                          ./zfs-emu-state.json). Each invocation holds an exclusive lock
                          on <file>.lock, so concurrent runs behave like one host.
  ZFS_EMU_VERSION=2.1.11  emulated OpenZFS version (default: the state's, else 2.3.2);
                          gates channel-program functions (2.0, 2.2, 2.4 features).
  ZFS_EMU_NOW=<secs>      clock for this invocation (creation times, holds).
  ZFS_EMU_SEED=<n>        makes the zfs.list.* shuffle reproducible (default random).
  ZFS_EMU_FAULTS=<f>,...  injects faults (a bad spec exits 2). Names come last:
    enospc:<pool>           the pool is full: zfs.check/sync snapshot, bookmark, clone
                            return ENOSPC (set_prop, inherit, destroy keep the kernel's
                            reserved room)
    enospc:<pool>:<size>    <size> free (bytes, K, M, G): checks and syncs are charged
                            the kernel's estimate (snapshot 144K, set_prop 96K, bookmark
                            48K, destroy 0) per program; ENOSPC past it
    enospc-sync:<pool>      checks pass, then the sync calls of snapshot, bookmark, clone
                            return ENOSPC (free space = what the checks take)
    eio:<dataset>           reading it (get_prop, exists, list) is fatal, zfs.check.* on
                            it returns EIO, zfs.sync.* on it is fatal ('I/O error while
                            accessing dataset'); snapshots and bookmarks included
    vanish-after:<N>:<pool> from the N-th `zfs program` call on (counted in the state
                            file) the pool does not exist, for every command
    kill-after:<K>          the sync program making the K-th zfs.sync.* call (counted
                            across programs; 0 = before the first) is killed right after
                            it: its changes stay, SIGKILL, no output; fires once
    hang:<cmd>[:<secs>]     <cmd> sleeps <secs> (default 3600) first, holding nothing
    fail-exec:<cmd>         <cmd> exits 1 with libzfs' 'modules are not loaded' message
    <cmd>: program, program-sync (no -n), program-n, zpool (any), all, or a zfs
    subcommand (list, get, version, send, recv, ...).
    send-cut:[<N>:]<ds>     zfs send from <ds> stops after N snapshots (default 0) and
                            half of the next, exit 1 (I/O error): a broken transfer
    recv-cut:[<N>:]<ds>     zfs recv into <ds> sees its stream end inside snapshot N+1
                            (with -s: partial state and receive_resume_token)
    dirty:<ds>              <ds> was written since its latest snapshot: an incremental
                            recv without -F fails ('has been modified')

zpool: create <pool> [vdevs ignored] | destroy <pool> | list [-H] [-o name]
zfs:   program [-jn] [-t N] [-m N] [--] <pool> <script|-> [args...]
       version
       create [-p] [-s] [-V size] [-o prop=value]... <fs|vol>
       snapshot [-o prop=value]... <ds@snap>...
       bookmark <ds@snap|ds#bm> <ds#bm>
       destroy [-d] <ds|ds@snap|ds#bm>       (non-recursive)
       set [--received] <prop=value> <ds>... (user properties)
       inherit [-S] <prop> <ds>...
       get [-H] [-p] [-r] [-o fields] <props|all> <ds>...
       list [-H] [-p] [-r] [-d depth] [-o props] [-t types] [-s prop] [-S prop] [ds...]
       hold <tag> <snap>... | release <tag> <snap>...
       clone <snap> <fs>
       send [-DLPRcenpvw] [-i|-I <@snap|#bm|ds@snap|ds#bm>] <ds@snap>  (stream on stdout)
       send [-Pnv] -t <receive_resume_token>
       recv|receive [-Fnsuv] [-o prop=value]... [-x prop]... <fs|vol>  (stream on stdin)
       recv -A <fs|vol>
       (the stream is the emulator's own format: it only goes from zfs-emu to zfs-emu)
Exit codes: 0 ok, 1 error, 2 usage; 99 = the channel program would have panicked the kernel;
killed by SIGKILL (a shell shows 137) = kill-after.
";

/// Runs one `zpool` command line (without `argv[0]`).
pub fn zpool_main(world: &mut World, args: &[String]) -> Out {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["create", rest @ ..] => {
            let pos = positional(rest, &["-o", "-O", "-R", "-m", "-t"]);
            let Some(pool) = pos.first() else {
                return err(2, "missing pool name\n");
            };
            match world.create_pool(pool) {
                Ok(()) => (0, String::new(), String::new()),
                Err(EEXIST) => err(1, format!("cannot create '{pool}': pool already exists\n")),
                Err(_) => err(1, format!("cannot create '{pool}': invalid pool name\n")),
            }
        }
        ["destroy", rest @ ..] => {
            let pos = positional(rest, &[]);
            let Some(pool) = pos.first() else {
                return err(2, "missing pool name\n");
            };
            match world.destroy_pool(pool) {
                Ok(()) => (0, String::new(), String::new()),
                Err(_) => err(1, format!("cannot open '{pool}': no such pool\n")),
            }
        }
        ["list", rest @ ..] => {
            let header = !rest.contains(&"-H");
            let cols: Vec<&str> = match rest.iter().position(|a| *a == "-o") {
                Some(i) => match rest.get(i + 1) {
                    Some(c) => c.split(',').collect(),
                    None => return err(2, "missing argument for 'o' option\n"),
                },
                None => vec!["name"],
            };
            // Sizes as `zpool list -p` prints them: a 100 GiB pool, `pool-state` sets its
            // health and how full it is.
            const SIZE: u64 = 100 << 30;
            let mut out = String::new();
            if header {
                let names: Vec<String> = cols.iter().map(|c| c.to_uppercase()).collect();
                out.push_str(&names.join("\t"));
                out.push('\n');
            }
            for p in world.pools.keys() {
                let (health, pct) = world
                    .faults()
                    .and_then(|f| f.pool_state(p))
                    .unwrap_or(("ONLINE", 1));
                let alloc = SIZE / 100 * pct;
                let mut row = Vec::new();
                for c in &cols {
                    row.push(match *c {
                        "name" => p.clone(),
                        "health" => health.to_string(),
                        "size" => SIZE.to_string(),
                        "allocated" | "alloc" => alloc.to_string(),
                        "free" => (SIZE - alloc).to_string(),
                        "capacity" | "cap" => pct.to_string(),
                        other => return err(2, format!("invalid property '{other}'\n")),
                    });
                }
                out.push_str(&row.join("\t"));
                out.push('\n');
            }
            (0, out, String::new())
        }
        ["--help" | "-h" | "help"] | [] => (0, HELP.to_string(), String::new()),
        [cmd, ..] => err(2, format!("unrecognized command '{cmd}'\n")),
    }
}

/// Non-option arguments, skipping flags and the values of `with_value` options.
fn positional<'a>(args: &[&'a str], with_value: &[&str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        if with_value.contains(&a) {
            i += 2;
            continue;
        }
        if !a.starts_with('-') || a == "-" {
            out.push(a);
        }
        i += 1;
    }
    out
}

/// Runs one `zfs` command line (without `argv[0]`); `stdin` feeds `zfs program … -`.
pub fn zfs_main(world: &mut World, args: &[String], stdin: &str) -> Out {
    let Some(cmd) = args.first() else {
        return (2, String::new(), HELP.to_string());
    };
    let rest = &args[1..];
    match cmd.as_str() {
        "program" => program(world, rest, stdin),
        "version" => {
            let v = world.version;
            (0, format!("zfs-{v}-1\nzfs-kmod-{v}-1\n"), String::new())
        }
        "create" => create(world, rest),
        "snapshot" | "snap" => snapshot(world, rest),
        "bookmark" => match rest {
            [src, bm] => match world.bookmark(src, bm) {
                Ok(()) => ok(),
                Err(e) => err(
                    1,
                    format!("cannot create bookmark '{bm}': {}\n", strerror(e)),
                ),
            },
            _ => err(2, "usage:\n\tbookmark <snapshot|bookmark> <newbookmark>\n"),
        },
        "destroy" => destroy(world, rest),
        "set" => set(world, rest),
        // `-S` (revert to the received value): what this emulator's inherit of a user
        // property always does (received values stay; the kernel's `$inherit` mask that plain
        // `zfs inherit` leaves on a dataset with received properties is not modelled).
        "inherit" => match rest.strip_prefix(&["-S".to_string()][..]).unwrap_or(rest) {
            [prop, dss @ ..] if !dss.is_empty() && !prop.contains(':') => err(
                1,
                format!(
                    "cannot inherit {prop}: EMULATOR: inherit of a native property is not modelled\n"
                ),
            ),
            [prop, dss @ ..] if !dss.is_empty() => {
                for ds in dss {
                    if let Err(e) = world.inherit_user_prop(ds, prop) {
                        return err(
                            1,
                            format!("cannot inherit {prop} for '{ds}': {}\n", strerror(e)),
                        );
                    }
                }
                ok()
            }
            _ => err(
                2,
                "usage:\n\tinherit <property> <filesystem|volume|snapshot> ...\n",
            ),
        },
        "get" => get(world, rest),
        "list" => list(world, rest),
        "send" => super::sendrecv::send(world, rest),
        "recv" | "receive" => super::sendrecv::recv(world, rest, stdin),
        "hold" | "release" => match rest {
            [tag, snaps @ ..] if !snaps.is_empty() => {
                for s in snaps {
                    let r = if cmd == "hold" {
                        world.hold(tag, s)
                    } else {
                        world.release(tag, s)
                    };
                    match r {
                        Ok(()) => {}
                        Err(EEXIST) => {
                            return err(
                                1,
                                format!(
                                    "cannot hold snapshot '{s}': tag already exists on this dataset\n"
                                ),
                            );
                        }
                        Err(3) => {
                            return err(
                                1,
                                format!(
                                    "cannot release hold from snapshot '{s}': no such tag on this dataset\n"
                                ),
                            );
                        }
                        Err(e) => {
                            return err(
                                1,
                                format!("cannot {cmd} snapshot '{s}': {}\n", strerror(e)),
                            );
                        }
                    }
                }
                ok()
            }
            _ => err(2, format!("usage:\n\t{cmd} <tag> <snapshot> ...\n")),
        },
        "clone" => match positional(
            &rest.iter().map(String::as_str).collect::<Vec<_>>(),
            &["-o"],
        )
        .as_slice()
        {
            [snap, fs] => match world.clone_snapshot(snap, fs) {
                Ok(()) => ok(),
                Err(e) => err(1, format!("cannot create '{fs}': {}\n", strerror(e))),
            },
            _ => err(
                2,
                "usage:\n\tclone [-p] [-o property=value] ... <snapshot> <filesystem|volume>\n",
            ),
        },
        "--help" | "-h" | "help" | "-?" => (0, HELP.to_string(), String::new()),
        other => err(2, format!("unrecognized command '{other}'\n{HELP}")),
    }
}

fn ok() -> Out {
    (0, String::new(), String::new())
}

fn strerror(e: i32) -> &'static str {
    match e {
        ENOENT => "dataset does not exist",
        EEXIST => "dataset already exists",
        EBUSY => "dataset is busy",
        EINVAL => "invalid argument",
        EXDEV => "cross-device link",
        EAGAIN => "resource temporarily unavailable",
        ENAMETOOLONG => "name is too long",
        E2BIG => "property value too long",
        1039 => "source is not an ancestor of the new bookmark's dataset",
        _ => "unknown error",
    }
}

/// `strtoull(s, &end, 0)` with the CLI's checks: `None` on junk or overflow.
fn strtoull(s: &str) -> Option<u64> {
    let t = s.trim_start();
    let (neg, digits, base) = super::lint::sign_and_radix(t);
    if digits.is_empty() {
        return if s.is_empty() { Some(0) } else { None };
    }
    let mut v: u64 = 0;
    for ch in digits.chars() {
        let d = ch.to_digit(base)?;
        v = v.checked_mul(u64::from(base))?.checked_add(u64::from(d))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

fn program(world: &mut World, args: &[String], stdin: &str) -> Out {
    let mut sync = true;
    let mut json_out = false;
    let mut instr = DEFAULT_INSTR_LIMIT;
    let mut mem = DEFAULT_MEM_LIMIT;
    let mut pos: Vec<&str> = Vec::new();
    let mut i = 0;
    let usage = |msg: String| (2, String::new(), format!("{msg}{PROGRAM_USAGE}"));
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if a == "--" {
            pos.extend(args[i..].iter().map(String::as_str));
            break;
        }
        if a == "--json" && world.version.at_least(2, 3) {
            json_out = true;
            continue;
        }
        if let Some(long) = a.strip_prefix("--") {
            return usage(format!("invalid option '{long}'\n"));
        }
        if !a.starts_with('-') || a == "-" {
            pos.push(a);
            continue;
        }
        let chars: Vec<char> = a[1..].chars().collect();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            j += 1;
            match c {
                'n' => sync = false,
                'j' => json_out = true,
                't' | 'm' => {
                    let val: String = if j < chars.len() {
                        let v = chars[j..].iter().collect();
                        j = chars.len();
                        v
                    } else if i < args.len() {
                        i += 1;
                        args[i - 1].clone()
                    } else {
                        return usage(format!("missing argument for '{c}' option\n"));
                    };
                    let Some(n) = strtoull(&val) else {
                        return usage(format!("invalid argument '{val}': expected integer\n"));
                    };
                    if c == 't' {
                        instr = n;
                    } else {
                        mem = n;
                    }
                }
                other => return usage(format!("invalid option '{other}'\n")),
            }
        }
    }
    if pos.len() < 2 {
        return usage("invalid number of arguments\n".into());
    }
    let (pool, file) = (pos[0], pos[1]);
    let script = if file == "-" {
        stdin.to_string()
    } else {
        match std::fs::read(file) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => {
                let msg = e.to_string();
                let msg = msg.split(" (os error").next().unwrap_or(&msg).to_string();
                return err(1, format!("cannot open '{file}': {msg}\n"));
            }
        }
    };
    if !world.pools.contains_key(pool) {
        let why = if pool.contains('/') {
            "invalid character '/' in pool name"
        } else {
            "no such pool"
        };
        return err(
            1,
            format!("cannot open '{pool}': {why}\ncannot open pool '{pool}'\n"),
        );
    }
    let req = ProgramRequest {
        pool: pool.to_string(),
        script,
        argv: pos[2..].iter().map(|s| s.to_string()).collect(),
        sync,
        instr_limit: instr,
        mem_limit: mem,
    };
    let o = world.run_program(&req);
    if o.exit_code != 0 {
        return (o.exit_code, String::new(), o.stderr);
    }
    if json_out {
        (0, o.stdout, String::new())
    } else if o.output.is_empty() {
        (
            0,
            "Channel program fully executed and did not produce output.\n".into(),
            String::new(),
        )
    } else {
        let mut s = "Channel program fully executed and produced output:\n".to_string();
        dump(&mut s, &o.output, 4);
        (0, s, String::new())
    }
}

/// A simplified `dump_nvlist`.
fn dump(out: &mut String, pairs: &[(Vec<u8>, Nv)], indent: usize) {
    for (k, v) in pairs {
        let k = String::from_utf8_lossy(k);
        let pad = " ".repeat(indent);
        match v {
            Nv::Flag => out.push_str(&format!("{pad}{k}\n")),
            Nv::Bool(b) => out.push_str(&format!("{pad}{k}: {b}\n")),
            Nv::Int(n) => out.push_str(&format!("{pad}{k}: {n}\n")),
            Nv::Str(s) => out.push_str(&format!("{pad}{k}: '{}'\n", String::from_utf8_lossy(s))),
            Nv::List(l) => {
                out.push_str(&format!("{pad}{k}:\n"));
                dump(out, l, indent + 4);
            }
        }
    }
}

pub(crate) fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let unit = s[i..].to_ascii_uppercase();
            let m = match unit.trim_end_matches('B').trim_end_matches('I') {
                "" => 1u64,
                "K" => 1 << 10,
                "M" => 1 << 20,
                "G" => 1 << 30,
                "T" => 1 << 40,
                "P" => 1 << 50,
                _ => return None,
            };
            (&s[..i], m)
        }
        None => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

/// Splits `-o prop=value` pairs out of the arguments.
fn take_props(args: &[String]) -> (Vec<(String, String)>, Vec<String>) {
    let mut props = Vec::new();
    let mut rest = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if args[i] == "-o" && i + 1 < args.len() {
            if let Some((p, v)) = args[i + 1].split_once('=') {
                props.push((p.to_string(), v.to_string()));
            }
            i += 2;
        } else {
            rest.push(args[i].clone());
            i += 1;
        }
    }
    (props, rest)
}

fn create(world: &mut World, args: &[String]) -> Out {
    let (props, rest) = take_props(args);
    let mut parents = false;
    let mut vol = None;
    let mut names = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        match rest[i].as_str() {
            "-p" => parents = true,
            "-s" => {}
            "-ps" | "-sp" => parents = true,
            "-V" if i + 1 < rest.len() => {
                i += 1;
                match parse_size(&rest[i]) {
                    Some(n) => vol = Some(n),
                    None => return err(1, format!("bad volume size '{}'\n", rest[i])),
                }
            }
            s if s.starts_with('-') => return err(2, format!("invalid option '{}'\n", &s[1..])),
            s => names.push(s.to_string()),
        }
        i += 1;
    }
    let [name] = names.as_slice() else {
        return err(
            2,
            "usage:\n\tcreate [-p] [-o property=value] ... <filesystem>\n\tcreate [-ps] [-b blocksize] [-o property=value] ... -V <size> <volume>\n",
        );
    };
    let kind = if vol.is_some() {
        DsKind::Volume
    } else {
        DsKind::Filesystem
    };
    for (p, v) in &props {
        if model::is_user_prop(p) {
            continue;
        }
        if !model::NATIVE_SETTABLE.contains(&p.as_str()) {
            return err(
                1,
                format!("cannot create '{name}': EMULATOR: property '{p}' is not modelled\n"),
            );
        }
        if !model::valid_native_value(p, v, kind) {
            return err(1, format!("cannot create '{name}': bad {p} value '{v}'\n"));
        }
    }
    if world.pool(name).is_none() {
        return err(
            1,
            format!(
                "cannot create '{name}': no such pool '{}'\n",
                model::pool_of(name)
            ),
        );
    }
    match world.create_dataset(name, vol, parents) {
        Ok(()) => {}
        Err(ENOENT) => {
            return err(
                1,
                format!("cannot create '{name}': parent does not exist\n"),
            );
        }
        Err(EEXIST) => {
            return err(
                1,
                format!("cannot create '{name}': dataset already exists\n"),
            );
        }
        Err(_) => return err(1, format!("cannot create '{name}': invalid dataset name\n")),
    }
    for (p, v) in props {
        if model::is_user_prop(&p) {
            let _ = world.set_user_prop(name, &p, &v);
        } else {
            let _ = world.set_native_prop(name, &p, &v);
            // `zfs create` mounts only what has canmount=on.
            if p == "canmount"
                && v == "noauto"
                && let Some(n) = world
                    .pools
                    .get_mut(model::pool_of(name))
                    .and_then(|pl| pl.datasets.get_mut(name.as_str()))
            {
                n.mounted = false;
            }
        }
    }
    ok()
}

fn snapshot(world: &mut World, args: &[String]) -> Out {
    let (props, rest) = take_props(args);
    let names: Vec<&String> = rest.iter().filter(|a| !a.starts_with('-')).collect();
    if names.is_empty() {
        return err(
            2,
            "usage:\n\tsnapshot [-r] [-o property=value] ... <filesystem|volume>@<snap> ...\n",
        );
    }
    for n in &names {
        match split_name(n) {
            NameKind::Snapshot(ds, s) if model::valid_component(s) && !ds.is_empty() => {
                if world.pool(n).and_then(|p| p.ds(ds)).is_none() {
                    return err(
                        1,
                        format!(
                            "cannot open '{ds}': dataset does not exist\nusage:\n\tsnapshot [-r] [-o property=value] ... <filesystem|volume>@<snap> ...\n"
                        ),
                    );
                }
            }
            _ => {
                return err(
                    1,
                    format!("cannot create snapshot '{n}': invalid character in name\n"),
                );
            }
        }
    }
    // All snapshots of one command share one txg, like `zfs snapshot a@s b@s`.
    world.txg += 1;
    let st = model::Stamp {
        txg: world.txg,
        now: world.now(),
        guid: 0,
    };
    for n in &names {
        let guid = world.next_guid();
        let Some(pool) = world.pools.get_mut(model::pool_of(n)) else {
            continue;
        };
        match model::snapshot(pool, n, model::Stamp { guid, ..st }, false) {
            0 => {}
            EEXIST => {
                return err(
                    1,
                    format!("cannot create snapshot '{n}': dataset already exists\n"),
                );
            }
            e => {
                return err(
                    1,
                    format!("cannot create snapshot '{n}': {}\n", strerror(e)),
                );
            }
        }
        for (p, v) in &props {
            let _ = model::set_user_prop(pool, n, p, v, false);
        }
    }
    ok()
}

fn destroy(world: &mut World, args: &[String]) -> Out {
    let defer = args.iter().any(|a| a == "-d");
    let names: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let [name] = names.as_slice() else {
        return err(
            2,
            "usage:\n\tdestroy [-fnpRrv] <filesystem|volume>\n\tdestroy [-dnpRrv] <filesystem|volume>@<snap>[%<snap>][,...]\n\tdestroy <filesystem|volume>#<bookmark>\n",
        );
    };
    let Some(pool) = world.pool(name) else {
        return err(1, format!("cannot open '{name}': dataset does not exist\n"));
    };
    match split_name(name) {
        NameKind::Snapshot(ds, _) => {
            if pool.ds(ds).is_none() {
                return err(1, format!("cannot open '{ds}': dataset does not exist\n"));
            }
            let Some(sn) = pool.snap(name) else {
                return err(
                    1,
                    "could not find any snapshots to destroy; check snapshot names.\n",
                );
            };
            if !sn.clones.is_empty() && !defer {
                let list: Vec<&str> = sn.clones.iter().map(String::as_str).collect();
                return err(
                    1,
                    format!(
                        "cannot destroy '{name}': snapshot has dependent clones\nuse '-R' to destroy the following datasets:\n{}\n",
                        list.join("\n")
                    ),
                );
            }
            if !sn.holds.is_empty() && !defer {
                return err(
                    1,
                    format!("cannot destroy snapshot {name}: dataset is busy\n"),
                );
            }
            let now = world.now();
            let p = world.pools.get_mut(model::pool_of(name)).expect("checked");
            world.txg += 1;
            model::destroy_snapshot(p, name, defer, now, false);
            ok()
        }
        NameKind::Bookmark(..) => match world.destroy(name) {
            Ok(()) => ok(),
            Err(_) => err(
                1,
                format!("cannot destroy bookmark '{name}': bookmark does not exist\n"),
            ),
        },
        NameKind::Dataset(ds) => {
            let Some(node) = pool.ds(ds) else {
                return err(1, format!("cannot open '{name}': dataset does not exist\n"));
            };
            let mut deps: Vec<String> = pool.children(ds);
            deps.extend(node.snapshots.keys().map(|s| format!("{ds}@{s}")));
            if !deps.is_empty() {
                return err(
                    1,
                    format!(
                        "cannot destroy '{name}': filesystem has children\nuse '-r' to destroy the following datasets:\n{}\n",
                        deps.join("\n")
                    ),
                );
            }
            match world.destroy(name) {
                Ok(()) => ok(),
                Err(e) => err(1, format!("cannot destroy '{name}': {}\n", strerror(e))),
            }
        }
    }
}

fn set(world: &mut World, args: &[String]) -> Out {
    let received = args.iter().any(|a| a == "--received");
    let rest: Vec<&String> = args.iter().filter(|a| *a != "--received").collect();
    let [assign, dss @ ..] = rest.as_slice() else {
        return err(
            2,
            "usage:\n\tset <property=value> ... <filesystem|volume|snapshot> ...\n",
        );
    };
    let Some((prop, value)) = assign.split_once('=') else {
        return err(2, format!("missing '=' for property argument '{assign}'\n"));
    };
    if dss.is_empty() {
        return err(2, "missing dataset name(s)\n");
    }
    let native = !model::is_user_prop(prop);
    if native && (received || !model::NATIVE_SETTABLE.contains(&prop)) {
        return err(
            1,
            format!(
                "cannot set property for '{}': EMULATOR: only user properties (with ':') and {} can be set\n",
                dss[0],
                model::NATIVE_SETTABLE.join(", ")
            ),
        );
    }
    for ds in dss {
        let r = if native {
            match world.set_native_prop(ds, prop, value) {
                // A bad value of an index property: `zfs set` exits 255 from OpenZFS 2.2 on
                // (it parses all `prop=value` pairs first, a usage error) and 1 before
                // (conformance case 350: 2.1.11 gives 1, 2.3.2 and 2.4.4 give 255; 2.2 not seen).
                Err(EINVAL) => {
                    return err(
                        if world.version.at_least(2, 2) { 255 } else { 1 },
                        format!("cannot set property for '{ds}': bad {prop} value '{value}'\n"),
                    );
                }
                r => r,
            }
        } else if received {
            world.set_received_prop(ds, prop, value)
        } else {
            world.set_user_prop(ds, prop, value)
        };
        if let Err(e) = r {
            return err(1, format!("cannot open '{ds}': {}\n", strerror(e)));
        }
    }
    ok()
}

/// Value and `zfs get` source of one property, `-` for unset ones.
fn prop_value(world: &World, name: &str, prop: &str, parsable: bool) -> (String, String) {
    let Some(pool) = world.pool(name) else {
        return ("-".into(), "-".into());
    };
    if model::is_user_prop(prop) {
        return match pool.user_prop(name, prop) {
            None => ("-".into(), "-".into()),
            Some(h) if h.on_self && h.received => (h.value, "received".into()),
            Some(h) if h.on_self => (h.value, "local".into()),
            Some(h) => (h.value, format!("inherited from {}", h.setpoint)),
        };
    }
    let (head, snap) = match split_name(name) {
        NameKind::Snapshot(ds, _) => (ds, pool.snap(name)),
        NameKind::Bookmark(ds, b) => {
            let bm = pool.ds(ds).and_then(|n| n.bookmarks.get(b));
            return match (prop, bm) {
                ("name", _) => (name.to_string(), "-".into()),
                ("type", _) => ("bookmark".into(), "-".into()),
                ("createtxg", Some(b)) => (b.createtxg.to_string(), "-".into()),
                ("creation", Some(b)) => (fmt_time(b.creation, parsable), "-".into()),
                ("guid", Some(b)) => (b.guid.to_string(), "-".into()),
                _ => ("-".into(), "-".into()),
            };
        }
        NameKind::Dataset(ds) => (ds, None),
    };
    let Some(node) = pool.ds(head) else {
        return ("-".into(), "-".into());
    };
    let none = || ("-".to_string(), "-".to_string());
    let ro = |v: String| (v, "-".to_string());
    match (prop, snap) {
        ("name", _) => ro(name.to_string()),
        ("type", Some(_)) => ro("snapshot".into()),
        ("type", None) => ro(match node.kind {
            DsKind::Filesystem => "filesystem".into(),
            DsKind::Volume => "volume".into(),
        }),
        ("createtxg", Some(s)) => ro(s.createtxg.to_string()),
        ("createtxg", None) => ro(node.createtxg.to_string()),
        ("creation", Some(s)) => ro(fmt_time(s.creation, parsable)),
        ("creation", None) => ro(fmt_time(node.creation, parsable)),
        ("receive_resume_token", None) => node
            .resume
            .as_ref()
            .map_or_else(none, |r| ro(super::sendrecv::resume_token(r))),
        ("guid", Some(s)) => ro(s.guid.to_string()),
        ("guid", None) => ro(node.guid.to_string()),
        ("userrefs", Some(s)) => ro(s.holds.len().to_string()),
        ("defer_destroy", Some(s)) => ro(if s.defer_destroy { "on" } else { "off" }.into()),
        ("numclones", Some(s)) => ro(s.clones.len().to_string()),
        ("clones", Some(s)) => ro(s.clones.iter().cloned().collect::<Vec<_>>().join(",")),
        ("origin", None) => node.origin.clone().map_or_else(none, ro),
        ("volsize", None) if node.kind == DsKind::Volume => {
            (node.volsize.unwrap_or(0).to_string(), "local".into())
        }
        ("used" | "usedbysnapshots", Some(_)) => ro("0".into()),
        ("used" | "referenced" | "refer", _) => ro("98304".into()),
        ("available" | "avail", None) => ro("1073741824".into()),
        ("mountpoint" | "canmount" | "compression" | "readonly", None)
            if model::native_applies(prop, node.kind) =>
        {
            match pool.native_prop(head, prop) {
                Some(h) if h.on_self => (h.value, "local".into()),
                Some(h) => (h.value, format!("inherited from {}", h.setpoint)),
                None => (
                    super::default_native(world.version, head, prop).unwrap_or_default(),
                    "default".into(),
                ),
            }
        }
        // 2.2+; libzfs shows 0 (never changed) as "-" and the time with seconds.
        ("snapshots_changed", None)
            if world.version.at_least(2, 2) && node.snapshots_changed != 0 =>
        {
            let t = node.snapshots_changed;
            ro(if parsable {
                t.to_string()
            } else {
                chrono::DateTime::from_timestamp(t, 0)
                    .map(|d| d.format("%a %b %e %k:%M:%S %Y").to_string())
                    .unwrap_or_else(|| t.to_string())
            })
        }
        ("mounted", None) if node.kind == DsKind::Filesystem => {
            ro(if pool.is_mounted(head) { "yes" } else { "no" }.into())
        }
        _ => none(),
    }
}

fn fmt_time(t: i64, parsable: bool) -> String {
    if parsable {
        return t.to_string();
    }
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%a %b %e %-H:%M %Y").to_string())
        .unwrap_or_else(|| t.to_string())
}

/// Datasets (and with `types`, snapshots/bookmarks) under `root`, in `zfs list` order.
fn walk(
    world: &World,
    root: &str,
    depth: Option<usize>,
    types: &BTreeSet<String>,
    out: &mut Vec<String>,
) {
    let Some(pool) = world.pool(root) else {
        return;
    };
    let Some(node) = pool.ds(root) else {
        return;
    };
    let want = |t: &str| types.contains(t);
    let kind = match node.kind {
        DsKind::Filesystem => "filesystem",
        DsKind::Volume => "volume",
    };
    if want(kind) {
        out.push(root.to_string());
    }
    if depth == Some(0) {
        return;
    }
    if want("snapshot") {
        let mut snaps: Vec<(&String, u64)> = node
            .snapshots
            .iter()
            .map(|(n, s)| (n, s.createtxg))
            .collect();
        snaps.sort_by_key(|(n, t)| (*t, (*n).clone()));
        out.extend(snaps.into_iter().map(|(n, _)| format!("{root}@{n}")));
    }
    if want("bookmark") {
        let mut bms: Vec<(&String, u64)> = node
            .bookmarks
            .iter()
            .map(|(n, b)| (n, b.createtxg))
            .collect();
        bms.sort_by_key(|(n, t)| (*t, (*n).clone()));
        out.extend(bms.into_iter().map(|(n, _)| format!("{root}#{n}")));
    }
    for child in pool.children(root) {
        walk(world, &child, depth.map(|d| d - 1), types, out);
    }
}

fn parse_types(s: &str) -> BTreeSet<String> {
    let mut t = BTreeSet::new();
    for part in s.split(',') {
        match part {
            "all" => {
                t.extend(["filesystem", "volume", "snapshot", "bookmark"].map(String::from));
            }
            "fs" | "filesystem" => {
                t.insert("filesystem".into());
            }
            "vol" | "volume" => {
                t.insert("volume".into());
            }
            "snap" | "snapshot" => {
                t.insert("snapshot".into());
            }
            "bookmark" => {
                t.insert("bookmark".into());
            }
            _ => {}
        }
    }
    t
}

struct ListOpts {
    header: bool,
    parsable: bool,
    recursive: bool,
    depth: Option<usize>,
    fields: Vec<String>,
    types: Option<BTreeSet<String>>,
    sort: Vec<(String, bool)>,
    names: Vec<String>,
}

fn parse_list_opts(args: &[String], default_fields: &str) -> Result<ListOpts, Out> {
    let mut o = ListOpts {
        header: true,
        parsable: false,
        recursive: false,
        depth: None,
        fields: default_fields.split(',').map(String::from).collect(),
        types: None,
        sort: vec![],
        names: vec![],
    };
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if !a.starts_with('-') || a.len() == 1 {
            o.names.push(a.to_string());
            continue;
        }
        let chars: Vec<char> = a[1..].chars().collect();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            j += 1;
            let mut value = || -> Result<String, Out> {
                if j < chars.len() {
                    let v: String = chars[j..].iter().collect();
                    j = chars.len();
                    Ok(v)
                } else if i < args.len() {
                    i += 1;
                    Ok(args[i - 1].clone())
                } else {
                    Err(err(2, format!("missing argument for '{c}' option\n")))
                }
            };
            match c {
                'H' => o.header = false,
                'p' => o.parsable = true,
                'r' => o.recursive = true,
                'd' => {
                    let v = value()?;
                    o.depth = Some(
                        v.parse()
                            .map_err(|_| err(2, format!("invalid depth '{v}'\n")))?,
                    );
                    o.recursive = true;
                }
                'o' => o.fields = value()?.split(',').map(String::from).collect(),
                't' => o.types = Some(parse_types(&value()?)),
                's' => o.sort.push((value()?, false)),
                'S' => o.sort.push((value()?, true)),
                other => return Err(err(2, format!("invalid option '{other}'\n"))),
            }
        }
    }
    Ok(o)
}

fn table(rows: Vec<Vec<String>>, header: Option<Vec<String>>) -> String {
    let mut out = String::new();
    match header {
        None => {
            for r in rows {
                out.push_str(&r.join("\t"));
                out.push('\n');
            }
        }
        Some(h) => {
            let all: Vec<Vec<String>> = std::iter::once(h).chain(rows).collect();
            let ncol = all.first().map_or(0, Vec::len);
            let widths: Vec<usize> = (0..ncol)
                .map(|c| all.iter().map(|r| r[c].len()).max().unwrap_or(0))
                .collect();
            for r in all {
                let line: Vec<String> = r
                    .iter()
                    .enumerate()
                    .map(|(c, v)| format!("{v:<w$}", w = widths[c]))
                    .collect();
                out.push_str(line.join("  ").trim_end());
                out.push('\n');
            }
        }
    }
    out
}

fn list(world: &mut World, args: &[String]) -> Out {
    let o = match parse_list_opts(args, "name,used,avail,refer,mountpoint") {
        Ok(o) => o,
        Err(e) => return e,
    };
    let mut entries = Vec::new();
    let explicit_types = o.types.is_some();
    let types = o
        .types
        .clone()
        .unwrap_or_else(|| parse_types("filesystem,volume"));
    if o.names.is_empty() {
        for p in world.pools.keys() {
            walk(world, p, o.depth, &types, &mut entries);
        }
    } else {
        for n in &o.names {
            let exists = world.pool(n).is_some_and(|p| match split_name(n) {
                NameKind::Dataset(ds) => p.ds(ds).is_some(),
                NameKind::Snapshot(..) => p.snap(n).is_some(),
                NameKind::Bookmark(ds, b) => p.ds(ds).is_some_and(|d| d.bookmarks.contains_key(b)),
            });
            if !exists {
                return err(1, format!("cannot open '{n}': dataset does not exist\n"));
            }
            match split_name(n) {
                NameKind::Dataset(_) => {
                    let depth = if o.recursive {
                        o.depth
                    } else if explicit_types
                        && !types.contains("filesystem")
                        && !types.contains("volume")
                    {
                        Some(1) // `zfs list -t snapshot fs`: the snapshots of fs
                    } else {
                        Some(0)
                    };
                    let mut found = Vec::new();
                    walk(world, n, depth, &types, &mut found);
                    entries.extend(found);
                }
                _ => entries.push(n.clone()),
            }
        }
    }
    let mut rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            o.fields
                .iter()
                .map(|f| prop_value(world, e, f, o.parsable).0)
                .collect()
        })
        .collect();
    if !o.sort.is_empty() {
        type SortKey = Vec<(bool, i128, String)>;
        let keyed: Vec<(SortKey, Vec<String>)> = entries
            .iter()
            .zip(rows.drain(..))
            .map(|(e, r)| {
                let k = o
                    .sort
                    .iter()
                    .map(|(p, _)| {
                        let v = prop_value(world, e, p, true).0;
                        match v.parse::<i128>() {
                            Ok(n) => (false, n, v),
                            Err(_) => (true, 0, v),
                        }
                    })
                    .collect();
                (k, r)
            })
            .collect();
        let mut keyed = keyed;
        keyed.sort_by(|a, b| {
            for (idx, (_, desc)) in o.sort.iter().enumerate() {
                let ord = a.0[idx].cmp(&b.0[idx]);
                let ord = if *desc { ord.reverse() } else { ord };
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
            }
            std::cmp::Ordering::Equal
        });
        rows = keyed.into_iter().map(|(_, r)| r).collect();
    }
    if rows.is_empty() && o.header {
        return (0, String::new(), "no datasets available\n".into());
    }
    let header = o
        .header
        .then(|| o.fields.iter().map(|f| f.to_uppercase()).collect());
    (0, table(rows, header), String::new())
}

fn get(world: &mut World, args: &[String]) -> Out {
    let o = match parse_list_opts(args, "name,property,value,source") {
        Ok(o) => o,
        Err(e) => return e,
    };
    let Some((props, names)) = o.names.split_first() else {
        return err(2, "missing property argument\n");
    };
    if names.is_empty() {
        return err(2, "missing dataset argument\n");
    }
    let mut props: Vec<String> = props.split(',').map(String::from).collect();
    let sources: Vec<String> = o
        .sort
        .iter()
        .flat_map(|(list, _)| list.split(',').map(String::from).collect::<Vec<_>>())
        .collect();
    let mut entries = Vec::new();
    for n in names {
        if !world.pool(n).is_some_and(|p| p.exists(n) || matches!(split_name(n), NameKind::Bookmark(ds, b) if p.ds(ds).is_some_and(|d| d.bookmarks.contains_key(b)))) {
            return err(1, format!("cannot open '{n}': dataset does not exist\n"));
        }
        if o.recursive && matches!(split_name(n), NameKind::Dataset(_)) {
            walk(world, n, o.depth, &parse_types("all"), &mut entries);
        } else {
            entries.push(n.clone());
        }
    }
    let mut rows = Vec::new();
    for e in &entries {
        let mut plist = props.clone();
        if props == ["all"] {
            plist = ["type", "creation", "used", "createtxg", "guid"]
                .map(String::from)
                .to_vec();
            if let Some(p) = world.pool(e) {
                plist.extend(p.user_prop_names(e));
            }
        }
        for p in &plist {
            let (v, src) = prop_value(world, e, p, o.parsable);
            // `get -s local,inherited,…` (parsed as a sort key by the shared option parser):
            // only rows whose source is of one of those kinds (received values are their own
            // kind, as on the kernel).
            if !sources.is_empty() {
                let kind = match src.as_str() {
                    "-" => "none",
                    s if s.starts_with("inherited") => "inherited",
                    s => s,
                };
                if !sources.iter().any(|k| k == kind) {
                    continue;
                }
            }
            let row = o
                .fields
                .iter()
                .map(|f| match f.as_str() {
                    "name" => e.clone(),
                    "property" => p.clone(),
                    "value" => v.clone(),
                    "source" => src.clone(),
                    "received" => "-".into(),
                    _ => "-".into(),
                })
                .collect();
            rows.push(row);
        }
    }
    props.clear();
    let header = o
        .header
        .then(|| o.fields.iter().map(|f| f.to_uppercase()).collect());
    (0, table(rows, header), String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn strtoull_like_c() {
        for (s, want) in [
            ("10", Some(10)),
            ("0x10", Some(16)),
            ("010", Some(8)),
            ("1k", None),
            ("-1", Some(u64::MAX)),
            ("99999999999999999999", None),
        ] {
            assert_eq!(strtoull(s), want, "{s}");
        }
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("10M"), Some(10 << 20));
    }

    #[test]
    fn zpool_create_list_destroy() {
        let mut w = World::new(Default::default());
        assert_eq!(
            zpool_main(&mut w, &sv("create tank /dev/sdb /dev/sdc")).0,
            0
        );
        assert_eq!(zpool_main(&mut w, &sv("create tank /dev/sdb")).0, 1);
        assert_eq!(zpool_main(&mut w, &sv("list -H -o name")).1, "tank\n");
        assert_eq!(zpool_main(&mut w, &sv("destroy tank")).0, 0);
        assert_eq!(zpool_main(&mut w, &sv("destroy tank")).0, 1);
    }

    /// `zpool list -H -p -o name,health,size,allocated,free,capacity` (what `check --pools`
    /// reads), with `pool-state` setting health and fill.
    #[test]
    fn zpool_list_health_and_capacity() {
        let mut w = World::new(Default::default());
        zpool_main(&mut w, &sv("create rpool /dev/sda"));
        zpool_main(&mut w, &sv("create tank /dev/sdb"));
        let cols = "list -H -p -o name,health,size,allocated,free,capacity";
        assert_eq!(
            zpool_main(&mut w, &sv(cols)).1,
            "rpool\tONLINE\t107374182400\t1073741824\t106300440576\t1\n\
             tank\tONLINE\t107374182400\t1073741824\t106300440576\t1\n"
        );
        w.set_faults(Some("pool-state:DEGRADED:93:tank".parse().unwrap()));
        let out = zpool_main(&mut w, &sv(cols)).1;
        assert_eq!(
            out.lines().nth(1).unwrap(),
            "tank\tDEGRADED\t107374182400\t99857989632\t7516192768\t93"
        );
        assert_eq!(zpool_main(&mut w, &sv("list -H -o name,bogus")).0, 2);
        assert!(
            "pool-state:ONLINE:101:tank"
                .parse::<crate::faults::Faults>()
                .is_err()
        );
    }
}
