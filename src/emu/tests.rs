//! Emulator rules, one test per rule of the reference (§6 checklist and the issue).

use super::model::errno::*;
use super::*;

fn world() -> World {
    let mut w = World::new(Version::default());
    w.set_clock(1_700_000_000);
    w.set_seed(7);
    w.create_pool("tank").unwrap();
    w.create_dataset("tank/a", None, false).unwrap();
    w
}

fn run(w: &mut World, script: &str) -> ProgramOutcome {
    w.run_program(&ProgramRequest::new("tank", script, &[]))
}

fn run_n(w: &mut World, script: &str) -> ProgramOutcome {
    let mut r = ProgramRequest::new("tank", script, &[]);
    r.sync = false;
    w.run_program(&r)
}

#[test]
fn smoke() {
    let mut w = world();
    for s in ["return 1", "return nil", "return {'a','b'}", "error('x')", "return 7/2, 1", "return zfs.get_prop('tank/a','createtxg')", "local x = 1.5"] {
        let o = run(&mut w, s);
        eprintln!("{s:?} -> {o:?}");
    }
}
