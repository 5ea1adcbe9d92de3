//! The cluster-wide policy of `/etc/pve/pve-zfs-snap.cfg`: which retention each guest disk
//! gets, or that it is left out, and why (docs/POLICY.md is the admin's page).
//!
//! * `parse.rs`: the file's syntax and its static checks ([`parse`]).
//! * here: the values, and the decision for one disk ([`InForce::decide`]): the guest's
//!   nosnap tag first, then the most specific matching rule (vmid > disk > tag > pool > node),
//!   then the file's `defaults`, then the command line's keys. Two matching rules of the same
//!   precedence are a [`Decision::Conflict`], never a guess.
//! * `check.rs`: the checks against the cluster's guests ([`check`]): a tag no guest has, a
//!   rule selecting nothing, a conflict on some guest.
//!
//! Pure: parses strings and decides over values; never reads files (the edge `pve::snapcfg`
//! does), never prints or logs.

mod check;
mod parse;

pub use check::{Cluster, ClusterGuest, check, pools_of};
pub use parse::parse;

use crate::host::{GuestKind, Host};
use crate::policy::{BookmarkPolicy, Policy};
use std::collections::BTreeMap;
use std::fmt;

/// The tag that excludes a guest when the file says nothing else (also without a file).
pub const DEFAULT_NOSNAP_TAG: &str = "nosnap";

/// The file's path as messages show it (under the product's root in production).
pub const FILE_NAME: &str = "/etc/pve/pve-zfs-snap.cfg";

/// A parsed, statically valid policy file.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyFile {
    /// `defaults` / `keep`, and its line.
    pub default_keep: Option<(Policy, usize)>,
    /// `defaults` / `bookmarks`, and its line.
    pub default_bookmarks: Option<(BookmarkPolicy, usize)>,
    /// The tag that excludes a guest (`None`: `nosnap-tag none`).
    pub nosnap_tag: Option<String>,
    /// Rules, in file order.
    pub rules: Vec<Rule>,
    /// FNV-1a 64 of the file's bytes.
    pub hash: u64,
}

/// One `rule: <name>` section.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// Its name.
    pub name: String,
    /// The header's line.
    pub line: usize,
    /// What it selects: every selector given must match (a list matches any of its items).
    pub selectors: Selectors,
    /// What it does.
    pub action: Action,
    /// Its own bookmark retention, if given.
    pub bookmarks: Option<BookmarkPolicy>,
}

/// A rule's selectors; `None` = not given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selectors {
    /// VMIDs and ranges.
    pub vmid: Option<Vec<VmidRange>>,
    /// PVE tags (`tags:` of the guest config).
    pub tag: Option<Vec<String>>,
    /// PVE resource pools (`user.cfg`).
    pub pool: Option<Vec<String>>,
    /// Nodes the guest's config is on.
    pub node: Option<Vec<String>>,
    /// Disk config keys (`scsi1`, `mp0`).
    pub disk: Option<Vec<String>>,
}

/// An inclusive VMID range (`100-110`; one VMID is `n-n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmidRange(pub u32, pub u32);

/// What a rule does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// This retention.
    Keep(Policy),
    /// Leave the disk alone: no snapshot, no destroy, never alerting.
    Exclude,
}

/// A finding in the file, with its 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong and what to do.
    pub message: String,
}

/// Precedence of a rule, compared as a tuple: has vmid, disk, tag, pool, node.
type Rank = [bool; 5];
const RANK_NAMES: [&str; 5] = ["vmid", "disk", "tag", "pool", "node"];

impl Selectors {
    /// No selector given.
    pub fn is_empty(&self) -> bool {
        self.rank() == [false; 5]
    }

    fn rank(&self) -> Rank {
        [
            self.vmid.is_some(),
            self.disk.is_some(),
            self.tag.is_some(),
            self.pool.is_some(),
            self.node.is_some(),
        ]
    }

    /// Whether every selector given matches `g` (its disk `disk`; `None`: the guest as a
    /// whole, which a disk selector never matches).
    fn matches(&self, g: &ClusterGuest, disk: Option<&str>) -> bool {
        let any = |list: &Option<Vec<String>>, have: &[String]| {
            list.as_ref()
                .is_none_or(|l| l.iter().any(|x| have.contains(x)))
        };
        self.vmid
            .as_ref()
            .is_none_or(|r| r.iter().any(|VmidRange(a, b)| (*a..=*b).contains(&g.vmid)))
            && any(&self.tag, &g.tags)
            && any(&self.pool, &g.pools)
            && self.node.as_ref().is_none_or(|n| n.contains(&g.node))
            && self
                .disk
                .as_ref()
                .is_none_or(|d| disk.is_some_and(|k| d.iter().any(|x| x == k)))
    }

    /// The selectors that matched `g`, most specific first (`tag database, node pve1`).
    fn describe(&self, g: &ClusterGuest, disk: Option<&str>) -> String {
        let mut parts = Vec::new();
        if self.vmid.is_some() {
            parts.push(format!("vmid {}", g.vmid));
        }
        if let (Some(_), Some(k)) = (&self.disk, disk) {
            parts.push(format!("disk {k}"));
        }
        let hits = |list: &Option<Vec<String>>, have: &[String]| -> Option<String> {
            let l = list.as_ref()?;
            Some(
                l.iter()
                    .filter(|x| have.contains(x))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(","),
            )
        };
        if let Some(t) = hits(&self.tag, &g.tags) {
            parts.push(format!("tag {t}"));
        }
        if let Some(p) = hits(&self.pool, &g.pools) {
            parts.push(format!("pool {p}"));
        }
        if self.node.is_some() {
            parts.push(format!("node {}", g.node));
        }
        parts.join(", ")
    }
}

/// The command line's part: its keys are the default policy when the file gives none.
#[derive(Clone, Debug, PartialEq)]
pub struct CommandLine {
    /// The positional keys.
    pub keep: Policy,
    /// `--bookmarks` / `--no-bookmarks`, when given.
    pub bookmarks: Option<BookmarkPolicy>,
}

/// The policy in force on a node: the file (if any) and the command line.
#[derive(Clone, Debug, PartialEq)]
pub struct InForce {
    /// The parsed file; `None`: there is none (today's behaviour, plus the nosnap tag).
    pub file: Option<PolicyFile>,
    /// The command line's keys.
    pub cli: CommandLine,
}

/// The decision for one disk (or for a guest without ZFS disks).
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Snapshotted with this retention.
    Keep {
        /// Snapshot retention.
        policy: Policy,
        /// Bookmark retention.
        bookmarks: BookmarkPolicy,
        /// Where it comes from (`tag database; rule db, line 7`).
        why: String,
    },
    /// Left out on purpose.
    Exclude {
        /// Why (`tag nosnap`, `disk scsi1; rule scratch, line 12`).
        why: String,
    },
    /// Two rules of the same precedence select it: it is not touched and counts as failed.
    Conflict {
        /// Which rules, and what to do.
        why: String,
    },
}

impl fmt::Display for Decision {
    /// `f96 h48 d30 m12 (tag database; rule db, line 7)`, `excluded (tag nosnap)`,
    /// `CONFLICT: …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Keep { policy, why, .. } => write!(f, "{policy} ({why})"),
            Decision::Exclude { why } => write!(f, "excluded ({why})"),
            Decision::Conflict { why } => write!(f, "CONFLICT: {why}"),
        }
    }
}

/// The decisions for the guests of one node.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostDecisions {
    /// Per (VMID, disk key) of every ZFS disk.
    pub disks: BTreeMap<(u32, String), Decision>,
    /// Per VMID, one line: the policy of its disks and why.
    pub guests: BTreeMap<u32, String>,
}

impl InForce {
    /// The command line alone (no file): today's behaviour, plus the default nosnap tag.
    pub fn command_line(cli: CommandLine) -> InForce {
        InForce { file: None, cli }
    }

    /// The tag that excludes a guest, if any.
    pub fn nosnap_tag(&self) -> Option<&str> {
        match &self.file {
            Some(f) => f.nosnap_tag.as_deref(),
            None => Some(DEFAULT_NOSNAP_TAG),
        }
    }

    /// A short fingerprint of what decides the policy: the file's bytes, and the command
    /// line's keys and bookmarks where the file's `defaults` do not replace them. Equal on
    /// every node that runs the same policy.
    pub fn hash(&self) -> String {
        let defaults = self.file.as_ref();
        let mut text = String::new();
        if defaults.is_none_or(|f| f.default_keep.is_none()) {
            text.push_str(&format!("cli {} ", self.cli.keep));
        }
        if defaults.is_none_or(|f| f.default_bookmarks.is_none()) {
            match &self.cli.bookmarks {
                None => text.push_str("bookmarks default"),
                Some(BookmarkPolicy::Disabled) => text.push_str("bookmarks none"),
                Some(BookmarkPolicy::Keep(c)) => text.push_str(&format!("bookmarks {c}")),
            }
        }
        if let Some(f) = &self.file {
            text.push_str(&format!(" file {:016x}", f.hash));
        }
        format!("{:016x}", fnv64(text.as_bytes()))
    }

    /// A note when the file's `defaults` overrides the command line's keys, else `None`.
    pub fn override_note(&self) -> Option<String> {
        let (keep, line) = self.file.as_ref()?.default_keep.as_ref()?;
        (keep != &self.cli.keep).then(|| {
            format!(
                "the command line's keys {} are overridden by 'keep {keep}' in {FILE_NAME} \
                 line {line} (the file's defaults win)",
                self.cli.keep
            )
        })
    }

    /// The decision for `disk` of `g` (`None`: the guest as a whole).
    pub fn decide(&self, g: &ClusterGuest, disk: Option<&str>) -> Decision {
        if let Some(tag) = self.nosnap_tag()
            && g.tags.iter().any(|t| t == tag)
        {
            return Decision::Exclude {
                why: format!("tag {tag}"),
            };
        }
        let rules = self.file.as_ref().map_or(&[][..], |f| &f.rules[..]);
        let matching: Vec<&Rule> = rules
            .iter()
            .filter(|r| r.selectors.matches(g, disk))
            .collect();
        let Some(best) = matching.iter().map(|r| r.selectors.rank()).max() else {
            return self.default_decision();
        };
        let top: Vec<&&Rule> = matching
            .iter()
            .filter(|r| r.selectors.rank() == best)
            .collect();
        if let [a, b, ..] = top[..] {
            return Decision::Conflict {
                why: conflict_text(a, b, best),
            };
        }
        let rule = top[0];
        let why = format!(
            "{}; rule {}, line {}",
            rule.selectors.describe(g, disk),
            rule.name,
            rule.line
        );
        match &rule.action {
            Action::Exclude => Decision::Exclude { why },
            Action::Keep(policy) => Decision::Keep {
                bookmarks: self.bookmarks_for(rule.bookmarks.as_ref(), policy),
                policy: policy.clone(),
                why,
            },
        }
    }

    /// No rule matched: the file's `defaults`, else the command line.
    fn default_decision(&self) -> Decision {
        match self.file.as_ref().and_then(|f| f.default_keep.as_ref()) {
            Some((policy, line)) => Decision::Keep {
                bookmarks: self.bookmarks_for(None, policy),
                policy: policy.clone(),
                why: format!("defaults, line {line}"),
            },
            None => Decision::Keep {
                bookmarks: self.bookmarks_for(None, &self.cli.keep),
                policy: self.cli.keep.clone(),
                why: "command line".into(),
            },
        }
    }

    /// Bookmark retention: the rule's, else the file's `defaults`, else the command line's,
    /// else the snapshot counts doubled.
    fn bookmarks_for(&self, rule: Option<&BookmarkPolicy>, policy: &Policy) -> BookmarkPolicy {
        rule.or(self
            .file
            .as_ref()
            .and_then(|f| f.default_bookmarks.as_ref().map(|(b, _)| b)))
            .or(self.cli.bookmarks.as_ref())
            .cloned()
            .unwrap_or_else(|| BookmarkPolicy::default_for(policy))
    }

    /// The decisions for every ZFS disk of `host`'s guests; `pools` are `user.cfg`'s pools
    /// (name → member VMIDs).
    pub fn decide_host(&self, host: &Host, pools: &BTreeMap<String, Vec<u32>>) -> HostDecisions {
        let mut out = HostDecisions::default();
        for guest in &host.guests {
            let g = ClusterGuest::from_guest(guest, &host.node, pools);
            let (line, per_disk) = self.decide_guest(&g);
            for (key, dec) in per_disk {
                out.disks.insert((guest.vmid, key), dec);
            }
            out.guests.insert(guest.vmid, line);
        }
        out
    }

    /// The decision for each disk of `g` (`g.disks`), and one line for the guest: the one
    /// decision of all its disks, or each group of disks with theirs (`scsi0 efidisk0: …;
    /// scsi1: excluded (…)`).
    pub fn decide_guest(&self, g: &ClusterGuest) -> (String, Vec<(String, Decision)>) {
        let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
        let mut per_disk = Vec::new();
        for key in &g.disks {
            let dec = self.decide(g, Some(key));
            let text = dec.to_string();
            match groups.iter_mut().find(|(t, _)| *t == text) {
                Some((_, keys)) => keys.push(key),
                None => groups.push((text, vec![key])),
            }
            per_disk.push((key.clone(), dec));
        }
        let line = match &groups[..] {
            [] => self.decide(g, None).to_string(),
            [(text, _)] => text.clone(),
            _ => groups
                .iter()
                .map(|(t, keys)| format!("{}: {t}", keys.join(" ")))
                .collect::<Vec<_>>()
                .join("; "),
        };
        (line, per_disk)
    }
}

fn conflict_text(a: &Rule, b: &Rule, rank: Rank) -> String {
    let level: Vec<&str> = RANK_NAMES
        .iter()
        .zip(rank)
        .filter(|(_, on)| *on)
        .map(|(n, _)| *n)
        .collect();
    format!(
        "rules {} (line {}) and {} (line {}) both select it at the same precedence ({}); \
         make one more specific (add a vmid or disk selector) or merge them",
        a.name,
        a.line,
        b.name,
        b.line,
        level.join("+")
    )
}

/// FNV-1a, 64 bits: a stable fingerprint (not a security measure).
pub fn fnv64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// `VM 105 db01` / `CT 200`: how outputs name a guest.
pub fn guest_title(kind: GuestKind, vmid: u32, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("{} {vmid} {n}", kind.label()),
        None => format!("{} {vmid}", kind.label()),
    }
}

#[cfg(test)]
mod tests;
