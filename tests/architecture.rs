//! The architecture rule of `src/`, checked from the source text: every top-level module of the
//! crate has a layer; a module may import (`use crate::…`, a `crate::…` path, `super::…` that
//! leaves its module) only from its own layer or a lower one, and no two modules import each
//! other, directly or through others. Pure modules never import the edges (`zfs`, `pve`, `cli`,
//! `cmd`).
//!
//! Run it with `cargo test --test architecture`; on failure it prints the layer table and every
//! arrow it found. Imports of unit tests (`tests.rs` files and the trailing `#[cfg(test)] mod
//! tests`) are not counted: tests may reach anything. Comments (and so intra-doc links) and
//! string literals are not imports either.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Layers, lowest first. A module may import from its own layer and the ones before it.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "leaves: no import of the crate",
        &["cli", "exit", "duration", "emu"],
    ),
    ("names", &["naming"]),
    (
        "pure rules and data",
        &[
            "policy",
            "nosnap",
            "state",
            "host",
            "change",
            "verdict",
            "clusterpolicy",
        ],
    ),
    ("pure decisions", &["plan", "monitor", "pull"]),
    ("pure results", &["report", "protection", "status"]),
    (
        "edges: files, processes, ZFS",
        &["fsutil", "lock", "cron", "metrics", "pve", "zfs", "replica"],
    ),
    ("pipelines (no printing)", &["run", "simulate", "removal"]),
    ("commands: print, clock, environment", &["cmd"]),
];

/// Modules that decide and never reach the host: they must not import these.
const PURE: &[&str] = &[
    "naming",
    "clusterpolicy",
    "change",
    "verdict",
    "policy",
    "nosnap",
    "state",
    "host",
    "plan",
    "monitor",
    "pull",
    "report",
    "protection",
    "status",
    "duration",
    "exit",
];
const EDGES: &[&str] = &["zfs", "pve", "cli", "cmd"];

/// Source text without comments, string and char literals (replaced by spaces, lines kept).
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[i] == b'\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else if c == b'r'
            && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // Raw string r"…" / r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c as char);
                i += 1;
                continue;
            }
            j += 1;
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            while j < b.len() && !b[j..].starts_with(&close) {
                if b[j] == b'\n' {
                    out.push('\n');
                }
                j += 1;
            }
            i = j + close.len();
            out.push_str("\"\"");
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                if b.get(i) == Some(&b'\n') {
                    out.push('\n');
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{..}'), else a lifetime.
            let end = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..]
                    .iter()
                    .position(|&x| x == b'\'')
                    .map(|p| i + 2 + p)
            } else if b.get(i + 2) == Some(&b'\'') {
                Some(i + 2)
            } else {
                // Multi-byte UTF-8 char literal.
                let s = &src[i + 1..];
                s.chars()
                    .next()
                    .filter(|ch| ch.len_utf8() > 1 && s[ch.len_utf8()..].starts_with('\''))
                    .map(|ch| i + 1 + ch.len_utf8())
            };
            match end {
                Some(e) => {
                    out.push_str("' '");
                    i = e + 1;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            let ch = src[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// The text before a trailing inline test module.
fn without_tests(src: &str) -> &str {
    let mut at = 0;
    for line in src.lines() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            let rest = &src[at + line.len()..];
            if rest.trim_start().starts_with("mod tests") {
                return &src[..at];
            }
        }
        at += line.len() + 1;
    }
    src
}

/// The first identifiers after each `crate::`, including in `crate::{a, b::c}` groups.
fn crate_targets(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let bytes = code.as_bytes();
    let mut start = 0;
    while let Some(p) = code[start..].find("crate::") {
        let at = start + p;
        start = at + 7;
        if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
            continue; // `pve_zfs_snap_crate::` or similar
        }
        let rest = code[at + 7..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item_start = true;
            for (k, ch) in group.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_ascii_alphanumeric() || c == '_') => {
                        out.insert(ident(&group[k..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// `super::super::x` from a file two levels down leaves its top-level module.
fn super_targets(code: &str, depth: usize) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if depth < 2 {
        return out;
    }
    let mut start = 0;
    while let Some(p) = code[start..].find("super::super::") {
        let at = start + p + "super::super::".len();
        start = at;
        let name: String = code[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// (importer, imported) → the files of the importer that import it.
type Arrows = BTreeMap<(String, String), BTreeSet<String>>;

/// The top-level modules of `src` and the arrows between them.
fn arrows(src: &Path) -> (BTreeSet<String>, Arrows) {
    let mut files = Vec::new();
    rs_files(src, &mut files);
    let mut modules = BTreeSet::new();
    let mut arrows = Arrows::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap();
        let parts: Vec<String> = rel
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        // main.rs, lib.rs, bin/ are crate roots, not modules of the library.
        if parts.len() == 1 && (parts[0] == "main.rs" || parts[0] == "lib.rs") || parts[0] == "bin"
        {
            continue;
        }
        if parts.last().is_some_and(|l| l == "tests.rs") {
            continue;
        }
        let top = parts[0].trim_end_matches(".rs").to_string();
        modules.insert(top.clone());
        let text = std::fs::read_to_string(&f).unwrap();
        let code = strip(without_tests(&text));
        let mut targets = crate_targets(&code);
        targets.extend(super_targets(&code, parts.len()));
        for t in targets {
            if t != top {
                arrows
                    .entry((top.clone(), t))
                    .or_default()
                    .insert(rel.display().to_string());
            }
        }
    }
    (modules, arrows)
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, ms)| ms.contains(&module))
}

/// A circle through `start`, if any (depth-first over the arrows).
fn circle(start: &str, graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn walk(
        at: &str,
        start: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in graph.get(at).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(next, start, graph, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    let mut seen = BTreeSet::new();
    walk(start, start, graph, &mut path, &mut seen).then_some(path)
}

#[test]
fn layers_hold_and_there_is_no_import_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (modules, arrows) = arrows(&src);
    let mut problems = Vec::new();
    for m in &modules {
        if layer_of(m).is_none() {
            problems.push(format!("module `{m}` has no layer: add it to LAYERS"));
        }
    }
    for ((from, to), files) in &arrows {
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        if PURE.contains(&from.as_str()) && EDGES.contains(&to.as_str()) {
            problems.push(format!(
                "pure module `{from}` imports the edge `{to}` ({})",
                files.join(", ")
            ));
        }
        if let (Some(a), Some(b)) = (layer_of(from), layer_of(to))
            && b > a
        {
            problems.push(format!(
                "`{from}` (layer {a}) imports `{to}` (layer {b}), a higher layer ({})",
                files.join(", ")
            ));
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in arrows.keys() {
        graph.entry(from.clone()).or_default().insert(to.clone());
    }
    let mut circles = BTreeSet::new();
    for m in &modules {
        if let Some(c) = circle(m, &graph) {
            // One report per circle, whatever module it was found from.
            let mut key: Vec<String> = c[..c.len() - 1].to_vec();
            key.sort();
            if circles.insert(key) {
                problems.push(format!("import circle: {}", c.join(" → ")));
            }
        }
    }
    if !problems.is_empty() {
        let mut msg = String::from("layer table (lowest first):\n");
        for (i, (what, ms)) in LAYERS.iter().enumerate() {
            let _ = writeln!(msg, "  {i}  {what}: {}", ms.join(", "));
        }
        msg.push_str("arrows found (importer → imported):\n");
        for ((from, to), files) in &arrows {
            let mark = match (layer_of(from), layer_of(to)) {
                (Some(a), Some(b)) if b > a => "  UPWARD",
                _ => "",
            };
            let files: Vec<&str> = files.iter().map(String::as_str).collect();
            let _ = writeln!(msg, "  {from} → {to}{mark}   [{}]", files.join(", "));
        }
        msg.push_str("problems:\n");
        for p in &problems {
            let _ = writeln!(msg, "  {p}");
        }
        panic!("{msg}");
    }
}

#[test]
fn the_import_reader_sees_what_it_must() {
    let code = strip(
        "use crate::{a, b::{c, d}, e as f};\n// crate::commented\nlet s = \"crate::quoted\";\n\
         fn x() { crate::g::h(); let c = '\"'; crate::i::j; }\n/// [`crate::doc`]\n",
    );
    let got: Vec<String> = crate_targets(&code).into_iter().collect();
    assert_eq!(got, ["a", "b", "e", "g", "i"]);
    let tested = "use crate::a;\n#[cfg(test)]\nmod tests {\n    use crate::b;\n}\n";
    let got: Vec<String> = crate_targets(&strip(without_tests(tested)))
        .into_iter()
        .collect();
    assert_eq!(got, ["a"]);
    assert_eq!(
        super_targets("use super::super::naming::X; use super::y;", 2)
            .into_iter()
            .collect::<Vec<_>>(),
        ["naming"]
    );
}

/// The ten longest functions of `src/` (test code left out), longest first: a measure to watch,
/// not a rule. `cargo test --test architecture longest -- --ignored --nocapture`.
#[test]
#[ignore = "a report, not a check: run with --ignored --nocapture"]
fn longest_functions() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    let mut found: Vec<(usize, String, String)> = Vec::new();
    for f in files {
        if f.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let code = strip(without_tests(&text));
        let lines: Vec<&str> = code.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(at) = line.find("fn ") else { continue };
            let before = line[..at].trim();
            let words_ok = before.split_whitespace().all(|w| {
                ["pub", "pub(crate)", "const", "async", "unsafe"].contains(&w)
                    || w.starts_with("pub(")
            });
            if !words_ok || (at > 0 && !line[..at].ends_with(' ')) {
                continue;
            }
            let name: String = line[at + 3..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let (mut depth, mut started) = (0i32, false);
            for (j, l) in lines.iter().enumerate().skip(i) {
                for c in l.chars() {
                    match c {
                        '{' => {
                            depth += 1;
                            started = true;
                        }
                        '}' => depth -= 1,
                        _ => {}
                    }
                }
                if !started && l.trim_end().ends_with(';') {
                    break;
                }
                if started && depth == 0 {
                    let rel = f.strip_prefix(&src).unwrap().display().to_string();
                    found.push((j - i + 1, name.clone(), format!("src/{rel}:{}", i + 1)));
                    break;
                }
            }
        }
    }
    found.sort_by(|a, b| b.0.cmp(&a.0).then(a.2.cmp(&b.2)));
    for (n, name, at) in found.iter().take(10) {
        println!("{n:5} {name:35} {at}");
    }
}
