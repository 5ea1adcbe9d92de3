//! The channel-program runtime: a Lua 5.4 state (mlua) sandboxed to the channel-program
//! globals, the `zfs.*` API over the [`model`](super::model), the instruction and memory
//! limits, and the conversion of the return value to the output nvlist.
//!
//! Rules followed (reference §1–§3, zcp.c, zcp_synctask.c, zcp_get.c, zcp_iter.c):
//! * globals are exactly the §2 list; `_VERSION` is `"Lua 5.2"`; `string.format` refuses
//!   `%e %f %g %a`; `tonumber` and string arithmetic read leading-zero strings as octal;
//! * arguments are parsed like `zcp_parse_args` (positional or one table, same messages);
//! * `get_prop` and `list.*` are fatal on a missing dataset or another pool, `sync/check`
//!   return errno values; `zfs.sync.*` under `-n` is fatal;
//! * one txg per sync program; changes made before an error stay;
//! * `zfs.list.*` yields in a shuffled order (seeded per world);
//! * any float reaching a `zfs.*` call or the return value is an `EMULATOR:` error.
//!
//! Native properties served by `get_prop`: createtxg, creation, guid, type, name, used,
//! referenced, available, written, userrefs, defer_destroy, numclones, clones, origin,
//! volsize, and defaults for compression, readonly, atime, canmount, mountpoint,
//! recordsize, volblocksize, copies, checksum, sync, dedup, snapdir, quota, reservation,
//! refquota, refreservation, encryption; mounted, iscsioptions, `user*@`, `group*@`,
//! `project*@`, `written@`/`written#` return zero values.

use std::cell::RefCell;
use std::rc::Rc;

use mlua::{
    Error as LErr, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState,
};

use super::faults::ProgramFaults;
use super::json::{self, Nv};
use super::model::{self, DsKind, NameKind, Pool, Stamp, errno::*, split_name};
use super::{EXIT_PANIC, MAX_INSTR_LIMIT, MAX_MEM_LIMIT, ProgramOutcome, ProgramRequest, World};

const FAILED: &str = "Channel program execution failed";
const PANIC_TAG: &str = "\u{1}EMULATOR-PANIC\u{1}";
/// The error that unwinds a program `kill-after` killed (never shown: the process dies).
const KILL_TAG: &str = "\u{1}EMULATOR-KILLED\u{1}";

struct Ctx {
    world: World,
    pool: String,
    sync: bool,
    txg: u64,
    rng: u64,
    instrs: u64,
    limit: u64,
    timed_out: bool,
    panic: Option<String>,
    mem_peak: u64,
    /// What the reused state holds beyond a fresh one (see [`Runtime`]).
    mem_offset: usize,
    timeout_msg: Option<String>,
    /// Injected faults in force for this program; `None` (the fast path) when none apply.
    faults: Option<ProgramFaults>,
}

type Shared = Rc<RefCell<Ctx>>;

impl Ctx {
    fn pool(&self) -> &Pool {
        &self.world.pools[&self.pool]
    }
    fn pool_mut(&mut self) -> &mut Pool {
        self.world
            .pools
            .get_mut(&self.pool)
            .expect("pool checked at start")
    }
    fn stamp(&mut self) -> Stamp {
        Stamp {
            txg: self.txg,
            now: self.world.now(),
            guid: self.world.next_guid(),
        }
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (super::splitmix(&mut self.rng) % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

fn outcome(exit_code: i32, errno: i32, stderr: String) -> ProgramOutcome {
    ProgramOutcome {
        exit_code,
        stdout: String::new(),
        stderr,
        instructions: 0,
        memory_peak: 0,
        errno,
        output: vec![],
    }
}

/// Runs one program against `world` (see [`World::run_program`]).
pub(super) fn run(world: &mut World, req: &ProgramRequest) -> ProgramOutcome {
    if !world.pools.contains_key(&req.pool) || req.pool.contains(['/', '@', '#']) {
        return outcome(1, ENOENT, format!("cannot open pool '{}'\n", req.pool));
    }
    if req.instr_limit == 0
        || req.instr_limit > MAX_INSTR_LIMIT
        || req.mem_limit == 0
        || req.mem_limit > MAX_MEM_LIMIT
    {
        return outcome(
            1,
            EINVAL,
            format!("{FAILED}:\nInvalid instruction or memory limit.\n"),
        );
    }
    // Sent as a C string: a NUL ends it.
    let script = req.script.split('\0').next().unwrap_or("");
    let source = match linted(script) {
        Ok(s) => s,
        Err(e) => {
            return outcome(
                1,
                EINVAL,
                format!(
                    "{FAILED}:\n[string \"channel program\"]:{}: {}\n",
                    e.line, e.msg
                ),
            );
        }
    };
    let faults = world
        .faults()
        .and_then(|f| f.for_program(&req.pool, req.sync, &world.fault_counters));
    // The txg the program runs in; under -n nothing syncs, so the counter stays.
    let txg = world.txg + 1;
    let rng = world.shuffle_seed();
    let mut rt = match take_runtime(world.version, &source) {
        Ok(rt) => rt,
        Err(e) => {
            return outcome(
                1,
                EINVAL,
                format!("{FAILED}:\nEMULATOR: cannot create Lua state: {e}\n"),
            );
        }
    };
    {
        let mut c = rt.ctx.borrow_mut();
        c.world = std::mem::take(world);
        c.pool = req.pool.clone();
        c.sync = req.sync;
        c.txg = txg;
        c.rng = rng;
        c.instrs = 0;
        c.limit = req.instr_limit;
        c.timed_out = false;
        c.panic = None;
        c.mem_peak = 0;
        c.mem_offset = 0;
        c.timeout_msg = None;
        c.faults = faults;
    }
    let result = rt.execute(req);
    let ctx = rt.ctx.clone();
    let mut c = ctx.borrow_mut();
    *world = std::mem::take(&mut c.world);
    put_runtime(rt);
    let mut out = match result {
        Exec::Syntax(msg) => outcome(1, EINVAL, format!("{FAILED}:\n{msg}\n")),
        Exec::Started(r) => {
            if req.sync {
                world.txg = txg; // the program's txg synced, whatever happened inside
            }
            r
        }
    };
    if c.faults.take().is_some_and(|f| f.killed) {
        // SIGKILL: what the program did stays (the txg above), nothing is printed.
        world.killed = true;
        out = outcome(super::faults::EXIT_KILLED, EINTR, String::new());
    }
    if let Some(p) = &c.panic {
        out = outcome(
            EXIT_PANIC,
            0,
            format!("EMULATOR: this would panic the kernel: {p}\n"),
        );
    }
    out.instructions = c.instrs;
    out.memory_peak = c.mem_peak;
    out
}

enum Exec {
    Syntax(String),
    Started(ProgramOutcome),
}

/// Most scripts remembered per thread, and most Lua states kept (one per script and release;
/// the product ships three scripts).
const CACHE_SIZE: usize = 8;

thread_local! {
    /// Scripts that linted cleanly and their linted text, newest last: a simulation runs the
    /// same two programs tens of thousands of times.
    static LINTED: RefCell<Vec<(String, Rc<str>)>> = const { RefCell::new(Vec::new()) };
    /// The reusable Lua states of this thread, one per script and release ([`Runtime`]).
    static STATES: RefCell<Vec<Runtime>> = const { RefCell::new(Vec::new()) };
}

fn remember<T>(cache: &mut Vec<T>, entry: T) {
    if cache.len() >= CACHE_SIZE {
        cache.remove(0);
    }
    cache.push(entry);
}

/// `lint::lint`, remembered for scripts that lint cleanly (the result depends on the text only).
fn linted(script: &str) -> Result<Rc<str>, super::lint::LintError> {
    let hit = LINTED.with(|c| {
        c.borrow()
            .iter()
            .find(|(k, _)| k == script)
            .map(|(_, v)| v.clone())
    });
    if let Some(v) = hit {
        return Ok(v);
    }
    let source: Rc<str> = super::lint::lint(script)?.into();
    LINTED.with(|c| remember(&mut c.borrow_mut(), (script.to_string(), source.clone())));
    Ok(source)
}

/// This thread's Lua state for `source` on `version`, taken out of the cache while the
/// program runs (a panic inside drops it rather than leaving it half-used), or a new one.
fn take_runtime(version: super::Version, source: &Rc<str>) -> mlua::Result<Runtime> {
    let hit = STATES.with(|s| {
        let mut s = s.borrow_mut();
        let i = s
            .iter()
            .position(|r| r.version == version && r.source == *source)?;
        Some(s.remove(i))
    });
    match hit {
        Some(rt) => Ok(rt),
        None => Runtime::new(version, source.clone()),
    }
}

fn put_runtime(rt: Runtime) {
    STATES.with(|s| remember(&mut s.borrow_mut(), rt));
}

/// Drops this thread's Lua states: the next program starts from a fresh one (tests compare
/// the two).
#[cfg(test)]
pub(super) fn forget_states() {
    STATES.with(|s| s.borrow_mut().clear());
}

/// A fresh context for `version` (no pool, no world content).
fn blank_ctx(version: super::Version) -> Shared {
    Rc::new(RefCell::new(Ctx {
        world: World {
            version,
            ..World::default()
        },
        pool: String::new(),
        sync: false,
        txg: 0,
        rng: 0,
        instrs: 0,
        limit: 0,
        timed_out: false,
        panic: None,
        mem_peak: 0,
        mem_offset: 0,
        timeout_msg: None,
        faults: None,
    }))
}

/// A new Lua state holding the channel-program sandbox as its globals.
fn new_state(ctx: &Shared) -> mlua::Result<Lua> {
    let lua = Lua::new_with(
        StdLib::COROUTINE | StdLib::STRING | StdLib::TABLE,
        LuaOptions::default(),
    )?;
    sandbox(&lua, ctx)?;
    Ok(lua)
}

#[cfg(test)]
thread_local! {
    /// Full collections made by [`settle`] on this thread (tests count them).
    pub(super) static COLLECTIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// `collectgarbage` until the count stops falling, or until it is back at `known` (what this
/// state held live after its last settle): what a fresh state would hold live.
///
/// A collection frees all unreachable objects except those it finalizes (a `__gc`: the
/// `zfs.list` iterators, mlua's error values, a program's own), which the next one frees;
/// so after the runs of a program the count falls twice, and a third collection only
/// confirms it. Stopping at `known` saves that one (one collection in all when nothing was
/// finalized). It stops early only if finalized objects still held exactly make up for what
/// the state's own structures shrank by (a stack, the string table) since the last settle;
/// the next run then gets that many bytes more room, never less.
fn settle(lua: &Lua, known: Option<usize>) -> mlua::Result<usize> {
    let mut used = lua.used_memory();
    for _ in 0..12 {
        lua.gc_collect()?;
        #[cfg(test)]
        COLLECTIONS.with(|c| c.set(c.get() + 1));
        let now = lua.used_memory();
        if now >= used || Some(now) == known {
            return Ok(now);
        }
        used = now;
    }
    Ok(used)
}

fn compile(lua: &Lua, source: &str) -> Result<mlua::Function, String> {
    match lua
        .load(source)
        .set_name("channel program")
        .set_mode(mlua::chunk::ChunkMode::Text)
        .into_function()
    {
        Ok(f) => Ok(f),
        Err(LErr::SyntaxError { message, .. }) => Err(message),
        Err(e) => Err(e.to_string()),
    }
}

/// Writes `v` as a Lua literal: a string (quoted, every byte outside printable ASCII escaped)
/// or an integer; `None` for any other type.
fn lua_literal(v: &Value) -> Option<String> {
    match v {
        Value::Integer(i) => Some(format!("({i})")),
        Value::String(s) => {
            let mut out = String::from("\"");
            for &b in s.as_bytes().iter() {
                match b {
                    b'"' | b'\\' => {
                        out.push('\\');
                        out.push(char::from(b));
                    }
                    0x20..=0x7e => out.push(char::from(b)),
                    _ => out.push_str(&format!("\\{b:03}")),
                }
            }
            out.push('"');
            Some(out)
        }
        _ => None,
    }
}

/// Source of the function that makes a run's globals (see [`copier_source`]).
struct CopierSource {
    /// The chunk; called with the template, the string metatable and its fields as built.
    text: String,
    /// Template tables met so far, each with the local naming it in the chunk.
    tables: Vec<(Table, String)>,
    /// Local declarations, before the returned function.
    locals: String,
}

impl CopierSource {
    /// Appends a table constructor copying `t` (named by the local `name`): every entry in
    /// traversal order, values read from the template, table values copied the same way
    /// (the root `template`, `_G`, is left out and set afterwards).
    fn constructor(&mut self, t: &Table, name: &str, root: &Table) -> mlua::Result<String> {
        let mut out = String::from("{");
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair?;
            let key = lua_literal(&k).ok_or_else(|| {
                LErr::RuntimeError(format!("EMULATOR: sandbox key of type {}", type_name(&k)))
            })?;
            match v {
                Value::Table(sub) if sub == *root => continue,
                Value::Table(sub) => {
                    if self.tables.iter().any(|(seen, _)| *seen == sub) {
                        return Err(LErr::RuntimeError(
                            "EMULATOR: a sandbox table is reachable twice".into(),
                        ));
                    }
                    let local = format!("t{}", self.tables.len() + 1);
                    self.locals
                        .push_str(&format!("local {local} = {name}[{key}]\n"));
                    self.tables.push((sub.clone(), local.clone()));
                    let inner = self.constructor(&sub, &local, root)?;
                    out.push_str(&format!("[{key}] = {inner},\n"));
                }
                _ => out.push_str(&format!("[{key}] = {name}[{key}],\n")),
            }
        }
        out.push('}');
        Ok(out)
    }
}

/// The chunk making a run's globals from `template` (the sandbox as built) and restoring the
/// string metatable: called with the template, the string metatable and a table of its fields
/// as built, it returns a function that empties the string metatable, puts the fields back,
/// builds the new globals with table constructors (each sized at once, entries in the
/// template's traversal order, every table copied, `_G` the new table) and sets the
/// metatable's `__index` to the new `string` table. The Rust side removes any metatable of
/// the string metatable first. Made once per state; a run then costs one call that allocates
/// only the new tables.
fn copier_source(template: &Table, smt_fields: &Table) -> mlua::Result<String> {
    let mut src = CopierSource {
        text: String::new(),
        tables: vec![],
        locals: String::new(),
    };
    let env = src.constructor(template, "T", template)?;
    let mut reset = String::new();
    for pair in smt_fields.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let key = lua_literal(&k).ok_or_else(|| {
            LErr::RuntimeError("EMULATOR: string metatable key not a string".into())
        })?;
        reset.push_str(&format!("smt[{key}] = F[{key}]\n"));
    }
    src.text = format!(
        "local T, smt, F = ...\nlocal next = next\n{}return function()\n\
         for k in next, smt do smt[k] = nil end\n{reset}\
         local env = {env}\nenv._G = env\nsmt.__index = env.string\nreturn env\nend\n",
        src.locals
    );
    Ok(src.text)
}

/// One Lua state reused by every run of one script on one release on this thread. The kernel
/// gives each program a new state; reuse keeps what a program sees identical:
/// * the globals are a new copy of the sandbox for every run (a global set, or a library
///   table changed, by one program is not seen by the next), the string metatable is
///   restored (both by one call of a copier generated for the state, [`copier_source`]),
///   and the compiled chunk gets the new table as its `_ENV`;
/// * the state is collected before each run until nothing more is freed ([`settle`]: one
///   or two full collections), and the memory limit, the reported peak and
///   `collectgarbage("count")` are offset by what the reused state holds beyond a fresh
///   state with the same chunk ([`Runtime::fresh_live`]). One state per script keeps the
///   rest alike too (the interned strings, hence the string table's size);
/// * the instruction hook is installed anew for each run, so its count starts at 0.
struct Runtime {
    version: super::Version,
    /// The linted source (the cache key).
    source: Rc<str>,
    lua: Lua,
    ctx: Shared,
    /// The string metatable (its fields are restored per run by the copier).
    smt: Table,
    /// The main function, or the syntax error message.
    main: Result<mlua::Function, String>,
    /// [`copier_source`] compiled: restores the string metatable and returns new globals.
    copier: mlua::Function,
    /// Live bytes of a fresh state holding the sandbox and this chunk, before the arguments
    /// are made: the memory limit and the reported memory are relative to it.
    fresh_live: usize,
    /// What this state held live after its last settle (none before its first run).
    settled: Option<usize>,
}

impl Runtime {
    fn new(version: super::Version, source: Rc<str>) -> mlua::Result<Runtime> {
        // What the kernel-like fresh state holds live when the program starts.
        let fresh_live = {
            let fresh = new_state(&blank_ctx(version))?;
            let f = compile(&fresh, &source);
            let live = settle(&fresh, None)?;
            drop(f);
            live
        };
        let ctx = blank_ctx(version);
        let lua = new_state(&ctx)?;
        let template = lua.globals();
        let smt: Table = lua
            .load("return getmetatable('')")
            .set_name("=prelude")
            .call(())?;
        let smt_fields = lua.create_table()?;
        for pair in smt.pairs::<Value, Value>() {
            let (k, v) = pair?;
            if !matches!(&k, Value::String(s) if s.as_bytes() == *b"__index") {
                smt_fields.raw_set(k, v)?;
            }
        }
        let main = compile(&lua, &source);
        let copier = lua
            .load(copier_source(&template, &smt_fields)?)
            .set_name("=prelude")
            .call((&template, &smt, &smt_fields))?;
        Ok(Runtime {
            version,
            source,
            lua,
            ctx,
            smt,
            main,
            copier,
            fresh_live,
            settled: None,
        })
    }

    /// A new globals table: a copy of the sandbox (library and `zfs` tables copied too); the
    /// string metatable as built, its `__index` the new `string` table.
    fn fresh_globals(&self) -> mlua::Result<Table> {
        if self.smt.has_metatable() {
            self.smt.set_metatable(None)?;
        }
        self.copier.call(())
    }

    fn execute(&mut self, req: &ProgramRequest) -> Exec {
        let (func, fresh_live) = match &self.main {
            Ok(f) => (f.clone(), self.fresh_live),
            Err(msg) => return Exec::Syntax(msg.clone()),
        };
        let lua = &self.lua;
        let prepared = self.fresh_globals().and_then(|env| {
            func.set_environment(env)?;
            settle(lua, self.settled)
        });
        let base = match prepared {
            Ok(b) => b,
            Err(e) => return Exec::Syntax(format!("EMULATOR: sandbox setup failed: {e}")),
        };
        self.settled = Some(base);
        let offset = base.saturating_sub(fresh_live);
        self.ctx.borrow_mut().mem_offset = offset;
        let args = match make_args(lua, &req.argv) {
            Ok(a) => a,
            Err(e) => return Exec::Syntax(format!("EMULATOR: {e}")),
        };
        let ctx = &self.ctx;
        // mlua's "global" hook of the main thread: its callback is kept on the Rust side.
        // (`Lua::set_hook` puts each new callback in a Lua userdata with a finalizer: every
        // run left one behind, and finalizing it took a second full collection in `settle`.)
        let hooked = lua.set_global_hook(
            HookTriggers::new().every_nth_instruction(100),
            counthook(ctx),
        );
        if let Err(e) = hooked {
            return Exec::Syntax(format!("EMULATOR: {e}"));
        }
        let _ = lua.set_memory_limit(req.mem_limit as usize + offset);
        let ran = func.call::<MultiValue>(args);
        lua.remove_global_hook();
        lua.remove_hook();
        let _ = lua.set_memory_limit(0);
        {
            let mut c = ctx.borrow_mut();
            c.mem_peak = c.mem_peak.max(used(lua, offset));
        }
        let timed_out = ctx.borrow().timed_out;
        let r = match ran {
            Ok(values) => convert_return(values, req.mem_limit),
            Err(e) => match describe(&e) {
                Described::Memory => {
                    outcome(1, ENOSPC, format!("{FAILED}:\nMemory limit exhausted.\n"))
                }
                Described::Text(_) if timed_out => {
                    let n = ctx.borrow().instrs;
                    let msg = ctx.borrow().timeout_msg.clone().unwrap_or_default();
                    outcome(
                        1,
                        ETIME,
                        format!("{FAILED}:\n{}\n{n} Lua instructions\n", clean(&msg)),
                    )
                }
                Described::Text(msg) => outcome(1, ECHRNG, format!("{FAILED}:\n{}\n", clean(&msg))),
            },
        };
        Exec::Started(r)
    }
}

/// Memory the program's state holds, as a fresh state would count it.
fn used(lua: &Lua, offset: usize) -> u64 {
    lua.used_memory().saturating_sub(offset) as u64
}

/// `zcp_lua_counthook`: +100 every 100 instructions, abort once above the limit.
fn counthook(
    ctx: &Shared,
) -> impl Fn(&Lua, &mlua::debug::Debug) -> mlua::Result<VmState> + 'static {
    let hook_ctx = ctx.clone();
    move |lua, _dbg| {
        let mut c = hook_ctx.borrow_mut();
        c.mem_peak = c.mem_peak.max(used(lua, c.mem_offset));
        c.instrs += 100;
        if c.instrs > c.limit {
            c.timed_out = true;
            c.timeout_msg = lua
                .traceback(Some("Channel program timed out."), 0)
                .map(|t| t.to_string_lossy())
                .ok();
            return Err(LErr::RuntimeError("Channel program timed out.".into()));
        }
        Ok(VmState::Continue)
    }
}

enum Described {
    Memory,
    Text(String),
}

fn describe(e: &LErr) -> Described {
    match e {
        LErr::MemoryError(_) => Described::Memory,
        LErr::CallbackError { traceback, cause } => match describe(cause) {
            Described::Memory => Described::Memory,
            Described::Text(m) if m.contains("stack traceback:") => Described::Text(m),
            Described::Text(m) => Described::Text(format!("{m}\n{traceback}")),
        },
        LErr::RuntimeError(m) => Described::Text(m.clone()),
        LErr::SyntaxError { message, .. } => Described::Text(message.clone()),
        other => Described::Text(other.to_string()),
    }
}

/// Makes mlua's messages look like the kernel's: no mlua frames, 5.2 wording.
fn clean(msg: &str) -> String {
    let mut lines: Vec<&str> = msg
        .lines()
        .filter(|l| l.trim() != "[C]: in ?" && !l.contains("mlua"))
        .collect();
    // error(<table>): the kernel keeps only the traceback.
    if lines.first().is_some_and(|l| l.starts_with("table: 0x")) {
        lines.remove(0);
    }
    lines
        .join("\n")
        .replace("attempt to perform 'n//0'", "attempt to divide by zero")
}

fn make_args(lua: &Lua, argv: &[String]) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    // In order, one at a time, from an empty table (the iterator gives no size hint, so
    // nothing is preallocated): it grows like the kernel's (`lua_settable` per string).
    let a = lua.create_sequence_from(argv.iter().map(String::as_str).filter(|_| true))?;
    t.raw_set("argv", a)?;
    Ok(t)
}

// ---------------------------------------------------------------- return conversion

fn convert_return(values: MultiValue, mem_limit: u64) -> ProgramOutcome {
    let vals: Vec<Value> = values.into_iter().collect();
    let pairs = match vals.len() {
        0 => vec![],
        1 => match to_nv(&vals[0], b"return", 0) {
            Ok(nv) => vec![(b"return".to_vec(), nv)],
            Err(m) => return outcome(1, ECHRNG, format!("{FAILED}:\n{m}\n")),
        },
        _ => {
            return outcome(
                1,
                ECHRNG,
                format!("{FAILED}:\nMultiple return values not supported\n"),
            );
        }
    };
    if json::packed_size(&pairs) as u64 > mem_limit {
        return outcome(1, ENOMEM, format!("{FAILED}:\nReturn value too large.\n"));
    }
    ProgramOutcome {
        exit_code: 0,
        stdout: json::to_json(&pairs),
        stderr: String::new(),
        instructions: 0,
        memory_peak: 0,
        errno: 0,
        output: pairs,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        _ => "userdata",
    }
}

fn to_nv(v: &Value, key: &[u8], depth: usize) -> Result<Nv, String> {
    Ok(match v {
        Value::Nil => Nv::Flag,
        Value::Boolean(b) => Nv::Bool(*b),
        Value::Integer(i) => Nv::Int(*i),
        Value::Number(f) => {
            return Err(format!(
                "EMULATOR: float {f} in the return value (channel programs have no floats)"
            ));
        }
        Value::String(s) => Nv::Str(s.as_bytes().to_vec()),
        Value::Table(t) => {
            let mut out: Vec<(Vec<u8>, Nv)> = Vec::new();
            // Keys of one Lua type are distinct as text too: a collision needs a second type.
            // Until one appears, nothing is hashed; then the keys so far join `seen`.
            let mut first_kind: Option<u8> = None;
            let mut seen: Option<std::collections::HashSet<Vec<u8>>> = None;
            // One protected traversal (`for_each`) instead of one per entry (`pairs`); the
            // entries come in the same `lua_next` order. A refused entry stops it: its
            // message is kept here, the mlua error only ends the walk.
            let mut refused: Option<String> = None;
            let mut entry = |k: Value, val: Value| -> Result<(), String> {
                let kind = match &k {
                    Value::String(_) => 0,
                    Value::Boolean(_) => 1,
                    _ => 2,
                };
                let kb: Vec<u8> = match &k {
                    Value::String(s) => s.as_bytes().to_vec(),
                    Value::Boolean(b) => b.to_string().into_bytes(),
                    Value::Integer(i) => i.to_string().into_bytes(),
                    Value::Number(f) => {
                        return Err(format!("EMULATOR: float key {f} in the return value"));
                    }
                    other => {
                        return Err(format!("Invalid key type '{}' in table", type_name(other)));
                    }
                };
                if seen.is_none() && *first_kind.get_or_insert(kind) != kind {
                    seen = Some(out.iter().map(|(k, _)| k.clone()).collect());
                }
                if seen.as_mut().is_some_and(|s| !s.insert(kb.clone())) {
                    return Err(format!(
                        "Collision of key '{}' in table",
                        String::from_utf8_lossy(&kb)
                    ));
                }
                if depth >= 20 {
                    return Err("Maximum table depth (20) exceeded for table".into());
                }
                let nv = to_nv(&val, &kb, depth + 1)?;
                out.push((kb, nv));
                Ok(())
            };
            let walked = t.for_each::<Value, Value>(|k, val| {
                entry(k, val).map_err(|m| {
                    refused = Some(m);
                    LErr::RuntimeError(String::new())
                })
            });
            if let Some(m) = refused {
                return Err(m);
            }
            walked.map_err(|e| e.to_string())?;
            Nv::List(out)
        }
        other => {
            return Err(format!(
                "Invalid value type '{}' for key '{}'",
                type_name(other),
                String::from_utf8_lossy(key)
            ));
        }
    })
}

// ---------------------------------------------------------------- sandbox

const BASE: &[&str] = &[
    "assert",
    "collectgarbage",
    "error",
    "getmetatable",
    "ipairs",
    "next",
    "pairs",
    "rawequal",
    "rawget",
    "rawlen",
    "rawset",
    "select",
    "setmetatable",
    "tonumber",
    "tostring",
    "type",
    "_G",
    "_VERSION",
    "coroutine",
    "string",
    "table",
];
const COROUTINE: &[&str] = &["create", "resume", "running", "status", "wrap", "yield"];
const STRING: &[&str] = &[
    "byte", "char", "find", "format", "gmatch", "gsub", "len", "lower", "match", "rep", "reverse",
    "sub", "upper",
];
const TABLE: &[&str] = &["concat", "insert", "pack", "unpack", "remove", "sort"];

const PRELUDE: &str = r#"
local tonum = ...
-- Errors the kernel raises from C with luaL_error carry the caller's position: level 2.
local error, type, select = error, type, select
tonumber = function(v, base)
  if base == nil and type(v) == "number" then return v end
  if type(v) ~= "string" then
    if base ~= nil then error("bad argument #1 to 'tonumber' (string expected, got " .. type(v) .. ")", 2) end
    return nil
  end
  return tonum(v, base)
end
local smt = getmetatable("")
local function num(v)
  if type(v) == "number" then return v end
  if type(v) == "string" then return tonum(v) end
  return nil
end
local function arith(name, f)
  smt[name] = function(a, b)
    local x, y = num(a), num(b)
    if x == nil or y == nil then
      local bad = a
      if x ~= nil then bad = b end
      error("attempt to perform arithmetic on a " .. type(bad) .. " value", 2)
    end
    return f(x, y)
  end
end
arith("__add", function(a, b) return a + b end)
arith("__sub", function(a, b) return a - b end)
arith("__mul", function(a, b) return a * b end)
arith("__mod", function(a, b) return a % b end)
arith("__idiv", function(a, b) return a // b end)
arith("__div", function(a, b) return a // b end)
arith("__unm", function(a) return -a end)
smt.__pow = nil
"#;

const WRAP: &str = r#"
local create, resume, error, pack, unpack = coroutine.create, coroutine.resume, error, table.pack, table.unpack
coroutine.wrap = function(f)
  local co = create(f)
  return function(...)
    local r = pack(resume(co, ...))
    if not r[1] then error(r[2], 0) end
    return unpack(r, 2, r.n)
  end
end
"#;

/// The first float conversion (`%e %f %g %a`, any case) of a `string.format` format: the
/// channel-program Lua has no floats and refuses them.
fn float_conversion(fmt: &[u8]) -> Option<u8> {
    let mut i = 0;
    while let Some(p) = fmt[i..].iter().position(|&c| c == b'%') {
        let mut j = i + p + 1;
        while j < fmt.len() && b"-+ #0".contains(&fmt[j]) {
            j += 1;
        }
        while j < fmt.len() && fmt[j].is_ascii_digit() {
            j += 1;
        }
        if j < fmt.len() && fmt[j] == b'.' {
            j += 1;
        }
        while j < fmt.len() && fmt[j].is_ascii_digit() {
            j += 1;
        }
        let conv = *fmt.get(j)?;
        if b"eEfFgGaA".contains(&conv) {
            return Some(conv);
        }
        i = j + 1;
    }
    None
}

/// `tonumber` of the channel-program Lua: base 0 (`0x` hex, leading `0` octal) or 2..36.
fn zfs_tonumber(s: &str, base: Option<i64>) -> Option<i64> {
    match base {
        None => {
            if s.contains(['n', 'N']) {
                return None;
            }
            super::lint::parse_numeral(s)
        }
        Some(b) => {
            if !(2..=36).contains(&b) {
                return None;
            }
            let t = s.trim();
            let (neg, digits) = match t.strip_prefix('-') {
                Some(r) => (true, r),
                None => (false, t),
            };
            if digits.is_empty() {
                return None;
            }
            let mut v: i64 = 0;
            for ch in digits.chars() {
                let d = ch.to_digit(b as u32)?;
                v = v.wrapping_mul(b).wrapping_add(i64::from(d));
            }
            Some(if neg { v.wrapping_neg() } else { v })
        }
    }
}

fn sandbox(lua: &Lua, ctx: &Shared) -> mlua::Result<()> {
    let tonum = lua.create_function(|_, (s, base): (mlua::LuaString, Option<i64>)| {
        Ok(zfs_tonumber(&s.to_string_lossy(), base))
    })?;
    lua.load(PRELUDE).set_name("=prelude").call::<()>(tonum)?;
    let g = lua.globals();
    let string: Table = g.raw_get("string")?;
    let sformat: mlua::Function = string.raw_get("format")?;
    // A C function, like the kernel's: a tail call to it keeps the caller's line for errors.
    let format = lua.create_function(move |lua, args: MultiValue| {
        if let Some(Value::String(f)) = args.front()
            && let Some(conv) = float_conversion(&f.as_bytes())
        {
            return rt(format!(
                "{}invalid option '%{}' to 'format'",
                caller_where(lua),
                char::from(conv)
            ));
        }
        sformat.call::<mlua::LuaString>(args).map_err(|e| match e {
            LErr::RuntimeError(m) => {
                let m = m.split("\nstack traceback:").next().unwrap_or_default();
                LErr::RuntimeError(format!(
                    "{}{}",
                    caller_where(lua),
                    m.replace(" to '?' ", " to 'format' ")
                ))
            }
            other => other,
        })
    })?;
    string.raw_set("format", format)?;
    let cg_ctx = ctx.clone();
    let cg = lua.create_function(move |lua, opt: Option<String>| match opt.as_deref() {
        Some("count") => {
            let used = used(lua, cg_ctx.borrow().mem_offset) as i64;
            Ok(MultiValue::from_iter([
                Value::Integer(used / 1024),
                Value::Integer(used % 1024),
            ]))
        }
        Some("isrunning") => Ok(MultiValue::from_iter([Value::Boolean(true)])),
        _ => {
            lua.gc_collect()?;
            Ok(MultiValue::from_iter([Value::Integer(0)]))
        }
    })?;
    g.raw_set("collectgarbage", cg)?;
    // Coroutines inherit the instruction hook in the kernel; mlua hooks are per thread.
    let co: Table = g.raw_get("coroutine")?;
    let hook_ctx = ctx.clone();
    co.raw_set(
        "create",
        lua.create_function(move |lua, f: mlua::Function| {
            let th = lua.create_thread(f)?;
            th.set_hook(
                HookTriggers::new().every_nth_instruction(100),
                counthook(&hook_ctx),
            )?;
            Ok(th)
        })?,
    )?;
    lua.load(WRAP).set_name("=prelude").exec()?;
    prune(&g, BASE)?;
    for (lib, keep) in [
        ("coroutine", COROUTINE),
        ("string", STRING),
        ("table", TABLE),
    ] {
        let t: Table = g.raw_get(lib)?;
        prune(&t, keep)?;
    }
    g.raw_set("_VERSION", "Lua 5.2")?;
    for (name, v) in model::errno::GLOBALS {
        g.raw_set(*name, *v)?;
    }
    g.raw_set("zfs", zfs_table(lua, ctx)?)?;
    Ok(())
}

fn prune(t: &Table, keep: &[&str]) -> mlua::Result<()> {
    let keys: Vec<Value> = t
        .pairs::<Value, Value>()
        .filter_map(|p| p.ok().map(|(k, _)| k))
        .collect();
    for k in keys {
        let keep_it = matches!(&k, Value::String(s) if keep.contains(&&*s.to_string_lossy()));
        if !keep_it {
            t.raw_set(k, Value::Nil)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- argument parsing

#[derive(Clone, Copy, PartialEq, Eq)]
enum T {
    Str,
    Bool,
}

impl T {
    fn name(self) -> &'static str {
        match self {
            T::Str => "string",
            T::Bool => "boolean",
        }
    }
    fn matches(self, v: &Value) -> bool {
        matches!(
            (self, v),
            (T::Str, Value::String(_)) | (T::Bool, Value::Boolean(_))
        )
    }
}

struct Spec {
    name: &'static str,
    pargs: &'static [(&'static str, T)],
    kwargs: &'static [(&'static str, T)],
}

fn rt<X>(msg: impl Into<String>) -> mlua::Result<X> {
    Err(LErr::RuntimeError(msg.into()))
}

impl Spec {
    fn usage(&self) -> String {
        let mut parts: Vec<String> = self
            .pargs
            .iter()
            .map(|(n, t)| format!("<{n}({})>", t.name()))
            .collect();
        parts.extend(
            self.kwargs
                .iter()
                .map(|(n, t)| format!("{n}=({})", t.name())),
        );
        format!("{}{{{}}}", self.name, parts.join(", "))
    }
    fn err<X>(&self, msg: String) -> mlua::Result<X> {
        rt(format!("{msg}: {}", self.usage()))
    }
    fn no_float(&self, v: &Value) -> mlua::Result<()> {
        if let Value::Number(f) = v {
            return rt(format!(
                "EMULATOR: float {f} passed to zfs function '{}' (channel programs have no floats)",
                self.name
            ));
        }
        Ok(())
    }
    /// `zcp_parse_args`: positional args then kwargs (nil when absent).
    fn parse(&self, args: MultiValue) -> mlua::Result<Vec<Value>> {
        // The arguments' own buffer (no copy), kept as the result in the positional form.
        let mut args: Vec<Value> = args.into();
        for a in &args {
            self.no_float(a)?;
        }
        let mut out = Vec::new();
        if let [Value::Table(t)] = args.as_slice() {
            for (i, (_, ty)) in self.pargs.iter().enumerate() {
                let v: Value = t.raw_get(i + 1)?;
                self.no_float(&v)?;
                if v.is_nil() {
                    return self.err("too few arguments".into());
                }
                if !ty.matches(&v) {
                    return self.err(format!(
                        "arg {} wrong type (is '{}', expected '{}')",
                        i + 1,
                        type_name(&v),
                        ty.name()
                    ));
                }
                out.push(v);
            }
            for (name, ty) in self.kwargs {
                let v: Value = t.raw_get(*name)?;
                self.no_float(&v)?;
                if !v.is_nil() && !ty.matches(&v) {
                    return self.err(format!(
                        "kwarg '{name}' wrong type (is '{}', expected '{}')",
                        type_name(&v),
                        ty.name()
                    ));
                }
                out.push(v);
            }
            for pair in t.pairs::<Value, Value>() {
                let (k, _) = pair?;
                let known = match &k {
                    Value::Integer(i) => *i >= 1 && (*i as usize) <= self.pargs.len(),
                    Value::String(s) => self.kwargs.iter().any(|(n, _)| *n == s.to_string_lossy()),
                    _ => false,
                };
                if known {
                    continue;
                }
                return match &k {
                    Value::Integer(i) if *i > 0 => self.err("too many positional arguments".into()),
                    Value::Integer(i) => self.err(format!("invalid kwarg '{i}'")),
                    Value::String(s) => {
                        self.err(format!("invalid kwarg '{}'", s.to_string_lossy()))
                    }
                    _ => self.err("kwarg keys must be strings".into()),
                };
            }
        } else {
            for (i, (_, ty)) in self.pargs.iter().enumerate() {
                let Some(v) = args.get(i) else {
                    return self.err("too few arguments".into());
                };
                if !ty.matches(v) {
                    return self.err(format!(
                        "arg {} wrong type (is '{}', expected '{}')",
                        i + 1,
                        type_name(v),
                        ty.name()
                    ));
                }
            }
            if args.len() != self.pargs.len() {
                return self.err("too many positional arguments".into());
            }
            args.extend(self.kwargs.iter().map(|_| Value::Nil));
            return Ok(args);
        }
        Ok(out)
    }
}

/// A string argument's text, borrowed from Lua when it is UTF-8 (no copy per call); other
/// bytes lossily converted, a non-string empty.
enum Arg {
    Borrowed(mlua::BorrowedStr),
    Owned(String),
}

impl std::ops::Deref for Arg {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Arg::Borrowed(b) => b,
            Arg::Owned(s) => s,
        }
    }
}

impl std::fmt::Display for Arg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

fn s_of(v: &Value) -> Arg {
    match v {
        Value::String(s) => match s.to_str() {
            Ok(t) => Arg::Borrowed(t),
            Err(_) => Arg::Owned(s.to_string_lossy()),
        },
        _ => Arg::Owned(String::new()),
    }
}

// ---------------------------------------------------------------- dataset lookup

enum Held {
    Ok,
    NoEnt,
    XDev,
    Inval,
    /// An `eio` fault on the dataset.
    Io,
}

/// Bytes a name given to `dsl_dataset_hold` may hold: `[A-Za-z0-9_.: -/@#%]`.
static NAME_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'_' | b'.' | b':' | b' ' | b'-' | b'/' | b'@' | b'#' | b'%'
            );
        b += 1;
    }
    t
};

/// `dsl_dataset_hold`: the pool is the part before the first `/` or `@`.
fn hold(ctx: &Ctx, name: &str) -> Held {
    let bytes = name.as_bytes();
    // One table look-up per byte (this runs for nearly every `zfs.*` call).
    if bytes.is_empty()
        || bytes.len() > model::MAX_NAME_LEN
        || !bytes.iter().all(|&b| NAME_BYTE[usize::from(b)])
    {
        return Held::Inval;
    }
    let end = bytes
        .iter()
        .position(|&b| b == b'/' || b == b'@')
        .unwrap_or(bytes.len());
    if name[..end] != *ctx.pool {
        return Held::XDev;
    }
    if ctx.faults.as_ref().is_some_and(|f| f.eio(name)) {
        return Held::Io;
    }
    if ctx.pool().exists(name) {
        Held::Ok
    } else {
        Held::NoEnt
    }
}

/// `zcp_dataset_hold`: fatal unless the dataset exists.
fn hold_fatal(ctx: &Ctx, fname: &str, name: &str) -> mlua::Result<()> {
    match hold(ctx, name) {
        Held::Ok => Ok(()),
        Held::NoEnt => rt(format!(
            "bad argument #1 to '{fname}' (no such dataset '{name}')"
        )),
        Held::XDev => rt(format!(
            "bad argument #1 to '{fname}' (dataset '{name}' is not in the target pool '{}')",
            ctx.pool
        )),
        Held::Inval => rt(format!(
            "unexpected error 22 while accessing dataset '{name}'"
        )),
        Held::Io => rt(io_error(name)),
    }
}

/// `zcp_dataset_hold_error` and `zcp_sync_task` for EIO.
fn io_error(name: &str) -> String {
    format!("I/O error while accessing dataset '{name}'")
}

// ---------------------------------------------------------------- properties

enum PVal {
    Int(i64),
    Str(String),
    List(Vec<String>),
}

/// Value and source of a native property; `Ok(None)` = zero values; `Err` = not a property.
fn native_prop(
    pool: &Pool,
    version: super::Version,
    name: &str,
    prop: &str,
) -> Result<Option<(PVal, Option<String>)>, ()> {
    const ZERO_PREFIXES: &[&str] = &[
        "userquota@",
        "groupquota@",
        "userused@",
        "groupused@",
        "userobjquota@",
        "groupobjquota@",
        "userobjused@",
        "groupobjused@",
        "projectquota@",
        "projectused@",
        "projectobjquota@",
        "projectobjused@",
        "written@",
        "written#",
    ];
    if ZERO_PREFIXES.iter().any(|p| prop.starts_with(p)) {
        return Ok(None);
    }
    let (head, snap) = match split_name(name) {
        NameKind::Snapshot(ds, s) => (
            ds,
            pool.ds(ds)
                .and_then(|d| d.snapshots.get(s))
                .map(|sn| (s, sn)),
        ),
        NameKind::Dataset(ds) => (ds, None),
        NameKind::Bookmark(..) => return Ok(None),
    };
    let Some(node) = pool.ds(head) else {
        return Ok(None);
    };
    let is_snap = snap.is_some();
    let is_fs = !is_snap && node.kind == DsKind::Filesystem;
    let is_vol = !is_snap && node.kind == DsKind::Volume;
    let ro = |v: PVal| Ok(Some((v, None)));
    let dflt = |v: PVal| Ok(Some((v, Some("default".to_string()))));
    let (createtxg, creation, guid) = match snap {
        Some((_, sn)) => (sn.createtxg, sn.creation, sn.guid),
        None => (node.createtxg, node.creation, node.guid),
    };
    match prop {
        "createtxg" => ro(PVal::Int(createtxg as i64)),
        "creation" => ro(PVal::Int(creation)),
        "guid" => ro(PVal::Int(guid as i64)),
        "name" => ro(PVal::Str(name.to_string())),
        "type" => ro(PVal::Str(
            match (is_snap, node.kind) {
                (true, _) => "snapshot",
                (false, DsKind::Filesystem) => "filesystem",
                (false, DsKind::Volume) => "volume",
            }
            .into(),
        )),
        "used" | "referenced" | "logicalused" | "logicalreferenced" | "written" => {
            ro(PVal::Int(if is_snap { 0 } else { 98304 }))
        }
        "available" if !is_snap => ro(PVal::Int(1 << 30)),
        "compressratio" | "refcompressratio" => ro(PVal::Str("1.00x".into())),
        "userrefs" if is_snap => ro(PVal::Int(snap.map_or(0, |(_, s)| s.holds.len()) as i64)),
        "defer_destroy" if is_snap => ro(PVal::Str(
            if snap.is_some_and(|(_, s)| s.defer_destroy) {
                "on"
            } else {
                "off"
            }
            .into(),
        )),
        "numclones" if is_snap => ro(PVal::Int(snap.map_or(0, |(_, s)| s.clones.len()) as i64)),
        "clones" if is_snap => ro(PVal::List(
            snap.map(|(_, s)| s.clones.iter().cloned().collect())
                .unwrap_or_default(),
        )),
        "origin" if !is_snap && node.origin.is_some() => {
            ro(PVal::Str(node.origin.clone().unwrap_or_default()))
        }
        "volsize" if is_vol => Ok(Some((
            PVal::Int(node.volsize.unwrap_or(0) as i64),
            Some(head.to_string()),
        ))),
        "volblocksize" if is_vol => ro(PVal::Int(16384)),
        "mountpoint" | "canmount" | "compression" | "readonly" if !is_snap => {
            if !model::native_applies(prop, node.kind) {
                return Ok(None);
            }
            // zcp_get_prop: the source of a set value is the dataset it is set on.
            let hit = pool.native_prop(head, prop).map_or_else(
                || {
                    let d = super::default_native(version, head, prop).unwrap_or_default();
                    (PVal::Str(d), Some("default".to_string()))
                },
                |h| (PVal::Str(h.value), Some(h.setpoint)),
            );
            Ok(Some(hit))
        }
        "recordsize" if is_fs => dflt(PVal::Int(131072)),
        "snapdir" if is_fs => dflt(PVal::Str("hidden".into())),
        "quota" | "refquota" if is_fs => dflt(PVal::Int(0)),
        "reservation" | "refreservation" if !is_snap => dflt(PVal::Int(0)),
        "checksum" if !is_snap => dflt(PVal::Str("on".into())),
        "atime" if !is_snap => dflt(PVal::Str("on".into())),
        "copies" if !is_snap => dflt(PVal::Int(1)),
        "sync" if !is_snap => dflt(PVal::Str("standard".into())),
        "dedup" if !is_snap => dflt(PVal::Str("off".into())),
        "encryption" => dflt(PVal::Str("off".into())),
        "mounted" | "iscsioptions" => Ok(None),
        // 2.2+ (zcp_get.c: dsl_dir_snap_cmtime(ds_dir).tv_sec); unknown to 2.1's zfs_name_to_prop.
        "snapshots_changed" if !version.at_least(2, 2) => Err(()),
        "snapshots_changed" if !is_snap => ro(PVal::Int(node.snapshots_changed)),
        _ if KNOWN_NATIVE.contains(&prop) => Ok(None), // valid, not for this type
        _ => Err(()),
    }
}

const KNOWN_NATIVE: &[&str] = &[
    "createtxg",
    "creation",
    "guid",
    "name",
    "type",
    "used",
    "referenced",
    "logicalused",
    "logicalreferenced",
    "written",
    "available",
    "compressratio",
    "refcompressratio",
    "userrefs",
    "defer_destroy",
    "numclones",
    "clones",
    "origin",
    "volsize",
    "volblocksize",
    "mountpoint",
    "canmount",
    "recordsize",
    "snapdir",
    "quota",
    "refquota",
    "reservation",
    "refreservation",
    "compression",
    "checksum",
    "readonly",
    "atime",
    "copies",
    "sync",
    "dedup",
    "encryption",
    "mounted",
    "iscsioptions",
    "snapshots_changed",
];

/// Names `system_properties` lists for a dataset.
fn system_prop_names(pool: &Pool, version: super::Version, name: &str) -> Vec<String> {
    KNOWN_NATIVE
        .iter()
        .filter(|p| matches!(native_prop(pool, version, name, p), Ok(Some(_))))
        .map(|p| p.to_string())
        .collect()
}

fn push_pval(lua: &Lua, v: PVal) -> mlua::Result<Value> {
    Ok(match v {
        PVal::Int(i) => Value::Integer(i),
        PVal::Str(s) => Value::String(lua.create_string(&s)?),
        PVal::List(l) => {
            let t = lua.create_table()?;
            for (i, s) in l.iter().enumerate() {
                t.raw_set(i + 1, s.as_str())?;
            }
            Value::Table(t)
        }
    })
}

/// get_prop-style (value, source) for a user property; None when unset.
fn user_prop_pair(pool: &Pool, name: &str, prop: &str) -> Option<(String, String)> {
    pool.user_prop(name, prop).map(|h| (h.value, h.setpoint))
}

// ---------------------------------------------------------------- the zfs table

/// `luaL_where(L, 1)`: `"<chunk>:<line>: "` of the Lua function calling the running C
/// function, empty when that caller is not a Lua function (no line information).
fn caller_where(lua: &Lua) -> String {
    lua.inspect_stack(1, |d| {
        let line = d.current_line();
        let src = d.source().short_src.map(|s| s.into_owned());
        match (src, line) {
            (Some(src), Some(line)) if line > 0 => format!("{src}:{line}: "),
            _ => String::new(),
        }
    })
    .unwrap_or_default()
}

/// Creates a `zfs.*` function. Its fatal errors are raised like the kernel's (`luaL_error`,
/// `luaL_argerror`): prefixed with the position of the calling Lua line.
fn zfn<R, F>(lua: &Lua, f: F) -> mlua::Result<mlua::Function>
where
    R: mlua::IntoLuaMulti,
    F: Fn(&Lua, MultiValue) -> mlua::Result<R> + 'static,
{
    lua.create_function(move |lua, args: MultiValue| {
        f(lua, args).map_err(|e| match e {
            LErr::RuntimeError(m) if m != PANIC_TAG && m != KILL_TAG => {
                LErr::RuntimeError(format!("{}{m}", caller_where(lua)))
            }
            other => other,
        })
    })
}

fn zfs_table(lua: &Lua, ctx: &Shared) -> mlua::Result<Table> {
    let version = ctx.borrow().world.version;
    let zfs = lua.create_table()?;

    let c = ctx.clone();
    zfs.raw_set(
        "debug",
        zfn(lua, move |_, args: MultiValue| {
            let _ = &c;
            const S: Spec = Spec {
                name: "debug",
                pargs: &[("debug string", T::Str)],
                kwargs: &[],
            };
            S.parse(args)?;
            Ok(())
        })?,
    )?;

    let c = ctx.clone();
    zfs.raw_set(
        "exists",
        zfn(lua, move |_, args: MultiValue| {
            const S: Spec = Spec {
                name: "exists",
                pargs: &[("dataset", T::Str)],
                kwargs: &[],
            };
            let a = S.parse(args)?;
            let name = s_of(&a[0]);
            let c = c.borrow();
            match hold(&c, &name) {
                Held::Ok => Ok(true),
                Held::NoEnt => Ok(false),
                Held::XDev => rt(format!("dataset '{name}' is not in the target pool")),
                Held::Inval => rt("unexpected error 22"),
                Held::Io => rt(io_error(&name)),
            }
        })?,
    )?;

    let c = ctx.clone();
    zfs.raw_set(
        "get_prop",
        zfn(lua, move |lua, args: MultiValue| {
            const S: Spec = Spec {
                name: "get_prop",
                pargs: &[("dataset", T::Str), ("property", T::Str)],
                kwargs: &[],
            };
            let a = S.parse(args)?;
            let (name, prop) = (s_of(&a[0]), s_of(&a[1]));
            let c = c.borrow();
            hold_fatal(&c, "get_prop", &name)?;
            let mut out = MultiValue::new();
            if model::is_user_prop(&prop) {
                if let Some((v, src)) = user_prop_pair(c.pool(), &name, &prop) {
                    out.push_back(Value::String(lua.create_string(&v)?));
                    out.push_back(Value::String(lua.create_string(&src)?));
                }
                return Ok(out);
            }
            match native_prop(c.pool(), c.world.version, &name, &prop) {
                Err(()) => rt(format!("'{prop}' is not a valid property")),
                Ok(None) => Ok(out),
                Ok(Some((v, src))) => {
                    out.push_back(push_pval(lua, v)?);
                    out.push_back(match src {
                        Some(s) => Value::String(lua.create_string(&s)?),
                        None => Value::Nil,
                    });
                    Ok(out)
                }
            }
        })?,
    )?;

    zfs.raw_set("list", list_table(lua, ctx, version)?)?;
    zfs.raw_set("sync", sync_table(lua, ctx, version, true)?)?;
    zfs.raw_set("check", sync_table(lua, ctx, version, false)?)?;
    Ok(zfs)
}

/// An iterator function over precomputed rows (several values per step).
fn iterator(lua: &Lua, rows: Vec<Vec<Value>>) -> mlua::Result<mlua::Function> {
    let rows = RefCell::new(rows.into_iter());
    lua.create_function(move |_, _: MultiValue| {
        Ok(match rows.borrow_mut().next() {
            Some(r) => MultiValue::from_iter(r),
            None => MultiValue::from_iter([Value::Nil]),
        })
    })
}

/// Names a list yields: `prefix` followed by each part of `buf` (the prefix is empty for full
/// names, `<dataset>@` or `<dataset>#` for snapshots and bookmarks). Packed in one buffer:
/// the snapshots of a dataset are listed on every run.
struct Names {
    prefix: String,
    buf: String,
    /// (start, end) in `buf`, one per name, in the order yielded.
    parts: Vec<(usize, usize)>,
}

impl Names {
    fn new<'a>(prefix: String, parts: impl Iterator<Item = &'a str>) -> Names {
        let mut n = Names {
            prefix,
            buf: String::new(),
            parts: Vec::new(),
        };
        for p in parts {
            let start = n.buf.len();
            n.buf.push_str(p);
            n.parts.push((start, n.buf.len()));
        }
        n
    }
}

/// An iterator function over names, one per step: like the kernel's C iterators each Lua
/// string is made when its step returns it (not before), and nil ends the list.
fn name_iterator(lua: &Lua, names: Names) -> mlua::Result<mlua::Function> {
    let next = std::cell::Cell::new(0);
    // The name being made: borrowed only between steps (a `__gc` run while the string is
    // made may call this iterator again, and then makes its own).
    let scratch = RefCell::new(Vec::new());
    lua.create_function(move |lua, ()| {
        let i = next.get();
        let Some(&(a, b)) = names.parts.get(i) else {
            return Ok(None);
        };
        next.set(i + 1);
        let mut name = scratch.take();
        name.clear();
        name.extend_from_slice(names.prefix.as_bytes());
        name.extend_from_slice(&names.buf.as_bytes()[a..b]);
        let s = lua.create_string(&name);
        scratch.replace(name);
        s.map(Some)
    })
}

/// What one `zfs.list.*` call yields, in the model's order (shuffled before iterating).
enum Rows {
    /// One name per step.
    Names(Names),
    /// Several values per step (holds, properties).
    Multi(Vec<Vec<Value>>),
}

fn list_table(lua: &Lua, ctx: &Shared, version: super::Version) -> mlua::Result<Table> {
    let list = lua.create_table()?;
    type RowsFn = fn(&Lua, &Ctx, &str) -> mlua::Result<Rows>;
    fn strs(_: &Lua, v: Vec<String>) -> mlua::Result<Rows> {
        Ok(Rows::Names(Names::new(
            String::new(),
            v.iter().map(String::as_str),
        )))
    }
    fn need_head(c: &Ctx, fname: &str, name: &str) -> mlua::Result<()> {
        hold_fatal(c, fname, name)?;
        if !matches!(split_name(name), NameKind::Dataset(_)) {
            return rt(format!(
                "bad argument #1 to '{fname}' ('{name}' is not a filesystem or volume)"
            ));
        }
        Ok(())
    }
    fn need_snap(c: &Ctx, fname: &str, name: &str) -> mlua::Result<()> {
        hold_fatal(c, fname, name)?;
        if !matches!(split_name(name), NameKind::Snapshot(..)) {
            return rt(format!(
                "bad argument #1 to '{fname}' ('{name}' is not a snapshot)"
            ));
        }
        Ok(())
    }
    let children: RowsFn = |lua, c, name| {
        need_head(c, "children", name)?;
        let v = c
            .pool()
            .children(name)
            .into_iter()
            .filter(|n| !n.contains(['$', '%']))
            .collect();
        strs(lua, v)
    };
    let snapshots: RowsFn = |_, c, name| {
        need_head(c, "snapshots", name)?;
        let keys = c.pool().datasets[name].snapshots.keys();
        Ok(Rows::Names(Names::new(
            format!("{name}@"),
            keys.map(String::as_str),
        )))
    };
    let bookmarks: RowsFn = |_, c, name| {
        need_head(c, "bookmarks", name)?;
        let keys = c.pool().datasets[name].bookmarks.keys();
        Ok(Rows::Names(Names::new(
            format!("{name}#"),
            keys.map(String::as_str),
        )))
    };
    let holds: RowsFn = |lua, c, name| {
        need_snap(c, "holds", name)?;
        let sn = c.pool().snap(name).expect("held");
        sn.holds
            .iter()
            .map(|(t, at)| {
                Ok(vec![
                    Value::String(lua.create_string(t)?),
                    Value::Integer(*at),
                ])
            })
            .collect::<mlua::Result<_>>()
            .map(Rows::Multi)
    };
    let clones: RowsFn = |lua, c, name| {
        need_snap(c, "clones", name)?;
        let sn = c.pool().snap(name).expect("held");
        strs(lua, sn.clones.iter().cloned().collect())
    };
    let user_properties: RowsFn = |lua, c, name| {
        hold_fatal(c, "user_properties", name)?;
        let pool = c.pool();
        pool.user_prop_names(name)
            .into_iter()
            .filter_map(|p| user_prop_pair(pool, name, &p).map(|(v, s)| (p, v, s)))
            .map(|(p, v, s)| {
                Ok(vec![
                    Value::String(lua.create_string(&p)?),
                    Value::String(lua.create_string(&v)?),
                    Value::String(lua.create_string(&s)?),
                ])
            })
            .collect::<mlua::Result<_>>()
            .map(Rows::Multi)
    };
    let mut iters: Vec<(&str, &'static str, RowsFn)> = vec![
        ("children", "filesystem | volume", children),
        ("snapshots", "filesystem | volume", snapshots),
        ("clones", "snapshot", clones),
        (
            "properties",
            "filesystem | snapshot | volume",
            user_properties,
        ),
    ];
    if version.at_least(2, 0) {
        iters.push(("bookmarks", "filesystem | volume", bookmarks));
        iters.push(("holds", "snapshot", holds));
        iters.push((
            "user_properties",
            "filesystem | snapshot | volume",
            user_properties,
        ));
    }
    for (fname, argname, rows_fn) in iters {
        let c = ctx.clone();
        let fname: &'static str = Box::leak(fname.to_string().into_boxed_str());
        let pargs: &'static [(&'static str, T)] = Box::leak(Box::new([(argname, T::Str)]));
        let f = zfn(lua, move |lua, args: MultiValue| {
            let spec = Spec {
                name: fname,
                pargs,
                kwargs: &[],
            };
            let a = spec.parse(args)?;
            let name = s_of(&a[0]);
            let rows = {
                let cb = c.borrow();
                rows_fn(lua, &cb, &name)?
            };
            match rows {
                Rows::Names(mut v) => {
                    c.borrow_mut().shuffle(&mut v.parts);
                    name_iterator(lua, v)
                }
                Rows::Multi(mut v) => {
                    c.borrow_mut().shuffle(&mut v);
                    iterator(lua, v)
                }
            }
        })?;
        list.raw_set(fname, f)?;
    }
    let c = ctx.clone();
    list.raw_set(
        "system_properties",
        zfn(lua, move |lua, args: MultiValue| {
            const S: Spec = Spec {
                name: "system_properties",
                pargs: &[("filesystem | snapshot | volume", T::Str)],
                kwargs: &[],
            };
            let a = S.parse(args)?;
            let name = s_of(&a[0]);
            let mut names = {
                let cb = c.borrow();
                hold_fatal(&cb, "system_properties", &name)?;
                system_prop_names(cb.pool(), cb.world.version, &name)
            };
            c.borrow_mut().shuffle(&mut names);
            let t = lua.create_table()?;
            for (i, n) in names.iter().enumerate() {
                t.raw_set(i + 1, n.as_str())?;
            }
            Ok(t)
        })?,
    )?;
    Ok(list)
}

const SYNC_NEEDS_SYNC: &str = "running functions from the zfs.sync submodule requires passing \
sync=TRUE to lzc_channel_program() (i.e. do not specify the \"-n\" command line argument)";

/// The body of one `zfs.sync.*` function and of its `zfs.check.*` twin: `sync` is true for
/// the sync call, false for the check (which validates and changes nothing); the arguments
/// are the parsed ones of its [`Spec`] (positional, then kwargs or nil).
type SyncFn = fn(&Lua, &mut Ctx, bool, &[Value]) -> mlua::Result<MultiValue>;

/// A `zfs.sync.*`/`zfs.check.*` function: its argument spec, the release that added it
/// (`major.minor`) and its body.
struct SyncOp {
    since: (u32, u32),
    spec: Spec,
    run: SyncFn,
}

/// Every sync function, in the order [`sync_table`] registers them.
static SYNC_OPS: &[SyncOp] = &[
    SyncOp {
        since: (0, 0),
        spec: Spec {
            name: "destroy",
            pargs: &[("filesystem | snapshot", T::Str)],
            kwargs: &[("defer", T::Bool)],
        },
        run: sync_destroy,
    },
    SyncOp {
        since: (0, 0),
        spec: Spec {
            name: "snapshot",
            pargs: &[("filesystem@snapname | volume@snapname", T::Str)],
            kwargs: &[],
        },
        run: sync_snapshot,
    },
    SyncOp {
        since: (0, 0),
        spec: Spec {
            name: "rollback",
            pargs: &[("filesystem", T::Str)],
            kwargs: &[],
        },
        run: sync_rollback,
    },
    SyncOp {
        since: (0, 0),
        spec: Spec {
            name: "promote",
            pargs: &[("clone", T::Str)],
            kwargs: &[],
        },
        run: sync_promote,
    },
    SyncOp {
        since: (2, 0),
        spec: Spec {
            name: "bookmark",
            pargs: &[("snapshot | bookmark", T::Str), ("bookmark", T::Str)],
            kwargs: &[],
        },
        run: sync_bookmark,
    },
    SyncOp {
        since: (2, 0),
        spec: Spec {
            name: "set_prop",
            pargs: &[("dataset", T::Str), ("property", T::Str), ("value", T::Str)],
            kwargs: &[],
        },
        run: sync_set_prop,
    },
    SyncOp {
        since: (2, 0),
        spec: Spec {
            name: "inherit",
            pargs: &[("dataset", T::Str), ("property", T::Str)],
            kwargs: &[],
        },
        run: sync_inherit,
    },
    SyncOp {
        since: (2, 2),
        spec: Spec {
            name: "rename_snapshot",
            pargs: &[
                ("filesystem | volume", T::Str),
                ("oldsnapname", T::Str),
                ("newsnapname", T::Str),
            ],
            kwargs: &[],
        },
        run: sync_rename_snapshot,
    },
    SyncOp {
        since: (2, 4),
        spec: Spec {
            name: "clone",
            pargs: &[("snapshot", T::Str), ("newdataset", T::Str)],
            kwargs: &[],
        },
        run: sync_clone,
    },
];

fn ret(code: i32) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_iter([Value::Integer(i64::from(code))]))
}

fn other_pool(c: &Ctx, name: &str) -> bool {
    model::pool_of(name) != c.pool
}

/// `zfs.sync` (`sync` true) or `zfs.check` (false): the [`SYNC_OPS`] this `version` has, each
/// refusing to run from `zfs.sync` in a `-n` program, parsing its arguments, then running
/// under the faults in force ([`faulted`]) or plainly.
fn sync_table(lua: &Lua, ctx: &Shared, version: super::Version, sync: bool) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for op in SYNC_OPS {
        if !version.at_least(op.since.0, op.since.1) {
            continue;
        }
        let c = ctx.clone();
        let func = zfn(lua, move |lua, args: MultiValue| {
            if sync && !c.borrow().sync {
                return rt(SYNC_NEEDS_SYNC);
            }
            let a = op.spec.parse(args)?;
            let mut cb = c.borrow_mut();
            if cb.faults.is_some() {
                return faulted(lua, &mut cb, op.spec.name, sync, &a, op.run);
            }
            (op.run)(lua, &mut cb, sync, &a)
        })?;
        t.raw_set(op.spec.name, func)?;
    }
    Ok(t)
}

/// `destroy(fs | snap, {defer=})`: a snapshot or a filesystem (`defer` only for snapshots).
fn sync_destroy(_: &Lua, c: &mut Ctx, sync: bool, a: &[Value]) -> mlua::Result<MultiValue> {
    let name = s_of(&a[0]);
    let defer = matches!(a[1], Value::Boolean(true));
    let dry = !sync;
    let issnap = name.contains('@');
    // zcp_synctask_destroy refuses the kwarg before looking anything up.
    if !issnap && !a[1].is_nil() {
        return rt(format!(
            "'deferred' kwarg only supported for snapshots: {name}"
        ));
    }
    if other_pool(c, &name) {
        return ret(EXDEV);
    }
    let now = c.world.now();
    if issnap {
        return ret(model::destroy_snapshot(
            c.pool_mut(),
            &name,
            defer,
            now,
            dry,
        ));
    }
    ret(model::destroy_dataset(c.pool_mut(), &name, true, now, dry))
}

/// `snapshot(fs@snap)`: an empty snapshot name panics the kernel once synced; a check in
/// open context (`-n`) only looks the dataset up.
fn sync_snapshot(_: &Lua, c: &mut Ctx, sync: bool, a: &[Value]) -> mlua::Result<MultiValue> {
    let name = s_of(&a[0]);
    let NameKind::Snapshot(ds, snap) = split_name(&name) else {
        return ret(EINVAL);
    };
    if other_pool(c, &name) {
        return ret(EXDEV);
    }
    if name.len() > model::MAX_NAME_LEN {
        return ret(ENAMETOOLONG);
    }
    if snap.is_empty() {
        if !sync {
            return ret(0);
        }
        c.panic = Some(format!(
            "zfs.sync.snapshot('{name}') creates a snapshot with an empty name; \
             the next listing panics the kernel (openzfs#13548)"
        ));
        return rt(PANIC_TAG);
    }
    if !sync && !c.sync {
        // open context: dsl_dataset_snapshot_check_impl returns early
        let exists = c.pool().ds(ds).is_some();
        return ret(if exists { 0 } else { ENOENT });
    }
    let st = c.stamp();
    ret(model::snapshot(c.pool_mut(), &name, st, !sync))
}

/// `rollback(fs)`: 0 and `{target = snap}`, or the error.
fn sync_rollback(lua: &Lua, c: &mut Ctx, sync: bool, a: &[Value]) -> mlua::Result<MultiValue> {
    let name = s_of(&a[0]);
    if other_pool(c, &name) {
        return ret(EXDEV);
    }
    let (code, target) = model::rollback(c.pool_mut(), &name, !sync);
    let mut out = ret(code)?;
    if let Some(tg) = target.filter(|_| code == 0) {
        let t = lua.create_table()?;
        t.raw_set("target", tg)?;
        out.push_back(Value::Table(t));
    }
    Ok(out)
}

/// `promote(clone)`: EEXIST comes with the list of conflicting snapshot names.
fn sync_promote(lua: &Lua, c: &mut Ctx, sync: bool, a: &[Value]) -> mlua::Result<MultiValue> {
    let name = s_of(&a[0]);
    if other_pool(c, &name) {
        return ret(EXDEV);
    }
    let now = c.world.now();
    let (code, conflicts) = model::promote(c.pool_mut(), &name, now, !sync);
    let mut out = ret(code)?;
    if code == EEXIST {
        let t = lua.create_table()?;
        for (i, n) in conflicts.iter().enumerate() {
            t.raw_set(i + 1, n.as_str())?;
        }
        out.push_back(Value::Table(t));
    }
    Ok(out)
}

/// `bookmark(snap | bookmark, bookmark)` (2.0).
fn sync_bookmark(_: &Lua, c: &mut Ctx, sync: bool, a: &[Value]) -> mlua::Result<MultiValue> {
    let (src, new) = (s_of(&a[0]), s_of(&a[1]));
    if other_pool(c, &src) || other_pool(c, &new) {
        return ret(EXDEV);
    }
    let st = c.stamp();
    ret(model::bookmark(c.pool_mut(), &src, &new, st, !sync))
}

/// `set_prop(ds, prop, value)` (2.0): user properties.
fn sync_set_prop(_: &Lua, c: &mut Ctx, sync: bool, a: &[Value]) -> mlua::Result<MultiValue> {
    let (ds, prop, val) = (s_of(&a[0]), s_of(&a[1]), s_of(&a[2]));
    if other_pool(c, &ds) {
        return ret(EXDEV);
    }
    ret(model::set_user_prop(c.pool_mut(), &ds, &prop, &val, !sync))
}

/// Native properties `zfs.sync.inherit` accepts; read-only or non-inheritable ones are refused.
const INHERITABLE_NATIVE: &[&str] = &[
    "compression",
    "checksum",
    "readonly",
    "atime",
    "mountpoint",
    "canmount",
    "recordsize",
    "snapdir",
    "copies",
    "sync",
    "dedup",
];

/// `inherit(ds, prop)` (2.0): a user property on a missing dataset panics the kernel once
/// synced; native properties are only checked ([`INHERITABLE_NATIVE`]).
fn sync_inherit(_: &Lua, c: &mut Ctx, sync: bool, a: &[Value]) -> mlua::Result<MultiValue> {
    let (ds, prop) = (s_of(&a[0]), s_of(&a[1]));
    if model::is_user_prop(&prop) {
        if !sync {
            return ret(0); // the check never looks the dataset up
        }
        if other_pool(c, &ds) || !c.pool().exists(&ds) {
            c.panic = Some(format!(
                "zfs.sync.inherit('{ds}', '{prop}') on a dataset that does not \
                 exist reaches VERIFY0(dsl_dataset_hold)"
            ));
            return rt(PANIC_TAG);
        }
        return ret(model::inherit_user_prop(c.pool_mut(), &ds, &prop, false));
    }
    if other_pool(c, &ds) {
        return ret(EXDEV);
    }
    if !c.pool().exists(&ds) {
        return ret(ENOENT);
    }
    ret(if INHERITABLE_NATIVE.contains(&&*prop) {
        0
    } else {
        EINVAL
    })
}

/// `rename_snapshot(fs, old, new)` (2.2).
fn sync_rename_snapshot(_: &Lua, c: &mut Ctx, sync: bool, a: &[Value]) -> mlua::Result<MultiValue> {
    let (fs, old, new) = (s_of(&a[0]), s_of(&a[1]), s_of(&a[2]));
    if other_pool(c, &fs) {
        return ret(EXDEV);
    }
    let now = c.world.now();
    ret(model::rename_snapshot(
        c.pool_mut(),
        &fs,
        &old,
        &new,
        now,
        !sync,
    ))
}

/// `clone(snap, fs)` (2.4).
fn sync_clone(_: &Lua, c: &mut Ctx, sync: bool, a: &[Value]) -> mlua::Result<MultiValue> {
    let (snap, fs) = (s_of(&a[0]), s_of(&a[1]));
    if other_pool(c, &snap) || other_pool(c, &fs) {
        return ret(EXDEV);
    }
    let st = c.stamp();
    ret(model::clone(c.pool_mut(), &snap, &fs, st, !sync))
}

/// A `zfs.sync.*`/`zfs.check.*` call while faults are in force: `kill-after`, the space
/// pre-check (`zcp_synctask_wrapper`: before the function, checks and syncs alike, charged
/// when it returns 0), then EIO on the named dataset (`zcp_sync_task`: returned by a check,
/// fatal in a sync call).
fn faulted(
    lua: &Lua,
    c: &mut Ctx,
    fname: &str,
    sync: bool,
    a: &[Value],
    f: SyncFn,
) -> mlua::Result<MultiValue> {
    let Some(mut pf) = c.faults.take() else {
        return f(lua, c, sync, a);
    };
    let r = faulted_call(lua, c, &mut pf, fname, sync, a, f);
    c.faults = Some(pf);
    r
}

fn faulted_call(
    lua: &Lua,
    c: &mut Ctx,
    pf: &mut ProgramFaults,
    fname: &str,
    sync: bool,
    a: &[Value],
    f: SyncFn,
) -> mlua::Result<MultiValue> {
    let killed = |c: &mut Ctx, pf: &mut ProgramFaults| {
        pf.killed = true;
        c.world.fault_counters.killed = true;
        rt(KILL_TAG)
    };
    if pf.killed || (sync && pf.kill_before_sync()) {
        return killed(c, pf);
    }
    let first = s_of(&a[0]);
    let second_is_name = matches!(fname, "bookmark" | "clone");
    let r = if pf.no_space(fname, sync) {
        ret(ENOSPC)
    } else if pf.busy(fname, &first) {
        ret(EBUSY)
    } else if pf.eio(&first) || (second_is_name && pf.eio(&s_of(&a[1]))) {
        if sync {
            return rt(io_error(&first));
        }
        ret(EIO)
    } else {
        f(lua, c, sync, a)
    }?;
    if matches!(r.front(), Some(Value::Integer(0))) {
        pf.charge(fname, sync);
    }
    if sync {
        c.world.fault_counters.sync_calls += 1;
        if pf.kill_after_sync() {
            return killed(c, pf);
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_refused_at_the_api_and_in_the_return_value() {
        let err = to_nv(&Value::Number(1.5), b"return", 0).unwrap_err();
        assert!(err.starts_with("EMULATOR: float"), "{err}");
        assert_eq!(to_nv(&Value::Integer(3), b"return", 0), Ok(Nv::Int(3)));
        const S: Spec = Spec {
            name: "exists",
            pargs: &[("dataset", T::Str)],
            kwargs: &[],
        };
        let e = S
            .parse(MultiValue::from_iter([Value::Number(2.0)]))
            .unwrap_err();
        assert!(e.to_string().contains("EMULATOR: float 2"), "{e}");
        let e = S
            .parse(MultiValue::from_iter([Value::Integer(2)]))
            .unwrap_err();
        assert!(
            e.to_string().contains(
                "arg 1 wrong type (is 'number', expected 'string'): exists{<dataset(string)>}"
            ),
            "{e}"
        );
    }

    #[test]
    fn the_copier_copies_every_key_and_restores_the_string_metatable() {
        let lua = Lua::new();
        let template: Table = lua
            .load(
                r#"local t = { ["a\"b"] = 1, ["back\\slash"] = 2, ["nl\n\0x\255"] = "s",
                     [7] = true, [-3] = 4, sub = { x = print, deeper = { y = 5 } } }
                   t._G = t return t"#,
            )
            .eval()
            .unwrap();
        let fields: Table = lua.load("return { __add = 1, __sub = 2 }").eval().unwrap();
        let smt: Table = lua.load("return { junk = 3, __add = 9 }").eval().unwrap();
        let src = copier_source(&template, &fields).unwrap();
        let copier: mlua::Function = lua.load(src).call((&template, &smt, &fields)).unwrap();
        for _ in 0..2 {
            let env: Table = copier.call(()).unwrap();
            let same: bool = lua
                .load(
                    r#"local t, env = ...
                    local function same(a, b) -- b a new table with a's entries
                      if rawequal(a, b) or type(b) ~= "table" then return false end
                      for k, v in next, a do
                        local w = rawget(b, k)
                        if type(v) == "table" and not rawequal(v, t) then
                          if not same(v, w) then return false end
                        elseif not (rawequal(v, w) or (rawequal(v, t) and rawequal(w, b))) then
                          return false
                        end
                      end
                      for k in next, b do if rawget(a, k) == nil then return false end end
                      return true
                    end
                    return same(t, env) and rawequal(env._G, env)"#,
                )
                .call((&template, &env))
                .unwrap();
            assert!(same, "the copy differs from the template");
            let smt_now: Vec<(String, i64)> = {
                let mut v: Vec<(String, i64)> = smt.pairs().map(Result::unwrap).collect();
                v.sort();
                v
            };
            assert_eq!(smt_now, [("__add".into(), 1), ("__sub".into(), 2)]);
            smt.raw_set("junk", 4).unwrap();
        }
        // Keys that are neither strings nor integers are refused.
        let bad: Table = lua.load("return { [true] = 1 }").eval().unwrap();
        assert!(copier_source(&bad, &fields).is_err());
    }

    #[test]
    fn the_name_byte_table_is_the_hold_character_set() {
        for b in 0..=255u8 {
            let want = b.is_ascii_alphanumeric() || b"_.: -/@#%".contains(&b);
            assert_eq!(NAME_BYTE[usize::from(b)], want, "byte {b}");
        }
    }

    #[test]
    fn tonumber_reads_like_the_kernel() {
        for (s, base, want) in [
            ("010", None, Some(8)),
            ("08", None, None),
            (" 0x1f ", None, Some(31)),
            ("1.5", None, None),
            ("inf", None, None),
            ("z", Some(36), Some(35)),
            ("102", Some(2), None),
        ] {
            assert_eq!(zfs_tonumber(s, base), want, "{s} {base:?}");
        }
    }
}
