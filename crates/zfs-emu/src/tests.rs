//! Emulator rules, one test per rule of the reference (§6 checklist and the issue), run
//! through `World::run_program` and `cli::zfs_main` in-process.

use super::model::errno::*;
use super::*;

const FAILED: &str = "Channel program execution failed:\n";

fn world_v(v: &str) -> World {
    let mut w = World::new(v.parse().unwrap());
    w.set_clock(1_700_000_000);
    w.set_seed(7);
    w.create_pool("tank").unwrap();
    w.create_dataset("tank/a", None, false).unwrap();
    w
}

fn world() -> World {
    world_v("2.3.2")
}

fn req(script: &str, argv: &[&str]) -> ProgramRequest {
    ProgramRequest::new("tank", script, argv)
}

fn run(w: &mut World, script: &str) -> ProgramOutcome {
    w.run_program(&req(script, &[]))
}

fn run_n(w: &mut World, script: &str) -> ProgramOutcome {
    let mut r = req(script, &[]);
    r.sync = false;
    w.run_program(&r)
}

/// Runs and expects success; returns stdout.
fn ok(w: &mut World, script: &str) -> String {
    let o = run(w, script);
    assert_eq!(o.exit_code, 0, "{script}\n{}", o.stderr);
    o.stdout
}

fn zfs(w: &mut World, line: &str) -> (i32, String, String) {
    let args: Vec<String> = line.split_whitespace().map(String::from).collect();
    cli::zfs_main(w, &args, "")
}

fn zfs_stdin(w: &mut World, line: &str, stdin: &str) -> (i32, String, String) {
    let args: Vec<String> = line.split_whitespace().map(String::from).collect();
    cli::zfs_main(w, &args, stdin)
}

#[test]
fn float_literal_is_a_syntax_error_and_nothing_runs() {
    let mut w = world();
    let o = run(
        &mut w,
        "zfs.sync.snapshot('tank/a@s')\nlocal x = 1.5\nreturn x",
    );
    assert_eq!(o.exit_code, 1);
    assert_eq!(o.errno, EINVAL);
    assert_eq!(o.stdout, "");
    assert_eq!(
        o.stderr,
        format!("{FAILED}[string \"channel program\"]:2: malformed number near '1.5'\n")
    );
    assert!(!w.pool("tank").unwrap().exists("tank/a@s"), "nothing ran");
    assert_eq!(run(&mut w, "return 1.0").errno, EINVAL);
}

#[test]
fn second_snapshot_of_a_dataset_in_one_program_is_eagain() {
    let mut w = world();
    let out = ok(
        &mut w,
        "return {zfs.sync.snapshot('tank/a@s1'), zfs.sync.snapshot('tank/a@s2'), \
         zfs.check.snapshot('tank/a@s3')}",
    );
    assert_eq!(out, r#"{"return":{"1":0,"2":11,"3":11}}"#);
    let pool = w.pool("tank").unwrap();
    assert!(pool.exists("tank/a@s1") && !pool.exists("tank/a@s2"));
    // The next program is another txg: a new snapshot works again.
    assert_eq!(
        ok(&mut w, "return zfs.sync.snapshot('tank/a@s2')"),
        r#"{"return":0}"#
    );
}

#[test]
fn one_txg_per_program_and_check_first_sees_sync_effects() {
    let mut w = world();
    w.create_dataset("tank/b", None, false).unwrap();
    let before = w.txg;
    ok(
        &mut w,
        "zfs.sync.snapshot('tank/a@x'); zfs.sync.snapshot('tank/b@x')",
    );
    assert_eq!(w.txg, before + 1);
    let p = w.pool("tank").unwrap();
    let t1 = p.snap("tank/a@x").unwrap().createtxg;
    assert_eq!(t1, p.snap("tank/b@x").unwrap().createtxg);
    assert_eq!(t1, before + 1);
    // check sees the earlier sync in the same program: EEXIST
    assert_eq!(
        ok(
            &mut w,
            "zfs.sync.snapshot('tank/a@y'); return zfs.check.snapshot('tank/a@y')"
        ),
        r#"{"return":17}"#
    );
}

#[test]
fn bookmark_destroy_returns_enoent() {
    let mut w = world();
    w.snapshot("tank/a@s").unwrap();
    w.bookmark("tank/a@s", "tank/a#s").unwrap();
    let out = ok(
        &mut w,
        "return {zfs.sync.destroy('tank/a#s'), zfs.exists('tank/a#s'), zfs.check.destroy('tank/a#s')}",
    );
    assert_eq!(out, r#"{"return":{"1":2,"2":false,"3":2}}"#);
    assert!(
        w.pool("tank")
            .unwrap()
            .ds("tank/a")
            .unwrap()
            .bookmarks
            .contains_key("s")
    );
    // `pool#bm` parses as another pool: fatal in exists
    assert!(
        run(&mut w, "return zfs.exists('tank#s')")
            .stderr
            .contains("not in the target pool")
    );
}

#[test]
fn runtime_error_leaves_earlier_changes_committed() {
    let mut w = world();
    let o = run(
        &mut w,
        "zfs.sync.snapshot('tank/a@before')\nzfs.sync.set_prop('tank/a', 'label:x', 'v')\nerror('boom')",
    );
    assert_eq!(o.exit_code, 1);
    assert_eq!(o.errno, ECHRNG);
    assert_eq!(
        o.stderr,
        format!(
            "{FAILED}[string \"channel program\"]:3: boom\nstack traceback:\n\t[C]: in function 'error'\n\t[string \"channel program\"]:3: in main chunk\n"
        )
    );
    let p = w.pool("tank").unwrap();
    assert!(p.exists("tank/a@before"));
    assert_eq!(p.user_prop("tank/a", "label:x").unwrap().value, "v");
    // also after an assert and after multiple return values
    let o = run(&mut w, "zfs.sync.snapshot('tank/a@two'); return 1, 2");
    assert_eq!(
        o.stderr,
        format!("{FAILED}Multiple return values not supported\n")
    );
    assert!(w.pool("tank").unwrap().exists("tank/a@two"));
}

#[test]
fn instruction_limit_trips_at_the_same_count() {
    for limit in [1000u64, 10_000, 100_000] {
        let mut w = world();
        let mut r = req(
            "zfs.sync.snapshot('tank/a@s'); local i = 0; while true do i = i + 1 end",
            &[],
        );
        r.instr_limit = limit;
        let o = w.run_program(&r);
        assert_eq!(o.errno, ETIME);
        // the kernel's counter: +100 per hook, abort once above the limit
        let expected = (limit / 100 + 1) * 100;
        assert_eq!(o.instructions, expected);
        assert!(
            o.stderr.starts_with(&format!(
                "{FAILED}Channel program timed out.\nstack traceback:"
            )),
            "{}",
            o.stderr
        );
        assert!(
            o.stderr
                .ends_with(&format!("\n{expected} Lua instructions\n")),
            "{}",
            o.stderr
        );
        assert!(
            w.pool("tank").unwrap().exists("tank/a@s"),
            "committed before the timeout"
        );
    }
    // coroutines count too (the kernel's hook is inherited by new threads)
    let mut w = world();
    for script in [
        "local co = coroutine.wrap(function() while true do end end) co()",
        "local co = coroutine.create(function() while true do end end) coroutine.resume(co) while true do end",
    ] {
        let mut r = req(script, &[]);
        r.instr_limit = 2000;
        let o = w.run_program(&r);
        assert_eq!(o.errno, ETIME, "{script}: {}", o.stderr);
    }
    assert_eq!(
        ok(
            &mut w,
            "local t = {} for i = 1, 3 do t[i] = coroutine.wrap(function() coroutine.yield(i * 2) end)() end return t"
        ),
        r#"{"return":{"1":2,"2":4,"3":6}}"#
    );
    // a short program stays far below the default limit
    let mut w = world();
    let o = run(
        &mut w,
        "local n = 0 for i = 1, 1000 do n = n + i end return n",
    );
    assert_eq!(o.stdout, r#"{"return":500500}"#);
    assert!(
        o.instructions > 0 && o.instructions < 20_000,
        "{}",
        o.instructions
    );
}

#[test]
fn memory_limit_trips_with_enospc() {
    let mut w = world();
    let mut r = req(
        "local t = {} for i = 1, 100000 do t[i] = string.rep('x', 100) .. i end return #t",
        &[],
    );
    r.mem_limit = 1024 * 1024;
    let o = w.run_program(&r);
    assert_eq!(o.errno, ENOSPC);
    assert_eq!(o.stderr, format!("{FAILED}Memory limit exhausted.\n"));
    r.mem_limit = 100 * 1024 * 1024;
    assert_eq!(w.run_program(&r).stdout, r#"{"return":100000}"#);
}

#[test]
fn output_larger_than_memlimit_is_enomem() {
    let mut w = world();
    let mut r = req(
        "local s = string.rep('y', 1000) local t = {} for i = 1, 1000 do t['k' .. i] = s end return t",
        &[],
    );
    r.mem_limit = 512 * 1024;
    let o = w.run_program(&r);
    assert_eq!(o.errno, ENOMEM, "{}", o.stderr);
    assert_eq!(o.stderr, format!("{FAILED}Return value too large.\n"));
}

#[test]
fn octal_numbers_like_lcompat_strtoll() {
    let mut w = world();
    assert_eq!(
        ok(
            &mut w,
            "return {010, tonumber('010'), tonumber('08') == nil, '010' + 0, tonumber('0x10'), \
             tonumber('1.5') == nil, tonumber('1e3') == nil, tonumber('ff', 16), ' 7 ' * 2}"
        ),
        r#"{"return":{"1":8,"2":8,"3":true,"4":8,"5":16,"6":true,"7":true,"8":255,"9":14}}"#
    );
    let o = run(&mut w, "return 08");
    assert!(
        o.stderr.contains("malformed number near '08'"),
        "{}",
        o.stderr
    );
}

#[test]
fn division_is_floor_integer_division() {
    let mut w = world();
    assert_eq!(
        ok(
            &mut w,
            "local a, b = 7, -7 return {a/2, b/2, b%2, a%-2, 2*3, '9'/2}"
        ),
        r#"{"return":{"1":3,"2":-4,"3":1,"4":-1,"5":6,"6":4}}"#
    );
    let o = run(&mut w, "local z = 0\nreturn 1/z");
    assert_eq!(
        o.stderr,
        format!(
            "{FAILED}[string \"channel program\"]:2: attempt to divide by zero\nstack traceback:\n\t[string \"channel program\"]:2: in main chunk\n"
        )
    );
    assert!(
        run(&mut w, "local z = 0 return 1 % z")
            .stderr
            .contains("attempt to perform 'n%0'")
    );
    // int64 wrap-around
    assert_eq!(
        ok(&mut w, "return 9223372036854775807 + 1"),
        r#"{"return":-9223372036854775808}"#
    );
}

#[test]
fn sandbox_has_exactly_the_channel_program_globals() {
    let mut w = world();
    let present = [
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
        "coroutine.create",
        "coroutine.resume",
        "coroutine.running",
        "coroutine.status",
        "coroutine.wrap",
        "coroutine.yield",
        "string.byte",
        "string.char",
        "string.find",
        "string.format",
        "string.gmatch",
        "string.gsub",
        "string.len",
        "string.lower",
        "string.match",
        "string.rep",
        "string.reverse",
        "string.sub",
        "string.upper",
        "table.concat",
        "table.insert",
        "table.pack",
        "table.unpack",
        "table.remove",
        "table.sort",
        "zfs.exists",
        "zfs.get_prop",
        "zfs.debug",
        "zfs.list.snapshots",
        "zfs.sync.snapshot",
        "zfs.check.destroy",
    ];
    let absent = [
        "print",
        "pcall",
        "xpcall",
        "load",
        "loadstring",
        "loadfile",
        "dofile",
        "require",
        "unpack",
        "warn",
        "math",
        "os",
        "io",
        "debug",
        "package",
        "bit32",
        "utf8",
        "string.dump",
        "string.pack",
        "string.unpack",
        "string.packsize",
        "table.maxn",
        "table.move",
        "coroutine.close",
        "coroutine.isyieldable",
    ];
    let lookup = |name: &str| {
        let expr = name.replace('.', "\"][\"");
        format!("_G[\"{expr}\"]")
    };
    for name in present {
        let out = ok(
            &mut w,
            &format!("return type({}) == 'function'", lookup(name)),
        );
        assert_eq!(out, r#"{"return":true}"#, "{name} should be a function");
    }
    for name in absent {
        let (root, _) = name.split_once('.').unwrap_or((name, ""));
        let script = if root == name {
            format!("return _G['{name}'] == nil")
        } else {
            format!("return {} == nil", lookup(name))
        };
        assert_eq!(
            ok(&mut w, &script),
            r#"{"return":true}"#,
            "{name} should be absent"
        );
    }
    assert_eq!(ok(&mut w, "return _VERSION"), r#"{"return":"Lua 5.2"}"#);
    assert_eq!(
        ok(
            &mut w,
            "return {EAGAIN, EBUSY, EEXIST, ENOENT, E2BIG, ENOTSUP, EDQUOT}"
        ),
        r#"{"return":{"1":11,"2":16,"3":17,"4":2,"5":7,"6":95,"7":122}}"#
    );
    assert_eq!(ok(&mut w, "return ('abc'):upper()"), r#"{"return":"ABC"}"#);
    assert_eq!(
        ok(&mut w, "return ('%05d|%x|%s'):format(42, 255, 'z')"),
        r#"{"return":"00042|ff|z"}"#
    );
    let o = run(&mut w, "return string.format('%5.2f', 1)");
    assert!(
        o.stderr.starts_with(&format!(
            "{FAILED}[string \"channel program\"]:1: invalid option '%f' to 'format'"
        )),
        "{}",
        o.stderr
    );
}

#[test]
fn args_arrive_as_argv_table() {
    let mut w = world();
    let o = w.run_program(&req(
        "local a = ... return {#a.argv, a.argv[1], a.argv[2]}",
        &["x", "-y"],
    ));
    assert_eq!(o.stdout, r#"{"return":{"1":2,"2":"x","3":"-y"}}"#);
    let o = w.run_program(&req("local a = ... return #a.argv", &[]));
    assert_eq!(o.stdout, r#"{"return":0}"#);
}

#[test]
fn return_value_conversion_table() {
    let mut w = world();
    for (script, want) in [
        ("return", "{}"),
        ("local x = 1", "{}"),
        ("return nil", r#"{"return":true}"#),
        ("return false", r#"{"return":false}"#),
        ("return 'a\\n\"b'", r#"{"return":"a\n\"b"}"#),
        ("return {'a', 'b'}", r#"{"return":{"1":"a","2":"b"}}"#),
        ("return {[true] = 1}", r#"{"return":{"true":1}}"#),
        ("return {[2] = 'a', x = 1}", r#"{"return":{"2":"a","x":1}}"#),
        ("return {x = {y = {}}}", r#"{"return":{"x":{"y":{}}}}"#),
    ] {
        assert_eq!(ok(&mut w, script), want, "{script}");
    }
    for (script, msg) in [
        (
            "return {[1] = 'a', ['1'] = 'b'}",
            "Collision of key '1' in table",
        ),
        (
            "return {[true] = 1, ['true'] = 2}",
            "Collision of key 'true' in table",
        ),
        (
            "return {x = 1, [false] = 2, [true] = 3, ['y'] = 4, [5] = 5, ['5'] = 6}",
            "Collision of key '5' in table",
        ),
        ("return print", ""),
        (
            "return function() end",
            "Invalid value type 'function' for key 'return'",
        ),
        (
            "return {f = function() end}",
            "Invalid value type 'function' for key 'f'",
        ),
        (
            "local t = {} t.t = t return t",
            "Maximum table depth (20) exceeded for table",
        ),
        ("return {[{}] = 1}", "Invalid key type 'table' in table"),
    ] {
        let o = run(&mut w, script);
        if script == "return print" {
            // print is absent: nil → true
            assert_eq!(o.stdout, r#"{"return":true}"#);
            continue;
        }
        assert_eq!(o.stderr, format!("{FAILED}{msg}\n"), "{script}");
        assert_eq!(o.errno, ECHRNG);
    }
    // depth: 20 nested tables convert, 21 do not
    let nest = |n: usize| format!("local t = {{}} for i = 1, {n} do t = {{t}} end return t");
    assert_eq!(run(&mut w, &nest(19)).exit_code, 0);
    assert_eq!(run(&mut w, &nest(21)).errno, ECHRNG);
}

#[test]
fn holds_give_ebusy_and_defer_destroys_later() {
    let mut w = world();
    w.snapshot("tank/a@held").unwrap();
    w.hold("keep", "tank/a@held").unwrap();
    assert_eq!(
        ok(
            &mut w,
            "return {zfs.sync.destroy('tank/a@held'), zfs.get_prop('tank/a@held', 'userrefs')}"
        ),
        r#"{"return":{"1":16,"2":1}}"#
    );
    assert_eq!(
        ok(
            &mut w,
            "local e = zfs.sync.destroy{'tank/a@held', defer=true} \
            return {e, zfs.get_prop('tank/a@held', 'defer_destroy')}"
        ),
        r#"{"return":{"1":0,"2":"on"}}"#
    );
    assert!(w.pool("tank").unwrap().exists("tank/a@held"));
    w.release("keep", "tank/a@held").unwrap();
    assert!(!w.pool("tank").unwrap().exists("tank/a@held"));
    // holds iterator (2.0+)
    w.snapshot("tank/a@h2").unwrap();
    w.hold("t1", "tank/a@h2").unwrap();
    assert_eq!(
        ok(
            &mut w,
            "for tag, t in zfs.list.holds('tank/a@h2') do return {tag, t} end"
        ),
        r#"{"return":{"1":"t1","2":1700000000}}"#
    );
}

#[test]
fn clones_give_eexist_and_filesystems_with_snapshots_ebusy() {
    let mut w = world();
    w.snapshot("tank/a@origin").unwrap();
    w.clone_snapshot("tank/a@origin", "tank/c").unwrap();
    w.create_dataset("tank/vol", Some(1 << 20), false).unwrap();
    w.snapshot("tank/vol@s").unwrap();
    w.create_dataset("tank/vol2", Some(1 << 20), false).unwrap();
    assert_eq!(
        ok(
            &mut w,
            "return {zfs.sync.destroy('tank/a@origin'), zfs.sync.destroy('tank/vol'), \
            zfs.sync.destroy('tank/a'), zfs.sync.destroy('tank/vol2'), \
            zfs.get_prop('tank/a@origin', 'numclones')}"
        ),
        // clone → EEXIST; volume with a snapshot → EBUSY; mounted fs → EBUSY; free volume → 0
        r#"{"return":{"1":17,"2":16,"3":16,"4":0,"5":1}}"#
    );
    assert!(w.pool("tank").unwrap().ds("tank/vol2").is_none());
    // zcp_synctask_destroy: the kwarg is refused before the name is looked up (no EXDEV,
    // no ENOENT), even defer=false, with the position of the calling line.
    for name in ["tank/vol", "tank/missing", "other/fs"] {
        for defer in ["true", "false"] {
            let o = run(
                &mut w,
                &format!("local x = 1\nreturn zfs.sync.destroy{{'{name}', defer={defer}}}"),
            );
            assert_eq!(
                o.stderr.lines().take(2).collect::<Vec<_>>().join("\n"),
                format!(
                    "{FAILED}[string \"channel program\"]:2: 'deferred' kwarg only supported for snapshots: {name}"
                ),
                "{name} defer={defer}"
            );
        }
    }
    assert!(w.pool("tank").unwrap().ds("tank/vol").is_some());
}

/// First line of a failed program's message (the traceback follows it).
fn first_error_line(o: &ProgramOutcome) -> &str {
    o.stderr
        .strip_prefix(FAILED)
        .and_then(|r| r.lines().next())
        .unwrap_or(&o.stderr)
}

#[test]
fn fatal_zfs_errors_carry_the_callers_position() {
    let mut w = world();
    let at = |line: usize, msg: &str| format!("[string \"channel program\"]:{line}: {msg}");
    // (script, under -n, expected first line): luaL_error/luaL_argerror semantics, i.e. the
    // line of the Lua code calling the zfs function, tail calls and iterators included.
    let cases: Vec<(&str, bool, String)> = vec![
        (
            "local a = 1\nlocal v = zfs.get_prop('tank/missing', 'type')",
            false,
            at(
                2,
                "bad argument #1 to 'get_prop' (no such dataset 'tank/missing')",
            ),
        ),
        (
            "return zfs.get_prop('tank/a@missing', 'type')",
            false,
            at(
                1,
                "bad argument #1 to 'get_prop' (no such dataset 'tank/a@missing')",
            ),
        ),
        (
            "local n = 0\n\nfor c in zfs.list.children('tank/missing') do n = n + 1 end",
            false,
            at(
                3,
                "bad argument #1 to 'children' (no such dataset 'tank/missing')",
            ),
        ),
        (
            "return zfs.exists('otherpool/fs')",
            false,
            at(1, "dataset 'otherpool/fs' is not in the target pool"),
        ),
        (
            "local x = 1\nreturn zfs.get_prop('tank/a', 'nosuchprop')",
            false,
            at(2, "'nosuchprop' is not a valid property"),
        ),
        (
            "\nreturn zfs.sync.set_prop('tank/a', 'a:b', 3)",
            false,
            at(
                2,
                "arg 3 wrong type (is 'number', expected 'string'): \
                 set_prop{<dataset(string)>, <property(string)>, <value(string)>}",
            ),
        ),
        (
            "return zfs.sync.destroy{'tank/a@s', bogus=1}",
            false,
            at(
                1,
                "invalid kwarg 'bogus': destroy{<filesystem | snapshot(string)>, defer=(boolean)}",
            ),
        ),
        (
            "local x = 1\nx = x + 1\nreturn zfs.sync.snapshot('tank/a@s')",
            true,
            at(
                3,
                "running functions from the zfs.sync submodule requires passing sync=TRUE to \
                 lzc_channel_program() (i.e. do not specify the \"-n\" command line argument)",
            ),
        ),
        (
            "local s = 'x'\ns = string.format('%d', 'zz')",
            false,
            at(
                2,
                "bad argument #2 to 'format' (number expected, got string)",
            ),
        ),
        (
            "local s = 'x'\ns = ('%g'):format(1)",
            false,
            at(2, "invalid option '%g' to 'format'"),
        ),
    ];
    for (script, dry, want) in cases {
        let o = if dry {
            run_n(&mut w, script)
        } else {
            run(&mut w, script)
        };
        assert_eq!(o.exit_code, 1, "{script}");
        assert_eq!(first_error_line(&o), want, "{script}");
    }
    // Errors outside any zfs call keep their own shape: no position for return conversion.
    let o = run(&mut w, "return function() end");
    assert_eq!(
        first_error_line(&o),
        "Invalid value type 'function' for key 'return'"
    );
}

#[test]
fn create_o_sets_native_properties_and_compression_default_follows_the_release() {
    let both = "local v, s = zfs.get_prop(..., 'compression') return {v, s}";
    let get = |w: &mut World, ds: &str| {
        w.run_program(&req(&both.replace("...", &format!("'{ds}'")), &[]))
            .stdout
    };
    // compression=on by default from 2.2, off before (2.1.11 records off).
    for (v, want) in [("2.3.2", "on"), ("2.2.0", "on"), ("2.1.11", "off")] {
        let mut w = world_v(v);
        assert_eq!(
            get(&mut w, "tank/a"),
            format!(r#"{{"return":{{"1":"{want}","2":"default"}}}}"#),
            "{v}"
        );
    }
    let mut w = world();
    assert_eq!(zfs(&mut w, "create -o compression=off tank/a/c").0, 0);
    assert_eq!(
        zfs(&mut w, "create -V 1M -o compression=lz4 tank/a/c/v").0,
        0
    );
    assert_eq!(zfs(&mut w, "create tank/a/c/d").0, 0);
    assert_eq!(
        get(&mut w, "tank/a/c"),
        r#"{"return":{"1":"off","2":"tank/a/c"}}"#
    );
    assert_eq!(
        get(&mut w, "tank/a/c/v"),
        r#"{"return":{"1":"lz4","2":"tank/a/c/v"}}"#
    );
    assert_eq!(
        get(&mut w, "tank/a/c/d"),
        r#"{"return":{"1":"off","2":"tank/a/c"}}"#
    );
    assert_eq!(
        zfs(&mut w, "get -H -o value,source compression tank/a/c/d").1,
        "off\tinherited from tank/a/c\n"
    );
    // a bad value or an unmodelled property creates nothing
    for line in [
        "create -o compression=bogus tank/a/x",
        "create -o recordsize=8K tank/a/x",
        "create -V 1M -o mountpoint=/m tank/a/x",
    ] {
        assert_eq!(zfs(&mut w, line).0, 1, "{line}");
        assert!(w.pool("tank").unwrap().ds("tank/a/x").is_none(), "{line}");
    }
    assert_eq!(zfs(&mut w, "set compression=gzip-9 tank/a/c/d").0, 0);
    assert_eq!(
        get(&mut w, "tank/a/c/d"),
        r#"{"return":{"1":"gzip-9","2":"tank/a/c/d"}}"#
    );
    // A bad value: `zfs set` exits 255 from 2.2 on, 1 before (conformance case 350).
    assert_eq!(zfs(&mut w, "set compression=gzip-10 tank/a/c/d").0, 255);
    let mut old = world_v("2.1.11");
    assert_eq!(zfs(&mut old, "set compression=gzip-10 tank/a").0, 1);
}

#[test]
fn mountpoint_none_and_canmount_off_leave_filesystems_unmounted() {
    let mut w = world();
    for line in [
        "create -o mountpoint=none tank/p",
        "create tank/p/leaf",
        "create tank/p/parent",
        "create tank/p/parent/kid",
        "create -o canmount=off tank/off",
        "create -o canmount=noauto tank/noauto",
        "create -o mountpoint=/srv/m tank/m",
        "create tank/m/sub",
        "create -V 1M tank/p/vol",
    ] {
        assert_eq!(zfs(&mut w, line).0, 0, "{line}");
    }
    let mounted = |w: &mut World, ds: &str| zfs(w, &format!("get -H -o value mounted {ds}")).1;
    assert_eq!(mounted(&mut w, "tank/p/leaf"), "no\n");
    assert_eq!(mounted(&mut w, "tank/off"), "no\n");
    assert_eq!(mounted(&mut w, "tank/noauto"), "no\n");
    assert_eq!(mounted(&mut w, "tank/m/sub"), "yes\n");
    assert_eq!(
        zfs(&mut w, "get -H -o value,source mountpoint tank/m/sub").1,
        "/srv/m/sub\tinherited from tank/m\n"
    );
    assert_eq!(
        ok(
            &mut w,
            "local r = {zfs.sync.destroy('tank/p/leaf'), zfs.sync.destroy('tank/p/parent'), \
             zfs.sync.destroy('tank/off'), zfs.sync.destroy('tank/noauto'), \
             zfs.sync.destroy('tank/m/sub'), zfs.sync.destroy('tank/p/vol')} \
             return table.concat(r, ' ')"
        ),
        // leaf, parent, off, noauto, sub, vol: unmounted leaf 0, parent with children
        // EEXIST (not EBUSY), mounted EBUSY, volumes are never mounted
        r#"{"return":"0 17 0 0 16 0"}"#
    );
    // mounting again: an inherited path makes the kid mounted (EBUSY) once more
    assert_eq!(zfs(&mut w, "set mountpoint=/p tank/p").0, 0);
    assert_eq!(mounted(&mut w, "tank/p/parent/kid"), "yes\n");
    assert_eq!(
        ok(&mut w, "return zfs.sync.destroy('tank/p/parent/kid')"),
        r#"{"return":16}"#
    );
    assert_eq!(zfs(&mut w, "set mountpoint=legacy tank/p").0, 0);
    assert_eq!(
        ok(&mut w, "return zfs.sync.destroy('tank/p/parent/kid')"),
        r#"{"return":0}"#
    );
}

#[test]
fn missing_snapshot_destroy_returns_zero() {
    let mut w = world();
    assert_eq!(
        ok(
            &mut w,
            "return {zfs.sync.destroy('tank/a@nope'), zfs.sync.destroy('tank/zz@nope'), \
            zfs.sync.destroy('tank/zz'), zfs.sync.destroy('other/x@s')}"
        ),
        r#"{"return":{"1":0,"2":0,"3":2,"4":18}}"#
    );
}

#[test]
fn get_prop_zero_values_and_sources() {
    let mut w = world();
    w.create_dataset("tank/a/b", None, false).unwrap();
    w.snapshot("tank/a/b@s").unwrap();
    assert_eq!(
        ok(
            &mut w,
            "return select('#', zfs.get_prop('tank/a', 'label:running'))"
        ),
        r#"{"return":0}"#
    );
    assert_eq!(
        ok(&mut w, "return zfs.get_prop('tank/a', 'label:running')"),
        "{}"
    );
    w.set_user_prop("tank/a", "label:running", "node1").unwrap();
    let both = "local v, s = zfs.get_prop(..., 'label:running') return {v, s}";
    let get = |w: &mut World, ds: &str| {
        w.run_program(&req(&both.replace("...", &format!("'{ds}'")), &[]))
            .stdout
    };
    assert_eq!(
        get(&mut w, "tank/a"),
        r#"{"return":{"1":"node1","2":"tank/a"}}"#
    );
    assert_eq!(
        get(&mut w, "tank/a/b"),
        r#"{"return":{"1":"node1","2":"tank/a"}}"#
    );
    w.set_received_prop("tank/a/b", "label:running", "node2")
        .unwrap();
    assert_eq!(
        get(&mut w, "tank/a/b"),
        r#"{"return":{"1":"node2","2":"$recvd"}}"#
    );
    assert_eq!(
        get(&mut w, "tank/a/b@s"),
        r#"{"return":{"1":"node2","2":"tank/a/b"}}"#
    );
    ok(
        &mut w,
        "zfs.sync.set_prop('tank/a/b@s', 'label:running', 'snap')",
    );
    assert_eq!(
        get(&mut w, "tank/a/b@s"),
        r#"{"return":{"1":"snap","2":"tank/a/b@s"}}"#
    );
    // native: read-only ones have no source; numbers are integers
    assert_eq!(
        ok(
            &mut w,
            "local v, s = zfs.get_prop('tank/a/b@s', 'createtxg') \
            local t = zfs.get_prop('tank/a/b@s', 'type') return {type(v), s == nil, t}"
        ),
        r#"{"return":{"1":"number","2":true,"3":"snapshot"}}"#
    );
    assert_eq!(
        ok(
            &mut w,
            "return select('#', zfs.get_prop('tank/a', 'origin'))"
        ),
        r#"{"return":0}"#
    );
    // fatal: missing dataset, other pool, unknown property
    let o = run(&mut w, "return zfs.get_prop('tank/none', 'createtxg')");
    assert!(
        o.stderr
            .contains("bad argument #1 to 'get_prop' (no such dataset 'tank/none')"),
        "{}",
        o.stderr
    );
    assert!(
        run(&mut w, "return zfs.get_prop('x/y', 'guid')")
            .stderr
            .contains("not in the target pool 'tank'")
    );
    assert!(
        run(&mut w, "return zfs.get_prop('tank/a', 'bogus')")
            .stderr
            .contains("'bogus' is not a valid property")
    );
    // set_prop: user properties and strings only
    assert_eq!(
        ok(
            &mut w,
            "return zfs.sync.set_prop('tank/a', 'mountpoint', '/x')"
        ),
        r#"{"return":22}"#
    );
    assert!(
        run(&mut w, "return zfs.sync.set_prop('tank/a', 'a:b', 5)")
            .stderr
            .contains("arg 3 wrong type (is 'number', expected 'string')")
    );
}

#[test]
fn list_order_is_shuffled() {
    let mut orders = std::collections::BTreeSet::new();
    for seed in 1..=6 {
        let mut w = world();
        w.set_seed(seed);
        for i in 0..8 {
            w.snapshot(&format!("tank/a@s{i}")).unwrap();
        }
        let out = ok(
            &mut w,
            "local r = {} for s in zfs.list.snapshots('tank/a') do r[#r + 1] = s end \
             return table.concat(r, ',')",
        );
        assert_eq!(out.matches("tank/a@s").count(), 8);
        orders.insert(out);
    }
    assert!(
        orders.len() >= 4,
        "shuffle should vary with the seed: {orders:?}"
    );
    let sorted = format!(
        r#"{{"return":"{}"}}"#,
        (0..8)
            .map(|i| format!("tank/a@s{i}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(orders.iter().any(|o| *o != sorted));
    // same seed, same order
    let mut a = world();
    let mut b = world();
    for w in [&mut a, &mut b] {
        for i in 0..8 {
            w.snapshot(&format!("tank/a@s{i}")).unwrap();
        }
    }
    let script = "local r = {} for s in zfs.list.snapshots('tank/a') do r[#r + 1] = s end return table.concat(r, ',')";
    assert_eq!(ok(&mut a, script), ok(&mut b, script));
}

#[test]
fn system_properties_is_a_table_and_iterators_are_fatal_on_missing() {
    let mut w = world();
    assert_eq!(
        ok(&mut w, "return type(zfs.list.system_properties('tank/a'))"),
        r#"{"return":"table"}"#
    );
    let o = run(&mut w, "for c in zfs.list.children('tank/nope') do end");
    assert!(
        o.stderr.contains("no such dataset 'tank/nope'"),
        "{}",
        o.stderr
    );
    w.create_dataset("tank/a/k", None, false).unwrap();
    w.set_user_prop("tank/a", "x:y", "1").unwrap();
    assert_eq!(
        ok(
            &mut w,
            "local r = {} for c in zfs.list.children('tank/a') do r[#r+1] = c end \
            for k, v, s in zfs.list.user_properties('tank/a/k') do r[#r+1] = k .. '=' .. v .. '@' .. s end return r"
        ),
        r#"{"return":{"1":"tank/a/k","2":"x:y=1@tank/a"}}"#
    );
}

#[test]
fn dry_run_makes_sync_fatal_and_keeps_the_txg() {
    let mut w = world();
    let before = w.txg;
    let o = run_n(&mut w, "return zfs.sync.snapshot('tank/a@s')");
    assert_eq!(o.errno, ECHRNG);
    assert!(
        o.stderr
            .contains("running functions from the zfs.sync submodule requires passing sync=TRUE"),
        "{}",
        o.stderr
    );
    assert_eq!(w.txg, before);
    assert!(!w.pool("tank").unwrap().exists("tank/a@s"));
    // checks work under -n, but snapshot checks are weaker (no EEXIST)
    w.snapshot("tank/a@e").unwrap();
    let o = run_n(
        &mut w,
        "return {zfs.check.snapshot('tank/a@e'), zfs.check.snapshot('tank/zz@e'), zfs.check.destroy('tank/a@e')}",
    );
    assert_eq!(o.stdout, r#"{"return":{"1":0,"2":2,"3":0}}"#);
    assert!(
        w.pool("tank").unwrap().exists("tank/a@e"),
        "check does not destroy"
    );
}

#[test]
fn kernel_panic_cases_are_loud() {
    let mut w = world();
    let o = run(&mut w, "zfs.sync.snapshot('tank/a@')");
    assert_eq!(o.exit_code, EXIT_PANIC);
    assert!(
        o.stderr
            .starts_with("EMULATOR: this would panic the kernel:"),
        "{}",
        o.stderr
    );
    assert_eq!(
        ok(&mut w, "return zfs.check.snapshot('tank/a@')"),
        r#"{"return":0}"#
    );
    let o = run(&mut w, "zfs.sync.inherit('tank/missing', 'label:running')");
    assert_eq!(o.exit_code, EXIT_PANIC);
    assert_eq!(
        ok(
            &mut w,
            "return zfs.check.inherit('tank/missing', 'label:running')"
        ),
        r#"{"return":0}"#
    );
}

#[test]
fn power_operator_is_refused_by_the_pre_pass() {
    let mut w = world();
    // Lua 5.4 computes `^` as a float; the emulator refuses it rather than deviate
    let o = run(&mut w, "return zfs.exists(string.len('x') * (2^1))");
    assert_eq!(
        o.errno, EINVAL,
        "^ is refused by the pre-pass: {}",
        o.stderr
    );
    assert!(o.stderr.contains("EMULATOR:"));
}

#[test]
fn version_gating() {
    let probe = "return {zfs.sync.bookmark ~= nil, zfs.sync.set_prop ~= nil, zfs.sync.inherit ~= nil, \
        zfs.list.bookmarks ~= nil, zfs.list.holds ~= nil, zfs.list.user_properties ~= nil, \
        zfs.sync.rename_snapshot ~= nil, zfs.sync.clone ~= nil, zfs.check.clone ~= nil, \
        zfs.list.properties ~= nil, zfs.sync.snapshot ~= nil}";
    for (v, want) in [
        (
            "0.8.6",
            "false,false,false,false,false,false,false,false,false,true,true",
        ),
        (
            "2.0.0",
            "true,true,true,true,true,true,false,false,false,true,true",
        ),
        (
            "2.1.11",
            "true,true,true,true,true,true,false,false,false,true,true",
        ),
        (
            "2.2.0",
            "true,true,true,true,true,true,true,false,false,true,true",
        ),
        (
            "2.4.1",
            "true,true,true,true,true,true,true,true,true,true,true",
        ),
    ] {
        let mut w = world_v(v);
        let out = ok(&mut w, probe);
        let got: Vec<&str> = (1..=11)
            .map(|i| {
                let key = format!("\"{i}\":");
                let start = out.find(&key).unwrap() + key.len();
                let rest = &out[start..];
                &rest[..rest.find([',', '}']).unwrap()]
            })
            .collect();
        assert_eq!(got.join(","), want, "version {v}");
    }
    let mut w = world_v("2.2.0");
    w.snapshot("tank/a@old").unwrap();
    assert_eq!(
        ok(
            &mut w,
            "return zfs.sync.rename_snapshot('tank/a', 'old', 'new')"
        ),
        r#"{"return":0}"#
    );
    assert!(w.pool("tank").unwrap().exists("tank/a@new"));
}

#[test]
fn nesting_limit_is_a_syntax_error() {
    let mut w = world();
    let src = format!("x = 'a'{}\nreturn x", " .. 'a'".repeat(25));
    let o = run(&mut w, &src);
    assert_eq!(o.errno, EINVAL);
    assert!(o.stderr.contains("too many C levels"), "{}", o.stderr);
    let src = format!("return 'a'{}", " .. 'a'".repeat(8));
    assert_eq!(ok(&mut w, &src), r#"{"return":"aaaaaaaaa"}"#);
}

// ---------------------------------------------------------------- CLI

#[test]
fn cli_program_options_and_validation() {
    let mut w = world();
    let r = zfs_stdin(
        &mut w,
        "program -j -n -t 10000000 -m 10485760 -- tank - -x y",
        "local a = ... return a.argv",
    );
    assert_eq!(
        r,
        (0, r#"{"return":{"1":"-x","2":"y"}}"#.into(), String::new())
    );
    let inval = format!("{FAILED}Invalid instruction or memory limit.\n");
    for opts in ["-t 0", "-m 0", "-t 100000001", "-m 104857601"] {
        let r = zfs_stdin(&mut w, &format!("program {opts} tank -"), "return 1");
        assert_eq!((r.0, r.2.as_str()), (1, inval.as_str()), "{opts}");
    }
    assert_eq!(
        zfs_stdin(&mut w, "program -t 0x10 -j tank -", "return 1").1,
        r#"{"return":1}"#
    );
    for bad in [
        "program -t abc tank -",
        "program tank",
        "program -q tank -",
        "program -t",
    ] {
        assert_eq!(zfs_stdin(&mut w, bad, "return 1").0, 2, "{bad}");
    }
    let r = zfs_stdin(&mut w, "program -j nope -", "return 1");
    assert_eq!(r.0, 1);
    assert!(r.2.ends_with("cannot open pool 'nope'\n"));
    let r = zfs_stdin(&mut w, "program -j tank/a -", "return 1");
    assert!(r.2.ends_with("cannot open pool 'tank/a'\n"));
    // --json only from 2.3
    assert_eq!(zfs_stdin(&mut w, "program --json tank -", "return 1").0, 0);
    let mut old = world_v("2.1.11");
    assert_eq!(
        zfs_stdin(&mut old, "program --json tank -", "return 1").0,
        2
    );
    // without -j
    assert_eq!(
        zfs_stdin(&mut w, "program tank -", "return").1,
        "Channel program fully executed and did not produce output.\n"
    );
    assert!(
        zfs_stdin(&mut w, "program tank -", "return 5")
            .1
            .starts_with("Channel program fully executed and produced output:\n")
    );
}

#[test]
fn cli_version_get_list_destroy() {
    let mut w = world_v("2.1.11");
    assert_eq!(
        zfs(&mut w, "version").1,
        "zfs-2.1.11-1\nzfs-kmod-2.1.11-1\n"
    );
    assert_eq!(zfs(&mut w, "create -p tank/vm/disk").0, 0);
    assert_eq!(zfs(&mut w, "create -s -V 1G tank/vm/vol").0, 0);
    assert_eq!(zfs(&mut w, "create tank/x/y").0, 1);
    assert_eq!(zfs(&mut w, "set label:running=n1 tank/vm").0, 0);
    assert_eq!(
        zfs(&mut w, "set --received label:nosnap=nosnap tank/vm/disk").0,
        0
    );
    let r = zfs(
        &mut w,
        "get -H -p -o name,property,value,source label:running,label:nosnap tank/vm tank/vm/disk",
    );
    assert_eq!(
        r.1,
        "tank/vm\tlabel:running\tn1\tlocal\ntank/vm\tlabel:nosnap\t-\t-\n\
         tank/vm/disk\tlabel:running\tn1\tinherited from tank/vm\ntank/vm/disk\tlabel:nosnap\tnosnap\treceived\n"
    );
    w.set_clock(1_700_000_100);
    assert_eq!(zfs(&mut w, "snapshot tank/vm/disk@a tank/vm/vol@a").0, 0);
    assert_eq!(zfs(&mut w, "snapshot tank/vm/disk@a").0, 1);
    assert_eq!(zfs(&mut w, "bookmark tank/vm/disk@a tank/vm/disk#a").0, 0);
    let r = zfs(
        &mut w,
        "list -H -p -o name,creation,type -t snapshot,bookmark -r tank/vm",
    );
    assert_eq!(
        r.1,
        "tank/vm/disk@a\t1700000100\tsnapshot\ntank/vm/disk#a\t1700000100\tbookmark\ntank/vm/vol@a\t1700000100\tsnapshot\n"
    );
    let r = zfs(&mut w, "list -H -o name -t snapshot tank/vm/disk");
    assert_eq!(r.1, "tank/vm/disk@a\n");
    let r = zfs(&mut w, "list -H -o name,volsize -t volume");
    assert_eq!(r.1, "tank/vm/vol\t1073741824\n");
    let r = zfs(
        &mut w,
        "list -H -o name -s createtxg -t filesystem tank/nope",
    );
    assert_eq!(
        (r.0, r.2.as_str()),
        (1, "cannot open 'tank/nope': dataset does not exist\n")
    );
    let r = zfs(&mut w, "list -H -o name -S name -r tank/vm");
    assert_eq!(r.1, "tank/vm/vol\ntank/vm/disk\ntank/vm\n");
    // destroy: non-recursive, like real zfs
    assert_eq!(zfs(&mut w, "destroy tank/vm/disk").0, 1);
    assert_eq!(zfs(&mut w, "hold keep tank/vm/disk@a").0, 0);
    assert_eq!(zfs(&mut w, "destroy tank/vm/disk@a").0, 1);
    assert_eq!(zfs(&mut w, "release keep tank/vm/disk@a").0, 0);
    assert_eq!(zfs(&mut w, "destroy tank/vm/disk@a").0, 0);
    assert_eq!(zfs(&mut w, "destroy tank/vm/disk#a").0, 0);
    assert_eq!(zfs(&mut w, "destroy tank/vm/disk").0, 0);
    assert_eq!(zfs(&mut w, "destroy tank/vm/disk").0, 1);
}

#[test]
fn state_file_round_trip_and_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let env = state::EmuEnv {
        version: Some("2.1.11".parse().unwrap()),
        now: Some(1_700_000_000),
        seed: Some(1),
        faults: None,
    };
    let sv = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    let r = state::run_with_state(&path, &env, "zpool", &sv("create tank /dev/vdb"), "").unwrap();
    assert_eq!(r.0, 0);
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let path = path.clone();
            let env = env.clone();
            std::thread::spawn(move || {
                for i in 0..15 {
                    let args = sv(&format!("create tank/t{t}x{i}"));
                    let r = state::run_with_state(&path, &env, "zfs", &args, "").unwrap();
                    assert_eq!(r.0, 0, "{r:?}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let r = state::run_with_state(
        &path,
        &state::EmuEnv::default(),
        "zfs",
        &sv("list -H -o name -t filesystem"),
        "",
    )
    .unwrap();
    assert_eq!(r.1.lines().count(), 31, "no lost updates:\n{}", r.1);
    let r =
        state::run_with_state(&path, &state::EmuEnv::default(), "zfs", &sv("version"), "").unwrap();
    assert_eq!(
        r.1, "zfs-2.1.11-1\nzfs-kmod-2.1.11-1\n",
        "version persisted"
    );
    // a JSON round trip keeps the world
    let w: World = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let again = serde_json::to_string(&w).unwrap();
    let w2: World = serde_json::from_str(&again).unwrap();
    assert_eq!(serde_json::to_string(&w2).unwrap(), again);
    assert_eq!(w.pools["tank"].datasets.len(), 31);
}

// ------------------------------------------------------------ the reused Lua state
//
// One Lua state per thread and release runs every program (`lua::Runtime`); these compare
// it with a fresh state per program, which is what the kernel does.

/// Runs `script` in a fresh state (the thread's cached states dropped first).
fn run_fresh(w: &mut World, r: &ProgramRequest) -> ProgramOutcome {
    lua::forget_states();
    w.run_program(r)
}

/// Runs some unrelated programs first, so the reused state has history.
fn warm_up(w: &mut World) {
    for i in 0..30 {
        let o = run(
            w,
            &format!(
                "local t = {{}} for i = 1, {} do t[i] = string.rep('y', 50) .. i end
                 warm = {i} return #t",
                100 * i
            ),
        );
        assert_eq!(o.exit_code, 0, "{}", o.stderr);
    }
}

#[test]
fn a_reused_state_shows_each_program_a_pristine_sandbox() {
    // Everything a program could leave behind: globals, library tables, the zfs table, the
    // string metatable (its arithmetic, its __index, a metatable of its own).
    let script = r#"
        local seen = {
          x = tostring(x), warm = tostring(warm), g = tostring(_G.y),
          foo = tostring(string.foo), insert = type(table.insert), list = type(zfs.list),
          create = type(coroutine.create), add = tostring("5" + 1), upper = ("a"):upper(),
          tn = tostring(tonumber("010")), G = tostring(_G == _ENV),
        }
        x = 1; _G.y = 2; string.foo = 3; table.insert = nil; zfs.list = nil
        coroutine.create = nil; tonumber = nil
        local smt = getmetatable("")
        smt.__add = nil; smt.__index = {}; setmetatable(smt, { __index = function() return 9 end })
        return seen"#;
    let want = r#"{"return":{"add":"6","create":"function","foo":"nil","g":"nil","G":"true","insert":"function","list":"table","tn":"8","upper":"A","warm":"nil","x":"nil"}}"#;
    let sorted = |s: &str| {
        let v: serde_json::Value = serde_json::from_str(s).unwrap();
        v.to_string()
    };
    let mut w = world();
    let fresh = run_fresh(&mut w, &req(script, &[]));
    assert_eq!(sorted(&fresh.stdout), sorted(want), "{}", fresh.stderr);
    warm_up(&mut w);
    for _ in 0..3 {
        let again = run(&mut w, script);
        assert_eq!(sorted(&again.stdout), sorted(want), "{}", again.stderr);
    }
    // A different program after it sees the same.
    assert_eq!(
        sorted(&ok(
            &mut w,
            "return {x = tostring(x), n = '2' * 3, s = ('b'):rep(2)}"
        )),
        sorted(r#"{"return":{"n":6,"s":"bb","x":"nil"}}"#)
    );
}

#[test]
fn a_reused_state_trips_the_instruction_limit_at_the_same_count() {
    let looping = "local i = 0; while true do i = i + 1 end";
    for limit in [1000u64, 5000, 123_456] {
        let mut r = req(looping, &[]);
        r.instr_limit = limit;
        let mut w = world();
        let fresh = run_fresh(&mut w, &r);
        warm_up(&mut w);
        let reused: Vec<ProgramOutcome> = (0..3).map(|_| w.run_program(&r)).collect();
        for o in &reused {
            assert_eq!(o.errno, ETIME);
            assert_eq!(o.instructions, fresh.instructions, "limit {limit}");
            assert_eq!(o.stderr, fresh.stderr);
        }
    }
}

/// The largest `n` (by bisection) for which `script` with argv `n` fits in `mem_limit`: in a
/// fresh state each time, or in the reused state after runs of the same script that fit and
/// that do not.
fn largest_fitting(w: &mut World, mem_limit: u64, fresh: bool, script: &str) -> u64 {
    let run_with = |w: &mut World, n: u64, fresh: bool| {
        let arg = n.to_string();
        let mut r = req(script, &[&arg]);
        r.mem_limit = mem_limit;
        let o = if fresh {
            run_fresh(w, &r)
        } else {
            w.run_program(&r)
        };
        match o.errno {
            0 => true,
            ENOSPC => false,
            e => panic!("errno {e}: {}", o.stderr),
        }
    };
    let (mut lo, mut hi) = (0u64, 4_000_000u64);
    while lo + 1 < hi {
        let mid = (lo + hi) / 2;
        if !fresh {
            warm_up(w);
            run_with(w, hi * 2, false);
            run_with(w, mid / 2, false);
        }
        if run_with(w, mid, fresh) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

#[test]
fn a_reused_state_trips_the_memory_limit_at_the_same_count() {
    // Strings of ~100 bytes and the table holding them; one string grown byte by byte.
    let many = "local a = ... local n = tonumber(a.argv[1]) local t = {}
        for i = 1, n do t[i] = string.rep('x', 100) .. i end return #t";
    let long = "local a = ... local s = string.rep('x', tonumber(a.argv[1])) return #s";
    for (mem_limit, script) in [(1 << 20, many), (3 << 20, many), (1 << 20, long)] {
        let mut w = world();
        let fresh = largest_fitting(&mut w, mem_limit, true, script);
        let reused = largest_fitting(&mut w, mem_limit, false, script);
        assert!(fresh > 1000 && fresh < 2_000_000, "{fresh}");
        // Known deviation: interpreter structures a fresh state grows during its first run
        // (and keeps) give later runs up to ~2.6 KB more room; never less room than fresh.
        let bytes_per_step = if script == long { 1 } else { 130 };
        assert!(
            reused >= fresh && (reused - fresh) * bytes_per_step <= 3 * 1024,
            "-m {mem_limit}: fresh {fresh}, reused {reused}: {script}"
        );
    }
    // What a program sees of its memory is the fresh state's figure too.
    let count = "collectgarbage() local k, b = collectgarbage('count') return k * 1024 + b";
    let mut w = world();
    let fresh = run_fresh(&mut w, &req(count, &[]));
    for _ in 0..5 {
        ok(&mut w, count);
    }
    let reused = run(&mut w, count);
    let n = |o: &ProgramOutcome| -> i64 {
        let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
        v["return"].as_i64().unwrap()
    };
    assert!(n(&fresh) > 1000, "{}", fresh.stdout);
    assert!(
        n(&reused).abs_diff(n(&fresh)) <= 3 * 1024,
        "fresh {} reused {}",
        n(&fresh),
        n(&reused)
    );
}

/// A program leaving garbage that needs two collections (the first finalizes the list
/// iterators, Rust callbacks), then reporting its memory after collecting.
const FINALIZED_GARBAGE: &str = "
    local n = 0
    for i = 1, 20 do
      for c in zfs.list.children('tank') do n = n + 1 end
      for s in zfs.list.snapshots('tank/a') do n = n + 1 end
    end
    collectgarbage() collectgarbage()
    local k, b = collectgarbage('count') return k * 1024 + b";

fn collections() -> u64 {
    lua::COLLECTIONS.with(|c| c.get())
}

#[test]
fn a_reused_state_settles_in_two_collections_after_finalized_garbage() {
    let mut w = world();
    let count = |o: &ProgramOutcome| -> i64 {
        assert_eq!(o.exit_code, 0, "{}", o.stderr);
        let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
        v["return"].as_i64().unwrap()
    };
    let fresh = count(&run_fresh(&mut w, &req(FINALIZED_GARBAGE, &[])));
    // The first runs grow interpreter structures the state keeps (see the deviation above).
    for _ in 0..3 {
        count(&run(&mut w, FINALIZED_GARBAGE));
    }
    let first = count(&run(&mut w, FINALIZED_GARBAGE));
    for _ in 0..5 {
        let before = collections();
        let again = count(&run(&mut w, FINALIZED_GARBAGE));
        let used = collections() - before;
        // Falls twice (garbage, then what the first collection finalized); the count back at
        // the last settled figure needs no third collection to confirm it.
        assert_eq!(used, 2, "collections before one run");
        // Settled exactly as the full loop would: the program sees the same figure.
        assert_eq!(again, first);
    }
    assert!(
        first.abs_diff(fresh) <= 3 * 1024,
        "fresh {fresh} reused {first}"
    );
}

// ------------------------------------------------------------ snapshots_changed (2.2+)
//
// Kernel facts (conformance case 099, 2.3.2 and 2.1.11): 0 on a fresh dataset; every change
// of the snapshot list sets it to the change's time, visible at once in the same program;
// bookmarks, set_prop, holds, clones, rollback and a deferred destroy's marking do not;
// promote bumps the origin's head only; nothing on a snapshot name; unknown to 2.1.

/// `snapshots_changed` of `name` read by a channel program (`None`: no value returned).
fn snapshots_changed(w: &mut World, name: &str) -> Option<i64> {
    let out = ok(
        w,
        &format!(
            "local n = select('#', zfs.get_prop('{name}', 'snapshots_changed')) \
             if n == 0 then return 'none' end return (zfs.get_prop('{name}', 'snapshots_changed'))"
        ),
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    match &v["return"] {
        serde_json::Value::String(s) if s == "none" => None,
        r => Some(r.as_i64().unwrap_or_else(|| panic!("an integer: {out}"))),
    }
}

#[test]
fn snapshots_changed_create_bumps_to_the_stamp_time() {
    let mut w = world();
    assert_eq!(
        snapshots_changed(&mut w, "tank/a"),
        Some(0),
        "fresh dataset"
    );
    w.set_clock(1_700_000_050);
    // ZCP: visible in the same program, equal to the new snapshot's creation
    let out = ok(
        &mut w,
        "local e = zfs.sync.snapshot('tank/a@s') \
         return {e, zfs.get_prop('tank/a', 'snapshots_changed'), zfs.get_prop('tank/a@s', 'creation')}",
    );
    assert_eq!(out, r#"{"return":{"1":0,"2":1700000050,"3":1700000050}}"#);
    // CLI, two datasets in one call; the parent is not touched
    assert_eq!(zfs(&mut w, "create tank/b").0, 0);
    w.set_clock(1_700_000_060);
    assert_eq!(zfs(&mut w, "snapshot tank/a@t tank/b@t").0, 0);
    assert_eq!(snapshots_changed(&mut w, "tank/a"), Some(1_700_000_060));
    assert_eq!(snapshots_changed(&mut w, "tank/b"), Some(1_700_000_060));
    assert_eq!(snapshots_changed(&mut w, "tank"), Some(0));
    assert_eq!(
        snapshots_changed(&mut w, "tank/a@t"),
        None,
        "not for snapshots"
    );
    // a failed snapshot (EEXIST) changes nothing
    w.set_clock(1_700_000_070);
    assert_eq!(
        ok(&mut w, "return zfs.sync.snapshot('tank/a@t')"),
        r#"{"return":17}"#
    );
    assert_eq!(snapshots_changed(&mut w, "tank/a"), Some(1_700_000_060));
    let r = zfs(&mut w, "get -H -p -o value snapshots_changed tank/a tank");
    assert_eq!(r.1, "1700000060\n-\n", "CLI: parsable seconds, 0 is '-'");
}

#[test]
fn snapshots_changed_destroy_bumps_including_deferred_rename_and_promote() {
    let mut w = world();
    for (t, s) in [(10, "a@s1"), (11, "a@s2"), (12, "a@s3"), (13, "a@s4")] {
        w.set_clock(1_700_000_000 + t);
        assert_eq!(zfs(&mut w, &format!("snapshot tank/{s}")).0, 0);
    }
    w.set_clock(1_700_000_020);
    assert_eq!(
        ok(&mut w, "return zfs.sync.destroy('tank/a@s1')"),
        r#"{"return":0}"#
    );
    assert_eq!(
        snapshots_changed(&mut w, "tank/a"),
        Some(1_700_000_020),
        "ZCP destroy"
    );
    w.set_clock(1_700_000_021);
    assert_eq!(zfs(&mut w, "destroy tank/a@s2").0, 0);
    assert_eq!(
        snapshots_changed(&mut w, "tank/a"),
        Some(1_700_000_021),
        "CLI destroy"
    );
    // deferred: marking is no change, the real destroy at release is
    assert_eq!(zfs(&mut w, "hold keep tank/a@s3").0, 0);
    w.set_clock(1_700_000_022);
    assert_eq!(
        ok(&mut w, "return zfs.sync.destroy{'tank/a@s3', defer = true}"),
        r#"{"return":0}"#
    );
    assert_eq!(
        snapshots_changed(&mut w, "tank/a"),
        Some(1_700_000_021),
        "only marked"
    );
    w.set_clock(1_700_000_023);
    assert_eq!(zfs(&mut w, "release keep tank/a@s3").0, 0);
    assert!(!w.pool("tank").unwrap().exists("tank/a@s3"));
    assert_eq!(
        snapshots_changed(&mut w, "tank/a"),
        Some(1_700_000_023),
        "released"
    );
    // deferred behind a clone: destroying the clone destroys the snapshot
    assert_eq!(zfs(&mut w, "clone tank/a@s4 tank/c").0, 0);
    assert_eq!(
        ok(&mut w, "return zfs.sync.destroy{'tank/a@s4', defer = true}"),
        r#"{"return":0}"#
    );
    w.set_clock(1_700_000_024);
    assert_eq!(zfs(&mut w, "destroy tank/c").0, 0);
    assert!(!w.pool("tank").unwrap().exists("tank/a@s4"));
    assert_eq!(
        snapshots_changed(&mut w, "tank/a"),
        Some(1_700_000_024),
        "clone gone"
    );
    // rename
    assert_eq!(zfs(&mut w, "snapshot tank/a@r").0, 0);
    w.set_clock(1_700_000_030);
    assert_eq!(
        ok(
            &mut w,
            "return zfs.sync.rename_snapshot('tank/a', 'r', 'q')"
        ),
        r#"{"return":0}"#
    );
    assert_eq!(
        snapshots_changed(&mut w, "tank/a"),
        Some(1_700_000_030),
        "rename"
    );
    // promote: the origin's head loses names (bumped), the clone gains them (not bumped)
    assert_eq!(zfs(&mut w, "clone tank/a@q tank/p").0, 0);
    assert_eq!(zfs(&mut w, "bookmark tank/a@q tank/a#bq").0, 0);
    w.set_clock(1_700_000_040);
    assert_eq!(
        ok(&mut w, "return zfs.sync.promote('tank/p')"),
        r#"{"return":0}"#
    );
    assert!(w.pool("tank").unwrap().exists("tank/p@q"));
    let pool = w.pool("tank").unwrap();
    assert!(
        pool.ds("tank/p").unwrap().bookmarks.contains_key("bq"),
        "bookmarks move too"
    );
    assert!(pool.ds("tank/a").unwrap().bookmarks.is_empty());
    assert_eq!(
        snapshots_changed(&mut w, "tank/a"),
        Some(1_700_000_040),
        "origin head"
    );
    assert_eq!(
        snapshots_changed(&mut w, "tank/p"),
        Some(0),
        "promoted clone"
    );
}

#[test]
fn snapshots_changed_not_moved_by_bookmarks_props_holds_clones_rollback() {
    let mut w = world();
    w.set_clock(1_700_000_010);
    assert_eq!(zfs(&mut w, "create -V 16M tank/v").0, 0);
    assert_eq!(zfs(&mut w, "snapshot tank/a@s tank/v@s").0, 0);
    w.set_clock(1_700_000_099);
    assert_eq!(zfs(&mut w, "bookmark tank/a@s tank/a#b1").0, 0);
    assert_eq!(zfs(&mut w, "hold keep tank/a@s").0, 0);
    assert_eq!(zfs(&mut w, "clone tank/a@s tank/c").0, 0);
    assert_eq!(zfs(&mut w, "set conf:x=1 tank/a").0, 0);
    assert_eq!(
        ok(
            &mut w,
            "return {zfs.sync.bookmark('tank/a@s', 'tank/a#b2'), zfs.sync.set_prop('tank/a', 'conf:y', '2'), \
             zfs.sync.set_prop('tank/a@s', 'conf:z', '3'), (zfs.sync.rollback('tank/v'))}"
        ),
        r#"{"return":{"1":0,"2":0,"3":0,"4":0}}"#
    );
    assert_eq!(zfs(&mut w, "destroy tank/a#b1").0, 0);
    assert_eq!(zfs(&mut w, "release keep tank/a@s").0, 0);
    assert_eq!(snapshots_changed(&mut w, "tank/a"), Some(1_700_000_010));
    assert_eq!(snapshots_changed(&mut w, "tank/v"), Some(1_700_000_010));
    assert_eq!(snapshots_changed(&mut w, "tank/c"), Some(0), "a new clone");
}

#[test]
fn snapshots_changed_is_an_invalid_property_on_2_1() {
    let mut w = world_v("2.1.11");
    let o = run(
        &mut w,
        "local x = 1\nreturn zfs.get_prop('tank/a', 'snapshots_changed')",
    );
    assert_eq!((o.exit_code, o.errno), (1, ECHRNG));
    assert!(o.stderr.starts_with(FAILED), "{}", o.stderr);
    assert_eq!(
        first_error_line(&o),
        "[string \"channel program\"]:2: 'snapshots_changed' is not a valid property"
    );
    let out = ok(
        &mut w,
        "local n = 0 for _, p in pairs(zfs.list.system_properties('tank/a')) do \
         if p == 'snapshots_changed' then n = n + 1 end end return n",
    );
    assert_eq!(out, r#"{"return":0}"#, "not listed on 2.1");
    let mut w = world();
    let out = ok(
        &mut w,
        "local n = 0 for _, p in pairs(zfs.list.system_properties('tank/a')) do \
         if p == 'snapshots_changed' then n = n + 1 end end return n",
    );
    assert_eq!(out, r#"{"return":1}"#, "listed on 2.3");
}

#[test]
fn state_file_without_snapshots_changed_loads_as_never_changed() {
    let mut w = world();
    assert_eq!(zfs(&mut w, "snapshot tank/a@s").0, 0);
    let mut v = serde_json::to_value(&w).unwrap();
    let mut removed = 0;
    for ds in v["pools"]["tank"]["datasets"]
        .as_object_mut()
        .unwrap()
        .values_mut()
    {
        removed += usize::from(
            ds.as_object_mut()
                .unwrap()
                .remove("snapshots_changed")
                .is_some(),
        );
    }
    assert_eq!(removed, 2, "tank and tank/a carried the field");
    let mut old: World = serde_json::from_value(v).unwrap();
    assert_eq!(snapshots_changed(&mut old, "tank/a"), Some(0));
    assert!(old.pool("tank").unwrap().exists("tank/a@s"));
}

// ------------------------------------------------------------ injected faults (ZFS_EMU_FAULTS)

/// `world()` plus tank/b and tank/c, a snapshot tank/a@old, and `spec` injected.
fn faulted_world(spec: &str) -> World {
    let mut w = world();
    w.create_dataset("tank/b", None, false).unwrap();
    w.create_dataset("tank/c", None, false).unwrap();
    w.snapshot("tank/a@old").unwrap();
    w.set_faults(Some(spec.parse().unwrap()));
    w
}

fn snap_exists(w: &World, name: &str) -> bool {
    w.pools["tank"].snap(name).is_some()
}

fn user_prop(w: &World, ds: &str, prop: &str) -> Option<String> {
    w.pools["tank"]
        .ds(ds)
        .and_then(|n| n.user_props.get(prop).cloned())
}

fn cli_line(w: &mut World, tool: &str, line: &str, stdin: &str) -> (i32, String, String) {
    let args: Vec<String> = line.split_whitespace().map(String::from).collect();
    w.run_cli(tool, &args, stdin)
}

const EVERY_KIND: &str = r#"
-- check snapshot, bookmark, set_prop; sync the same; sync destroy
local r = {}
r[1] = zfs.check.snapshot("tank/a@new")
r[2] = zfs.check.bookmark("tank/a@old", "tank/a#bm")
r[3] = zfs.check.set_prop("tank/a", "x:y", "v")
r[4] = zfs.sync.snapshot("tank/a@new")
r[5] = zfs.sync.bookmark("tank/a@old", "tank/a#bm")
r[6] = zfs.sync.set_prop("tank/a", "x:y", "v")
r[7] = zfs.sync.destroy("tank/a@old")
return table.concat(r, " ")
"#;

#[test]
fn enospc_full_pool_refuses_snapshots_and_bookmarks_not_props_or_destroys() {
    // Without the fault every call succeeds: the same program is the control.
    let mut clean = faulted_world("enospc:other");
    assert_eq!(ok(&mut clean, EVERY_KIND), r#"{"return":"0 0 0 0 0 0 0"}"#);
    let mut w = faulted_world("enospc:tank");
    // ENOSPC = 28; set_prop keeps the reserved half slop, destroy its own room.
    assert_eq!(ok(&mut w, EVERY_KIND), r#"{"return":"28 28 0 28 28 0 0"}"#);
    assert!(!snap_exists(&w, "tank/a@new"));
    assert!(w.pools["tank"].ds("tank/a").unwrap().bookmarks.is_empty());
    assert_eq!(user_prop(&w, "tank/a", "x:y").as_deref(), Some("v"));
    assert!(
        !snap_exists(&w, "tank/a@old"),
        "destroy works on a full pool"
    );
}

#[test]
fn enospc_with_free_space_charges_checks_and_syncs_like_the_kernel() {
    // 600 KiB free: three snapshot checks take 432 KiB, so one sync (576) fits, the next not.
    let mut w = faulted_world("enospc:tank:600K");
    let out = ok(
        &mut w,
        r#"
        local r = {}
        for _, d in ipairs({"tank/a", "tank/b", "tank/c"}) do
            r[#r + 1] = zfs.check.snapshot(d .. "@n")
        end
        for _, d in ipairs({"tank/a", "tank/b", "tank/c"}) do
            r[#r + 1] = zfs.sync.snapshot(d .. "@n")
        end
        return table.concat(r, " ")
    "#,
    );
    assert_eq!(out, r#"{"return":"0 0 0 0 28 28"}"#);
    assert!(snap_exists(&w, "tank/a@n"));
    assert!(!snap_exists(&w, "tank/b@n") && !snap_exists(&w, "tank/c@n"));
    // The total is per program: the next one starts from nothing again.
    let out = ok(&mut w, r#"return zfs.sync.snapshot("tank/b@n")"#);
    assert_eq!(out, r#"{"return":0}"#);
}

#[test]
fn enospc_sync_passes_the_checks_of_apply_then_fails_its_snapshots() {
    let apply = include_str!("../../../lua/apply.lua");
    let argv = [
        "G",
        "g1",
        "P",
        "tank/a",
        "label:running",
        "pve1",
        "S",
        "tank/a@auto",
        "G",
        "g2",
        "S",
        "tank/b@auto",
    ];
    let mut w = faulted_world("enospc-sync:tank");
    let o = w.run_program(&ProgramRequest::new("tank", apply, &argv));
    assert_eq!(o.exit_code, 0, "{}", o.stderr);
    // The label is set (reserved room), the snapshots are refused at sync time (destroys are
    // destroy.lua's, never apply.lua's).
    assert!(
        o.stdout.contains(r#""r":"ok ENOSPC ENOSPC""#),
        "{}",
        o.stdout
    );
    assert_eq!(
        user_prop(&w, "tank/a", "label:running").as_deref(),
        Some("pve1")
    );
    assert!(!snap_exists(&w, "tank/a@auto") && !snap_exists(&w, "tank/b@auto"));
    // The full form refuses them at check time: whole groups dropped, nothing changed.
    let mut w = faulted_world("enospc:tank");
    let o = w.run_program(&ProgramRequest::new("tank", apply, &argv));
    assert!(
        o.stdout
            .contains(r#""r":"dropped check:ENOSPC check:ENOSPC""#),
        "{}",
        o.stdout
    );
    assert_eq!(user_prop(&w, "tank/a", "label:running"), None);
}

#[test]
fn eio_is_returned_by_checks_fatal_in_syncs_and_reads_and_keeps_earlier_changes() {
    let mut w = faulted_world("eio:tank/a");
    // Reads of the dataset or its snapshots are fatal; other datasets read fine.
    for script in [
        r#"return zfs.get_prop("tank/a", "createtxg")"#,
        r#"return zfs.get_prop("tank/a@old", "createtxg")"#,
        r#"return zfs.exists("tank/a")"#,
        r#"for s in zfs.list.snapshots("tank/a") do end"#,
    ] {
        let o = run_n(&mut w, script);
        assert_eq!(o.exit_code, 1, "{script}");
        assert!(
            o.stderr
                .contains("I/O error while accessing dataset 'tank/a"),
            "{script}: {}",
            o.stderr
        );
    }
    assert_eq!(
        ok(&mut w, r#"return zfs.exists("tank/b")"#),
        r#"{"return":true}"#
    );
    let txg = w.txg;
    let o = run(
        &mut w,
        r#"
        assert(zfs.check.snapshot("tank/a@x") == EIO)
        assert(zfs.check.destroy("tank/a@old") == EIO)
        assert(zfs.sync.snapshot("tank/b@x") == 0)
        zfs.sync.snapshot("tank/a@x")
        zfs.sync.snapshot("tank/c@x")
    "#,
    );
    assert_eq!((o.exit_code, o.errno), (1, ECHRNG), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("I/O error while accessing dataset 'tank/a@x'"),
        "{}",
        o.stderr
    );
    assert!(
        snap_exists(&w, "tank/b@x"),
        "the change before the error stays"
    );
    assert!(!snap_exists(&w, "tank/a@x") && !snap_exists(&w, "tank/c@x"));
    assert_eq!(w.txg, txg + 1);
}

#[test]
fn vanish_after_hides_the_pool_from_the_nth_program_counted_in_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let sv = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    let plain = state::EmuEnv::default();
    for line in ["create tank", "create rpool"] {
        assert_eq!(
            state::run_with_state(&path, &plain, "zpool", &sv(line), "")
                .unwrap()
                .0,
            0
        );
    }
    let env = state::EmuEnv {
        faults: Some("vanish-after:2:tank".parse().unwrap()),
        ..state::EmuEnv::default()
    };
    let program = |pool: &str| {
        state::run_with_state(
            &path,
            &env,
            "zfs",
            &sv(&format!("program -j -n {pool} -")),
            "return 1",
        )
        .unwrap()
    };
    assert_eq!(program("tank").0, 0, "the first program still sees it");
    // Other commands between programs do not count.
    let r = state::run_with_state(&path, &env, "zpool", &sv("list -H"), "").unwrap();
    assert_eq!(r.1, "rpool\ntank\n");
    let r = program("tank");
    assert_eq!(r.0, 1);
    assert_eq!(
        r.2,
        "cannot open 'tank': no such pool\ncannot open pool 'tank'\n"
    );
    assert_eq!(program("rpool").0, 0, "other pools stay");
    let r = state::run_with_state(&path, &env, "zpool", &sv("list -H"), "").unwrap();
    assert_eq!(r.1, "rpool\n");
    let r = state::run_with_state(&path, &env, "zfs", &sv("list -H -o name tank"), "").unwrap();
    assert_eq!(r.0, 1);
    let saved: World = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(saved.fault_counters.programs, 3);
    assert!(saved.pools.contains_key("tank"), "hidden, not destroyed");
    // Unset: back, as after an import.
    let r = state::run_with_state(&path, &plain, "zpool", &sv("list -H"), "").unwrap();
    assert_eq!(r.1, "rpool\ntank\n");
}

const THREE_SNAPSHOTS: &str = r#"
for _, d in ipairs({"tank/a", "tank/b", "tank/c"}) do
    zfs.sync.snapshot(d .. "@k")
end
return "done"
"#;

#[test]
fn kill_after_keeps_what_the_program_did_prints_nothing_and_fires_once() {
    let cases: &[(&str, &[bool; 3])] = &[
        ("kill-after:0", &[false, false, false]),
        ("kill-after:2", &[true, true, false]),
        ("kill-after:3", &[true, true, true]),
    ];
    for (spec, made) in cases {
        let mut w = faulted_world(spec);
        let txg = w.txg;
        let r = cli_line(&mut w, "zfs", "program -j tank -", THREE_SNAPSHOTS);
        assert_eq!(r, (137, String::new(), String::new()), "{spec}");
        assert!(w.was_killed(), "{spec}");
        let got = ["tank/a@k", "tank/b@k", "tank/c@k"].map(|s| snap_exists(&w, s));
        assert_eq!(&got, *made, "{spec}");
        assert_eq!(w.txg, txg + 1, "{spec}: the program's txg synced");
        assert!(w.fault_counters.killed);
        // Fires once: the rerun completes what is missing.
        let r = cli_line(&mut w, "zfs", "program -j tank -", THREE_SNAPSHOTS);
        assert_eq!(r.0, 0, "{spec}: {r:?}");
        assert!(!w.was_killed());
        assert!(
            ["tank/a@k", "tank/b@k", "tank/c@k"]
                .iter()
                .all(|s| snap_exists(&w, s))
        );
    }
}

#[test]
fn kill_after_counts_across_sync_programs_only() {
    let mut w = faulted_world("kill-after:4");
    // -n programs are never killed and their (fatal) sync calls do not count.
    let r = cli_line(&mut w, "zfs", "program -j -n tank -", "return 1");
    assert_eq!(r.0, 0);
    assert_eq!(
        cli_line(&mut w, "zfs", "program -j tank -", THREE_SNAPSHOTS).0,
        0
    );
    assert_eq!(w.fault_counters.sync_calls, 3);
    let second = r#"
        zfs.sync.destroy("tank/a@k")
        zfs.sync.destroy("tank/b@k")
    "#;
    assert_eq!(cli_line(&mut w, "zfs", "program -j tank -", second).0, 137);
    assert!(!snap_exists(&w, "tank/a@k") && snap_exists(&w, "tank/b@k"));
    // A coroutine cannot catch the kill and go on changing things.
    let mut w = faulted_world("kill-after:1");
    let script = r#"
        local co = coroutine.create(function() zfs.sync.snapshot("tank/a@k") end)
        coroutine.resume(co)
        zfs.sync.snapshot("tank/b@k")
    "#;
    assert_eq!(cli_line(&mut w, "zfs", "program -j tank -", script).0, 137);
    assert!(snap_exists(&w, "tank/a@k") && !snap_exists(&w, "tank/b@k"));
}

#[test]
fn fail_exec_fails_only_its_command_and_touches_nothing() {
    let mut w = faulted_world("fail-exec:list,vanish-after:1:tank");
    let before = serde_json::to_string(&w).unwrap();
    let r = cli_line(&mut w, "zfs", "list -H -o name", "");
    assert_eq!(r, (1, String::new(), faults::FAIL_EXEC_MESSAGE.to_string()));
    assert_eq!(
        serde_json::to_string(&w).unwrap(),
        before,
        "nothing counted or changed"
    );
    assert_eq!(cli_line(&mut w, "zfs", "version", "").0, 0);
    let mut w = faulted_world("fail-exec:program-sync");
    assert_eq!(
        cli_line(&mut w, "zfs", "program -j -n tank -", "return 1").0,
        0
    );
    let r = cli_line(&mut w, "zfs", "program -j tank -", THREE_SNAPSHOTS);
    assert_eq!(r.0, 1);
    assert!(!snap_exists(&w, "tank/a@k"));
    assert_eq!(
        w.fault_counters.programs, 1,
        "the failed exec never reached the kernel"
    );
}

#[test]
fn without_faults_the_state_file_and_results_are_unchanged() {
    let mut w = faulted_world("enospc:tank");
    w.set_faults(None);
    assert_eq!(ok(&mut w, EVERY_KIND), r#"{"return":"0 0 0 0 0 0 0"}"#);
    let r = cli_line(&mut w, "zfs", "program -j tank -", THREE_SNAPSHOTS);
    assert_eq!(r.0, 0);
    let json = serde_json::to_string(&w).unwrap();
    assert!(
        !json.contains("fault"),
        "no counters without faults: {json}"
    );
    // With faults the counters are saved and read back.
    let mut w = faulted_world("kill-after:100");
    assert_eq!(
        cli_line(&mut w, "zfs", "program -j tank -", THREE_SNAPSHOTS).0,
        0
    );
    let back: World = serde_json::from_str(&serde_json::to_string(&w).unwrap()).unwrap();
    assert_eq!(back.fault_counters.sync_calls, 3);
    assert_eq!(back.fault_counters.programs, 1);
}
