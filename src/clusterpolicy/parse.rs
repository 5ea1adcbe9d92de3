//! The syntax of `/etc/pve/pve-zfs-snap.cfg`: a PVE-style section config (see
//! docs/POLICY.md). Turns the text into a [`PolicyFile`] or every error found, each with its
//! line and what to do. Static checks only (what the text alone can tell); the checks against
//! the cluster's guests are in `check.rs`.
//!
//! Pure: no I/O, no logging.

use super::{Action, FileError, PolicyFile, Rule, Selectors, VmidRange};
use crate::policy::{BookmarkPolicy, Policy};

/// The keys of a `rule:` section.
const RULE_KEYS: &[&str] = &[
    "vmid",
    "tag",
    "pool",
    "node",
    "disk",
    "keep",
    "bookmarks",
    "exclude",
    "comment",
];
/// The keys of the `defaults` section.
const DEFAULT_KEYS: &[&str] = &["keep", "bookmarks", "nosnap-tag", "comment"];

/// One section as written: header line, kind, name, and its `key value` lines.
struct RawSection {
    line: usize,
    kind: SectionKind,
    lines: Vec<(usize, String, String)>,
}

#[derive(Clone, PartialEq)]
enum SectionKind {
    Defaults,
    Rule(String),
}

/// Parses the file's text. `Err` holds every error found, in line order.
pub fn parse(text: &str) -> Result<PolicyFile, Vec<FileError>> {
    let mut errors = Vec::new();
    let sections = split_sections(text, &mut errors);
    let mut file = PolicyFile {
        default_keep: None,
        default_bookmarks: None,
        nosnap_tag: Some(super::DEFAULT_NOSNAP_TAG.to_string()),
        rules: Vec::new(),
        hash: super::fnv64(text.as_bytes()),
    };
    let mut defaults_line = None;
    for s in sections {
        match &s.kind {
            SectionKind::Defaults => {
                if let Some(first) = defaults_line {
                    errors.push(err(
                        s.line,
                        format!(
                            "a second 'defaults' section (the first is on line {first}); \
                             merge them into one"
                        ),
                    ));
                    continue;
                }
                defaults_line = Some(s.line);
                parse_defaults(&s, &mut file, &mut errors);
            }
            SectionKind::Rule(name) => {
                if let Some(r) = file.rules.iter().find(|r| &r.name == name) {
                    errors.push(err(
                        s.line,
                        format!(
                            "rule {name:?} is already defined on line {}; give each rule its \
                             own name",
                            r.line
                        ),
                    ));
                    continue;
                }
                if let Some(rule) = parse_rule(name, &s, &mut errors) {
                    file.rules.push(rule);
                }
            }
        }
    }
    same_selectors(&file.rules, &mut errors);
    if errors.is_empty() {
        Ok(file)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(errors)
    }
}

fn err(line: usize, message: String) -> FileError {
    FileError { line, message }
}

/// Splits the text into sections. Comments (`#`) and blank lines are skipped; a header is
/// `defaults` or `rule: <name>` at the start of a line; a key line is indented.
fn split_sections(text: &str, errors: &mut Vec<FileError>) -> Vec<RawSection> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut sections: Vec<RawSection> = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let n = idx + 1;
        let line = raw.trim_end_matches('\r');
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            let (key, value) = match trimmed.split_once(char::is_whitespace) {
                Some((k, v)) => (k, v.trim()),
                None => (trimmed, ""),
            };
            match sections.last_mut() {
                Some(s) => s.lines.push((n, key.to_string(), value.to_string())),
                None => errors.push(err(
                    n,
                    format!(
                        "{key:?} is outside any section; put it under 'defaults' or a \
                         'rule: <name>' line"
                    ),
                )),
            }
            continue;
        }
        match header(trimmed) {
            Ok(kind) => sections.push(RawSection {
                line: n,
                kind,
                lines: vec![],
            }),
            Err(why) => errors.push(err(n, why)),
        }
    }
    sections
}

/// A section header: `defaults` or `rule: <name>`.
fn header(line: &str) -> Result<SectionKind, String> {
    if line == "defaults" || line == "defaults:" {
        return Ok(SectionKind::Defaults);
    }
    let Some((kind, name)) = line.split_once(':') else {
        return Err(format!(
            "{line:?} is not a section header ('defaults' or 'rule: <name>'); key lines must \
             be indented"
        ));
    };
    let (kind, name) = (kind.trim(), name.trim());
    if kind != "rule" {
        return Err(format!(
            "unknown section type {kind:?}: the sections are 'defaults' and 'rule: <name>'"
        ));
    }
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return Err(format!(
            "rule name {name:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
        ));
    }
    Ok(SectionKind::Rule(name.to_string()))
}

/// Checks the keys of a section: known, not repeated, with a value (except `exclude`).
fn known_keys<'a>(
    s: &'a RawSection,
    allowed: &[&str],
    what: &str,
    errors: &mut Vec<FileError>,
) -> Vec<&'a (usize, String, String)> {
    let mut out: Vec<&(usize, String, String)> = Vec::new();
    for l in &s.lines {
        let (n, key, _) = l;
        if !allowed.contains(&key.as_str()) {
            let hint = if RULE_KEYS.contains(&key.as_str()) || DEFAULT_KEYS.contains(&key.as_str())
            {
                format!("{key:?} is not allowed in {what}")
            } else {
                format!("unknown key {key:?}")
            };
            errors.push(err(
                *n,
                format!("{hint} (keys here: {})", allowed.join(", ")),
            ));
            continue;
        }
        if let Some(first) = out.iter().find(|(_, k, _)| k == key) {
            errors.push(err(
                *n,
                format!(
                    "{key:?} is given twice (first on line {}); give it once",
                    first.0
                ),
            ));
            continue;
        }
        out.push(l);
    }
    out
}

fn parse_defaults(s: &RawSection, file: &mut PolicyFile, errors: &mut Vec<FileError>) {
    for (n, key, value) in known_keys(s, DEFAULT_KEYS, "'defaults'", errors) {
        match key.as_str() {
            "keep" => match keep(value) {
                Ok(p) => file.default_keep = Some((p, *n)),
                Err(e) => errors.push(err(*n, e)),
            },
            "bookmarks" => match bookmarks(value) {
                Ok(b) => file.default_bookmarks = Some((b, *n)),
                Err(e) => errors.push(err(*n, e)),
            },
            "nosnap-tag" => match value.as_str() {
                "none" => file.nosnap_tag = None,
                v if valid_tag(v) => file.nosnap_tag = Some(v.to_string()),
                v => errors.push(err(
                    *n,
                    format!(
                        "nosnap-tag {v:?} is not a PVE tag (lowercase letters, digits, \
                         '_', '+', '.', '-'); or 'none' to disable it"
                    ),
                )),
            },
            _ => {}
        }
    }
}

fn parse_rule(name: &str, s: &RawSection, errors: &mut Vec<FileError>) -> Option<Rule> {
    let before = errors.len();
    let mut sel = Selectors::default();
    let (mut keep_v, mut bm, mut exclude) = (None, None, None);
    let mut keep_given = false;
    for (n, key, value) in known_keys(s, RULE_KEYS, "a rule", errors) {
        let n = *n;
        keep_given |= key == "keep";
        let r = match key.as_str() {
            "vmid" => vmids(value).map(|v| sel.vmid = Some(v)),
            "tag" => names(value, "tag", valid_tag).map(|v| sel.tag = Some(v)),
            "pool" => names(value, "pool", valid_name).map(|v| sel.pool = Some(v)),
            "node" => names(value, "node", valid_name).map(|v| sel.node = Some(v)),
            "disk" => names(value, "disk", valid_disk_key).map(|v| sel.disk = Some(v)),
            "keep" => keep(value).map(|p| keep_v = Some(p)),
            "bookmarks" => bookmarks(value).map(|b| bm = Some(b)),
            "exclude" => match value.as_str() {
                "" | "1" | "yes" | "on" | "true" => {
                    exclude = Some(n);
                    Ok(())
                }
                "0" | "no" | "off" | "false" => Ok(()),
                v => Err(format!(
                    "exclude {v:?}: write 'exclude 1' (or leave it out)"
                )),
            },
            _ => Ok(()),
        };
        if let Err(e) = r {
            errors.push(err(n, format!("{key}: {e}")));
        }
    }
    if sel.is_empty() {
        errors.push(err(
            s.line,
            format!(
                "rule {name:?} selects nothing: give at least one of vmid, tag, pool, node, \
                 disk (the 'defaults' section is for every guest)"
            ),
        ));
    }
    let action = match (keep_v, exclude) {
        (Some(p), None) => Some(Action::Keep(p)),
        (None, Some(_)) => {
            if bm.is_some() {
                errors.push(err(
                    s.line,
                    format!("rule {name:?} excludes: 'bookmarks' has no meaning there; remove it"),
                ));
            }
            Some(Action::Exclude)
        }
        (Some(_), Some(_)) => {
            errors.push(err(
                s.line,
                format!("rule {name:?} has both 'keep' and 'exclude': choose one"),
            ));
            None
        }
        (None, None) if keep_given => None,
        (None, None) => {
            errors.push(err(
                s.line,
                format!(
                    "rule {name:?} says neither 'keep <keys>' nor 'exclude 1': say what it does"
                ),
            ));
            None
        }
    };
    if errors.len() > before {
        return None;
    }
    Some(Rule {
        name: name.to_string(),
        line: s.line,
        selectors: sel,
        action: action?,
        bookmarks: bm,
    })
}

/// Two rules with exactly the same selectors can never be told apart: an error.
fn same_selectors(rules: &[Rule], errors: &mut Vec<FileError>) {
    for (i, b) in rules.iter().enumerate() {
        if let Some(a) = rules[..i].iter().find(|a| a.selectors == b.selectors) {
            errors.push(err(
                b.line,
                format!(
                    "rule {:?} selects exactly what rule {:?} (line {}) selects: merge them \
                     or make one more specific",
                    b.name, a.name, a.line
                ),
            ));
        }
    }
}

/// Retention keys, space or comma separated (`f96 h48 d30 m12`).
fn keep(value: &str) -> Result<Policy, String> {
    Policy::parse(&words(value)).map_err(|e| e.to_string())
}

/// Bookmark keys (`h48 d14`) or `none`.
fn bookmarks(value: &str) -> Result<BookmarkPolicy, String> {
    if value == "none" {
        return Ok(BookmarkPolicy::Disabled);
    }
    BookmarkPolicy::parse(&words(value)).map_err(|e| format!("{e} (or 'none')"))
}

/// Items of a list: separated by `,`, `;` or white space (as PVE's tag lists).
pub(super) fn words(value: &str) -> Vec<String> {
    value
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn names(value: &str, what: &str, ok: fn(&str) -> bool) -> Result<Vec<String>, String> {
    let list = words(value);
    if list.is_empty() {
        return Err(format!("give at least one {what}"));
    }
    match list.iter().find(|w| !ok(w)) {
        Some(bad) => Err(format!("{bad:?} is not a valid {what} name")),
        None => Ok(list),
    }
}

/// A PVE tag: `[a-z0-9_][a-z0-9_+.-]*` (PVE lowercases tags).
pub(super) fn valid_tag(t: &str) -> bool {
    let mut chars = t.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_+.-".contains(c))
}

/// A pool or node name: letters, digits, `-`, `_`, `.`, `/` (nested pools).
fn valid_name(t: &str) -> bool {
    !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

/// A disk config key: lowercase letters then digits (`scsi1`, `mp0`, `rootfs`, `efidisk0`).
fn valid_disk_key(t: &str) -> bool {
    let letters = t.trim_end_matches(|c: char| c.is_ascii_digit());
    !letters.is_empty() && letters.chars().all(|c| c.is_ascii_lowercase())
}

/// A VMID list: `100,105-110` (PVE VMIDs are 100 to 999999999).
fn vmids(value: &str) -> Result<Vec<VmidRange>, String> {
    let list = words(value);
    if list.is_empty() {
        return Err("give at least one VMID or range (100,105-110)".into());
    }
    let id = |s: &str| -> Result<u32, String> {
        match s.parse::<u32>() {
            Ok(n) if (100..=999_999_999).contains(&n) && !s.starts_with('+') => Ok(n),
            _ => Err(format!(
                "{s:?} is not a VMID (100 to 999999999); lists look like 100,105-110"
            )),
        }
    };
    list.iter()
        .map(|w| match w.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (id(a)?, id(b)?);
                if a > b {
                    return Err(format!("range {w:?} is backwards; write {b}-{a}"));
                }
                Ok(VmidRange(a, b))
            }
            None => id(w).map(|n| VmidRange(n, n)),
        })
        .collect()
}
