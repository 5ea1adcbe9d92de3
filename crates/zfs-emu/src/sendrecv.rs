//! `zfs send` and `zfs recv` of the emulator: what pvesr-style replication
//! (`zfs send -Rpv -I <last> ds@new | zfs recv -F target`) and a third-site puller
//! (`zfs send [-p] -i ds#bm ds@s`, `-I`, `recv -s`, `send -t <token>`) need, with the
//! kernel's rules for guids, `-F` rollbacks, `-R -F` deletions, received properties and
//! resumable receives (`module/zfs/dmu_recv.c`, `zfs_ioc_recv_impl`,
//! `lib/libzfs/libzfs_sendrecv.c` of OpenZFS 2.1–2.4).
//!
//! The stream is the emulator's own text format, not a ZFS stream: a magic line
//! ([`MAGIC`]), then one JSON record per line: a `begin` (source, kind, `-p`/`-R`
//! properties, the `-R` snapshot list), one `snap` per snapshot (name, guid, creation, the
//! incremental source's guid, and a payload so that a cut stream is cut *inside* a
//! snapshot), and an `end`. It only has to round-trip between emulator processes through a
//! pipe; a truncated stream is detected as the kernel detects one (`incomplete stream`).
//!
//! Pure with respect to the process: the stream comes in as `stdin` and goes out as
//! `stdout`; nothing here prints, reads files or the clock (the [`World`] has the time).
//! Not modelled (refused or documented in the crate README): data (so no "modified since
//! most recent snapshot" without the `dirty` fault), native properties in streams,
//! snapshot properties and holds (`-h`), descendants with `-R`, `recv -d/-e`, clones.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::World;
use super::model::{self, DsKind, NameKind, ResumeState, SnapNode, errno::*, split_name};

type Out = (i32, String, String);

/// First line of every emulator stream.
pub(crate) const MAGIC: &str = "ZFS-EMU-STREAM 1";
/// Payload bytes of one snapshot in a stream (what a cut can land in).
const PAYLOAD: u64 = 4096;

const SEND_USAGE: &str = "usage:\n\tsend [-DLPbcehnpsVvw] [-i|-I snapshot] [-R [-X dataset[,dataset]...]]     <snapshot>\n\tsend [-DnVvPLecw] [-i snapshot|bookmark] <filesystem|volume|snapshot>\n\tsend [-PnVv] -t <receive_resume_token>\n";
const RECV_USAGE: &str = "usage:\n\treceive [-vMnsFhu] [-o <property>=<value>] ... [-x <property>] ...\n\t    <filesystem|volume|snapshot>\n\treceive [-vMnsFhu] [-o <property>=<value>] ... [-x <property>] ... \n\t    [-d | -e] <filesystem>\n\treceive -A <filesystem|volume>\n";

fn err(code: i32, msg: impl Into<String>) -> Out {
    (code, String::new(), msg.into())
}

/// One line of a stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Record {
    Begin(Begin),
    Snap(SnapRec),
    End { count: usize },
}

/// The stream header (the kernel's package header / first BEGIN record).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Begin {
    /// The sending dataset.
    fs: String,
    volume: bool,
    #[serde(default)]
    volsize: Option<u64>,
    /// `-R`: the source's snapshots up to the last one sent (short name, guid): what a
    /// `recv -F` of an incremental replication stream keeps on the target.
    #[serde(default)]
    replicate: Option<Vec<(String, u64)>>,
    /// `-R` with `-i`/`-I`: the incremental source's short name.
    #[serde(default)]
    fromsnap: Option<String>,
    /// `-p`/`-R`: the dataset's own (local or received) user properties; `Some` even when
    /// empty, as the kernel sends an empty list (which still counts as property-carrying).
    #[serde(default)]
    props: Option<BTreeMap<String, String>>,
    #[serde(default)]
    raw: bool,
    /// A `send -t` stream: finishes one partially received snapshot.
    #[serde(default)]
    resuming: bool,
}

/// One snapshot of a stream. `data` comes last so that a cut record still tells which
/// snapshot it was and how far it got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct SnapRec {
    name: String,
    guid: u64,
    creation: i64,
    /// Incremental source (snapshot or bookmark guid); `None`: a full stream.
    fromguid: Option<u64>,
    /// Payload bytes before this record's data (non-zero when resuming).
    offset: u64,
    data: String,
}

/// What a `receive_resume_token` holds (the kernel's token nvlist, reduced).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Token {
    toname: String,
    toguid: u64,
    fromguid: Option<u64>,
    bytes: u64,
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// The `receive_resume_token` value of a dataset with resume state.
pub(crate) fn resume_token(r: &ResumeState) -> String {
    let t = Token {
        toname: r.toname.clone(),
        toguid: r.toguid,
        fromguid: r.fromguid,
        bytes: r.bytes,
    };
    let json = serde_json::to_string(&t).expect("token serialises");
    format!("1-emu-{}", hex(&json))
}

fn parse_token(s: &str) -> Option<Token> {
    serde_json::from_str(&unhex(s.strip_prefix("1-emu-")?)?).ok()
}

/// Human size as `zfs` prints it (`4.50K`).
fn nicenum(n: u64) -> String {
    if n < 1024 {
        return format!("{n}B");
    }
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < 5 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.2}{}", ["B", "K", "M", "G", "T", "P"][unit])
}

/// getopt-style parse: flag characters, options with a value (glued or next), long
/// options mapped to a flag character, positionals. `Err` is the bad option.
struct Opts {
    flags: Vec<char>,
    values: Vec<(char, String)>,
    pos: Vec<String>,
}

fn getopt(
    args: &[String],
    flags: &str,
    with_value: &str,
    long: &[(&str, char)],
) -> Result<Opts, String> {
    let mut o = Opts {
        flags: vec![],
        values: vec![],
        pos: vec![],
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            o.pos.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(l) = a.strip_prefix("--") {
            match long.iter().find(|(n, _)| *n == l) {
                Some((_, c)) => o.flags.push(*c),
                None => return Err(format!("invalid option '{a}'\n")),
            }
            continue;
        }
        if !a.starts_with('-') || a == "-" {
            o.pos.push(a.clone());
            continue;
        }
        let chars: Vec<char> = a[1..].chars().collect();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            j += 1;
            if with_value.contains(c) {
                let v = if j < chars.len() {
                    let v: String = chars[j..].iter().collect();
                    j = chars.len();
                    v
                } else if i < args.len() {
                    i += 1;
                    args[i - 1].clone()
                } else {
                    return Err(format!("missing argument for '{c}' option\n"));
                };
                o.values.push((c, v));
            } else if flags.contains(c) {
                o.flags.push(c);
            } else {
                return Err(format!("invalid option '{c}'\n"));
            }
        }
    }
    Ok(o)
}

impl Opts {
    fn has(&self, c: char) -> bool {
        self.flags.contains(&c)
    }
    fn value(&self, c: char) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(k, _)| *k == c)
            .map(|(_, v)| v.as_str())
    }
}

/// A snapshot or bookmark of the sending dataset used as incremental source.
struct From {
    name: String,
    guid: u64,
    txg: u64,
}

/// `zfs send` (without `argv[0]` and the subcommand): the stream in stdout.
pub(crate) fn send(world: &mut World, args: &[String]) -> Out {
    let o = match getopt(
        args,
        "DLPRbcehnpsVvw",
        "iIt",
        &[
            ("raw", 'w'),
            ("props", 'p'),
            ("replicate", 'R'),
            ("verbose", 'v'),
            ("dryrun", 'n'),
            ("parsable", 'P'),
            ("compressed", 'c'),
            ("large-block", 'L'),
            ("embed", 'e'),
            ("holds", 'h'),
            ("skip-missing", 's'),
        ],
    ) {
        Ok(o) => o,
        Err(e) => return err(2, format!("{e}{SEND_USAGE}")),
    };
    if o.has('b') || o.has('h') {
        return err(
            1,
            "EMULATOR: send -b/-h (received-only properties, holds) are not modelled\n",
        );
    }
    let replicate = o.has('R');
    let props = o.has('p') || replicate;
    let dry = o.has('n');
    let verbose = o.has('v') || o.has('P');
    if let Some(token) = o.value('t') {
        if o.value('i').is_some() || o.value('I').is_some() || replicate || o.has('p') {
            return err(2, format!("invalid flags combined with -t\n{SEND_USAGE}"));
        }
        if !o.pos.is_empty() {
            return err(2, format!("too many arguments\n{SEND_USAGE}"));
        }
        return send_resume(world, token, dry, verbose, o.has('P'));
    }
    let to = match o.pos.as_slice() {
        [] => return err(2, format!("missing snapshot argument\n{SEND_USAGE}")),
        [one] => one.clone(),
        _ => return err(2, format!("too many arguments\n{SEND_USAGE}")),
    };
    let (doall, from_arg) = match (o.value('i'), o.value('I')) {
        (_, Some(f)) => (true, Some(f.to_string())),
        (Some(f), None) => (false, Some(f.to_string())),
        (None, None) => (false, None),
    };
    let NameKind::Snapshot(fs, tosnap) = split_name(&to) else {
        if replicate || doall {
            return err(1, "Error: Unsupported flag with filesystem or bookmark.\n");
        }
        return err(
            1,
            format!("cannot send '{to}': EMULATOR: only snapshots can be sent\n"),
        );
    };
    let Some(node) = world.pool(fs).and_then(|p| p.ds(fs)) else {
        return err(1, format!("cannot open '{to}': dataset does not exist\n"));
    };
    let Some(tonode) = node.snapshots.get(tosnap) else {
        return err(1, format!("cannot open '{to}': dataset does not exist\n"));
    };
    if replicate && world.pool(fs).is_some_and(|p| !p.children(fs).is_empty()) {
        return err(
            1,
            format!(
                "cannot send '{to}': EMULATOR: send -R of a dataset with descendants is not modelled\n"
            ),
        );
    }
    let mut warn = String::new();
    let from = match from_arg {
        None => None,
        Some(f) => {
            let full = if f.starts_with('@') || f.starts_with('#') {
                format!("{fs}{f}")
            } else if !f.contains(['@', '#']) {
                if !(replicate || doall) {
                    warn.push_str("Warning: incremental source didn't specify type, assuming snapshot. Use '@' or '#' prefix to avoid ambiguity.\n");
                }
                format!("{fs}@{f}")
            } else {
                f
            };
            if (replicate || doall) && full.contains('#') {
                return err(
                    1,
                    format!("{warn}Error: multiple snapshots cannot be sent from a bookmark.\n"),
                );
            }
            let found = match split_name(&full) {
                NameKind::Snapshot(fds, fsn) if fds == fs => {
                    node.snapshots.get(fsn).map(|s| From {
                        name: full.clone(),
                        guid: s.guid,
                        txg: s.createtxg,
                    })
                }
                NameKind::Bookmark(fds, fb) if fds == fs => node.bookmarks.get(fb).map(|b| From {
                    name: full.clone(),
                    guid: b.guid,
                    txg: b.createtxg,
                }),
                _ => {
                    return err(
                        1,
                        format!(
                            "{warn}warning: cannot send '{to}': not an earlier snapshot from the same fs\n"
                        ),
                    );
                }
            };
            let Some(found) = found else {
                return err(
                    1,
                    format!(
                        "{warn}warning: cannot send '{to}': incremental source ({full}) does not exist\n"
                    ),
                );
            };
            if found.txg >= tonode.createtxg {
                // `-I`/`-R` walk the snapshots up to the target (libzfs' dump_filesystem): a
                // source after it is never seen (checked on 2.4.4; the same code in 2.1 and 2.3).
                if replicate || doall {
                    return err(
                        1,
                        format!(
                            "{warn}WARNING: could not send {to}:\nincremental source ({full}) does not exist\n"
                        ),
                    );
                }
                return err(
                    1,
                    format!(
                        "{warn}warning: cannot send '{to}': not an earlier snapshot from the same fs\n"
                    ),
                );
            }
            Some(found)
        }
    };
    // The snapshots the stream carries, oldest first, each with its incremental source.
    let mut by_txg: Vec<(&String, &SnapNode)> = node.snapshots.iter().collect();
    by_txg.sort_by_key(|(n, s)| (s.createtxg, (*n).clone()));
    let picked: Vec<(&String, &SnapNode)> = match (&from, doall || (replicate && from.is_none())) {
        (Some(f), true) => by_txg
            .iter()
            .filter(|(_, s)| s.createtxg > f.txg && s.createtxg <= tonode.createtxg)
            .cloned()
            .collect(),
        (None, true) => by_txg
            .iter()
            .filter(|(_, s)| s.createtxg <= tonode.createtxg)
            .cloned()
            .collect(),
        (_, false) => by_txg
            .iter()
            .filter(|(n, _)| n.as_str() == tosnap)
            .cloned()
            .collect(),
    };
    let mut prev = from.as_ref().map(|f| f.guid);
    let mut recs = Vec::new();
    for (name, s) in &picked {
        recs.push(SnapRec {
            name: (*name).clone(),
            guid: s.guid,
            creation: s.creation,
            fromguid: prev,
            offset: 0,
            data: "x".repeat(PAYLOAD as usize),
        });
        prev = Some(s.guid);
    }
    let begin = Begin {
        fs: fs.to_string(),
        volume: node.kind == DsKind::Volume,
        volsize: node.volsize,
        replicate: replicate.then(|| {
            by_txg
                .iter()
                .filter(|(_, s)| s.createtxg <= tonode.createtxg)
                .map(|(n, s)| ((*n).clone(), s.guid))
                .collect()
        }),
        fromsnap: if replicate {
            from.as_ref().map(|f| {
                f.name
                    .rsplit(['@', '#'])
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
        } else {
            None
        },
        props: props.then(|| own_user_props(node)),
        raw: o.has('w'),
        resuming: false,
    };
    // Verbose estimate (stderr, or stdout with -n as the stream is not written then).
    let mut info = String::new();
    if verbose {
        let mut prev_name = from.as_ref().map(|f| f.name.clone());
        for r in &recs {
            let full = format!("{fs}@{}", r.name);
            match (&prev_name, o.has('P')) {
                (None, true) => info.push_str(&format!("full\t{full}\t{PAYLOAD}\n")),
                (None, false) => info.push_str(&format!(
                    "full send of {full} estimated size is {}\n",
                    nicenum(PAYLOAD)
                )),
                (Some(p), true) => info.push_str(&format!(
                    "incremental\t{}\t{full}\t{PAYLOAD}\n",
                    short_of(p)
                )),
                (Some(p), false) => info.push_str(&format!(
                    "send from {} to {full} estimated size is {}\n",
                    short_of(p),
                    nicenum(PAYLOAD)
                )),
            }
            prev_name = Some(full);
        }
        let total = PAYLOAD * recs.len() as u64;
        if o.has('P') {
            info.push_str(&format!("size\t{total}\n"));
        } else {
            info.push_str(&format!("total estimated size is {}\n", nicenum(total)));
        }
    }
    if dry {
        return (0, info, warn);
    }
    let cut = world.faults().and_then(|f| f.send_cut(fs));
    let mut stream = format!("{MAGIC}\n");
    push_record(&mut stream, &Record::Begin(begin));
    let count = recs.len();
    for (i, r) in recs.into_iter().enumerate() {
        if cut == Some(i as u64) {
            let line = record_line(&Record::Snap(r.clone()));
            let half = line.len() - (PAYLOAD as usize) / 2;
            stream.push_str(&line[..half]);
            return (
                1,
                stream,
                format!(
                    "{warn}{info}warning: cannot send '{fs}@{}': Input/output error\n",
                    r.name
                ),
            );
        }
        push_record(&mut stream, &Record::Snap(r));
    }
    push_record(&mut stream, &Record::End { count });
    (0, stream, format!("{warn}{info}"))
}

/// `@snap` or `#bm` of a full name, as `zfs send -v` prints the incremental source.
fn short_of(full: &str) -> String {
    match full.find(['@', '#']) {
        Some(i) => full[i..].to_string(),
        None => full.to_string(),
    }
}

/// The user properties `-p` sends: the ones set on the dataset itself, local or received
/// (local wins), never inherited ones (`send_iterate_prop`).
fn own_user_props(node: &model::DatasetNode) -> BTreeMap<String, String> {
    let mut out = node.received_props.clone();
    out.extend(node.user_props.clone());
    out
}

fn record_line(r: &Record) -> String {
    let mut s = serde_json::to_string(r).expect("records serialise");
    s.push('\n');
    s
}

fn push_record(stream: &mut String, r: &Record) {
    stream.push_str(&record_line(r));
}

/// `zfs send -t <token>`: the rest of one partially received snapshot.
fn send_resume(world: &World, token: &str, dry: bool, verbose: bool, parsable: bool) -> Out {
    let Some(t) = parse_token(token) else {
        return err(
            1,
            "cannot resume send: resume token is corrupt (invalid format)\n",
        );
    };
    let NameKind::Snapshot(fs, _) = split_name(&t.toname) else {
        return err(
            1,
            "cannot resume send: resume token is corrupt (invalid format)\n",
        );
    };
    let node = world.pool(fs).and_then(|p| p.ds(fs));
    let found = node.and_then(|n| n.snapshots.iter().find(|(_, s)| s.guid == t.toguid));
    let Some((name, snap)) = found else {
        let exists = world.pool(fs).is_some_and(|p| p.snap(&t.toname).is_some());
        let why = if exists {
            format!(
                "'{}' is no longer the same snapshot used in the initial send",
                t.toname
            )
        } else {
            format!("'{}' used in the initial send no longer exists", t.toname)
        };
        return err(1, format!("cannot resume send: {why}\n"));
    };
    let node = node.expect("found in it");
    if let Some(g) = t.fromguid {
        let has = node.snapshots.values().any(|s| s.guid == g)
            || node.bookmarks.values().any(|b| b.guid == g);
        if !has {
            return err(
                1,
                format!("cannot resume send: incremental source {g:#x} no longer exists\n"),
            );
        }
    }
    let rest = PAYLOAD.saturating_sub(t.bytes);
    let mut info = String::new();
    if verbose {
        let full = format!("{fs}@{name}");
        if parsable {
            info.push_str(&format!("resume\t{full}\t{rest}\nsize\t{rest}\n"));
        } else {
            info.push_str(&format!(
                "resume send of {full} estimated size is {}\ntotal estimated size is {}\n",
                nicenum(rest),
                nicenum(rest)
            ));
        }
    }
    if dry {
        return (0, info, String::new());
    }
    let mut stream = format!("{MAGIC}\n");
    push_record(
        &mut stream,
        &Record::Begin(Begin {
            fs: fs.to_string(),
            volume: node.kind == DsKind::Volume,
            volsize: node.volsize,
            replicate: None,
            fromsnap: None,
            props: None,
            raw: false,
            resuming: true,
        }),
    );
    push_record(
        &mut stream,
        &Record::Snap(SnapRec {
            name: name.clone(),
            guid: snap.guid,
            creation: snap.creation,
            fromguid: t.fromguid,
            offset: t.bytes,
            data: "x".repeat(rest as usize),
        }),
    );
    push_record(&mut stream, &Record::End { count: 1 });
    (0, stream, info)
}

/// A stream as read by `zfs recv`: complete snapshot records, and where it broke off.
struct Parsed {
    begin: Begin,
    snaps: Vec<SnapRec>,
    /// The stream ended inside this snapshot (with this many payload bytes of it).
    cut: Option<(SnapRec, u64)>,
    /// The `end` record arrived.
    ended: bool,
}

/// `sizeof (dmu_replay_record_t)`: what `zfs recv` reads before it looks at the magic.
const DRR_SIZE: usize = 312;

const READ_FAILED: &str = "cannot receive: failed to read from stream\n";

fn parse_stream(input: &str) -> Result<Parsed, Out> {
    if input.is_empty() {
        return Err(err(1, READ_FAILED));
    }
    let mut lines = input.split_inclusive('\n');
    match lines.next() {
        Some(l) if l == format!("{MAGIC}\n") => {}
        Some(l) if format!("{MAGIC}\n").starts_with(l) => return Err(err(1, READ_FAILED)),
        // Shorter than the kernel's first record (312 bytes): nothing to check a magic in.
        _ if input.len() < DRR_SIZE => return Err(err(1, READ_FAILED)),
        _ => {
            return Err(err(
                1,
                "cannot receive: invalid stream (bad magic number)\n",
            ));
        }
    }
    let begin = match lines.next().map(serde_json::from_str::<Record>) {
        Some(Ok(Record::Begin(b))) => b,
        _ => return Err(err(1, READ_FAILED)),
    };
    let mut p = Parsed {
        begin,
        snaps: vec![],
        cut: None,
        ended: false,
    };
    for line in lines {
        if !line.ends_with('\n') {
            // A cut record: the part before the payload names the snapshot.
            const DATA: &str = ",\"data\":\"";
            if let Some(i) = line.find(DATA)
                && let Ok(Record::Snap(rec)) =
                    serde_json::from_str::<Record>(&format!("{}{DATA}\"}}}}", &line[..i]))
            {
                let got = line[i + DATA.len()..].trim_end_matches(['"', '}']).len() as u64;
                let bytes = rec.offset + got;
                p.cut = Some((rec, bytes));
            }
            return Ok(p);
        }
        match serde_json::from_str::<Record>(line) {
            Ok(Record::Snap(s)) => p.snaps.push(s),
            Ok(Record::End { .. }) => {
                p.ended = true;
                return Ok(p);
            }
            _ => return Err(err(1, READ_FAILED)),
        }
    }
    Ok(p)
}

/// `zfs recv` options.
struct RecvOpts {
    force: bool,
    resumable: bool,
    dry: bool,
    verbose: bool,
    /// `-u`: a received filesystem is not mounted.
    nomount: bool,
    set: Vec<(String, String)>,
    exclude: Vec<String>,
}

/// `zfs recv`/`zfs receive` (without `argv[0]` and the subcommand), the stream in `stdin`.
pub(crate) fn recv(world: &mut World, args: &[String], stdin: &str) -> Out {
    let o = match getopt(args, "AFMhnsuv", "oxde", &[]) {
        Ok(o) => o,
        Err(e) => return err(2, format!("{e}{RECV_USAGE}")),
    };
    if o.value('d').is_some() || o.value('e').is_some() || o.has('h') || o.has('M') {
        return err(
            1,
            "EMULATOR: receive -d/-e/-h/-M are not modelled (receive into the dataset named)\n",
        );
    }
    let target = match o.pos.as_slice() {
        [t] => t.clone(),
        [] => return err(2, format!("missing snapshot argument\n{RECV_USAGE}")),
        _ => return err(2, format!("too many arguments\n{RECV_USAGE}")),
    };
    if o.has('A') {
        return abort(world, &target);
    }
    let mut set = Vec::new();
    let mut exclude = Vec::new();
    for (c, v) in &o.values {
        match c {
            'o' => match v.split_once('=') {
                Some((p, val)) if model::is_user_prop(p) => {
                    set.push((p.to_string(), val.to_string()));
                }
                Some((p, _)) => {
                    return err(
                        1,
                        format!(
                            "cannot receive: EMULATOR: -o {p}: only user properties are modelled\n"
                        ),
                    );
                }
                None => {
                    return err(
                        2,
                        format!("missing '=' for property argument\n{RECV_USAGE}"),
                    );
                }
            },
            _ => exclude.push(v.clone()),
        }
    }
    let opts = RecvOpts {
        force: o.has('F'),
        resumable: o.has('s'),
        dry: o.has('n'),
        verbose: o.has('v'),
        nomount: o.has('u'),
        set,
        exclude,
    };
    if !matches!(split_name(&target), NameKind::Dataset(_)) {
        return err(
            1,
            format!(
                "cannot receive: EMULATOR: receive into '{target}': name the target filesystem or volume\n"
            ),
        );
    }
    if world.pool(&target).is_none() {
        return err(
            1,
            format!(
                "cannot open '{}': dataset does not exist\n",
                model::pool_of(&target)
            ),
        );
    }
    let mut parsed = match parse_stream(stdin) {
        Ok(p) => p,
        Err(e) => return e,
    };
    // recv-cut: the stream ends inside the (N+1)-th snapshot.
    if let Some(n) = world.faults().and_then(|f| f.recv_cut(&target))
        && (n as usize) < parsed.snaps.len()
    {
        let rec = parsed.snaps[n as usize].clone();
        parsed.snaps.truncate(n as usize);
        let bytes = rec.offset + (rec.data.len() as u64) / 2;
        parsed.cut = Some((rec, bytes));
        parsed.ended = false;
    }
    let mut out = String::new();
    let mut errs = String::new();
    if parsed.begin.resuming {
        return recv_resume(world, &target, &parsed, &opts);
    }
    // `-R -F` of an incremental stream: first destroy the target's snapshots the source no
    // longer has (`recv_incremental_replication`: by guid, over all of the target's
    // snapshots, the ones newer than the stream included).
    let mut soft_error = false;
    if let (Some(list), Some(_), true, false) = (
        &parsed.begin.replicate,
        &parsed.begin.fromsnap,
        opts.force,
        opts.dry,
    ) && let Some(node) = world.pool(&target).and_then(|p| p.ds(&target))
    {
        let gone: Vec<String> = node
            .snapshots
            .iter()
            .filter(|(_, s)| !list.iter().any(|(_, g)| *g == s.guid))
            .map(|(n, _)| n.clone())
            .collect();
        let now = world.now();
        world.txg += 1;
        let pool = world
            .pools
            .get_mut(model::pool_of(&target))
            .expect("checked");
        for n in gone {
            let full = format!("{target}@{n}");
            match model::destroy_snapshot(pool, &full, false, now, false) {
                0 => {
                    if opts.verbose {
                        out.push_str(&format!("attempting destroy {full}\nsuccess\n"));
                    }
                }
                e => {
                    soft_error = true;
                    let why = if e == EBUSY {
                        "dataset is busy"
                    } else {
                        "snapshot has dependent clones"
                    };
                    errs.push_str(&format!("cannot destroy '{full}': {why}\n"));
                }
            }
        }
    }
    for rec in &parsed.snaps {
        match recv_one(world, &target, &parsed.begin, rec, None, &opts) {
            Ok(msg) => out.push_str(&msg),
            Err((code, o2, e2)) => {
                out.push_str(&o2);
                errs.push_str(&e2);
                return (code, out, errs);
            }
        }
    }
    if let Some((rec, bytes)) = &parsed.cut {
        let (code, o2, e2) = match recv_one(world, &target, &parsed.begin, rec, Some(*bytes), &opts)
        {
            Ok(m) => (0, m, String::new()),
            Err(e) => e,
        };
        out.push_str(&o2);
        errs.push_str(&e2);
        return (if code == 0 { 1 } else { code }, out, errs);
    }
    if !parsed.ended {
        errs.push_str(READ_FAILED);
        return (1, out, errs);
    }
    (i32::from(soft_error), out, errs)
}

/// What the kernel calls the stream kind in its messages.
fn what(rec: &SnapRec, resuming: bool) -> &'static str {
    if resuming {
        "cannot receive resume stream"
    } else if rec.fromguid.is_none() {
        "cannot receive new filesystem stream"
    } else {
        "cannot receive incremental stream"
    }
}

/// Receives one snapshot record into `target` (`zfs_receive_one` + `dmu_recv_*`);
/// `cut = Some(bytes)`: the stream ends inside it. Ok: the verbose lines.
fn recv_one(
    world: &mut World,
    target: &str,
    begin: &Begin,
    rec: &SnapRec,
    cut: Option<u64>,
    o: &RecvOpts,
) -> Result<String, Out> {
    let kind = what(rec, begin.resuming);
    let fail = |msg: String| Err((1, String::new(), format!("{kind}: {msg}\n")));
    let newfs_stream = rec.fromguid.is_none();
    let toname = format!("{}@{}", begin.fs, rec.name);
    let destsnap = format!("{target}@{}", rec.name);
    let pool_name = model::pool_of(target).to_string();
    let node = world.pool(target).and_then(|p| p.ds(target));
    let mut later: Vec<String> = Vec::new();
    if let Some(node) = node {
        if newfs_stream && !begin.resuming {
            if !o.force {
                return fail(format!(
                    "destination '{target}' exists\nmust specify -F to overwrite it"
                ));
            }
            if let Some((n, _)) = node.snapshots.iter().min_by_key(|(_, s)| s.createtxg) {
                return fail(format!(
                    "destination has snapshots (eg. {target}@{n})\nmust destroy them to overwrite it"
                ));
            }
            if node.origin.is_some() {
                return fail(format!(
                    "destination '{target}' is a clone\nmust destroy it to overwrite it"
                ));
            }
        }
        if !begin.resuming && node.resume.is_some() {
            return fail(format!(
                "destination {target} contains partially-complete state from \"zfs receive -s\"."
            ));
        }
        if begin.resuming {
            match &node.resume {
                Some(r) if r.toguid == rec.guid => {
                    if !r.newfs && newfs_stream && !o.force {
                        return fail(format!(
                            "Resuming recv on existing destination '{target}'\nmust specify -F to overwrite it"
                        ));
                    }
                }
                _ => {
                    return fail(if o.resumable {
                        "kernel modules must be upgraded to receive this stream.".into()
                    } else {
                        "invalid backup stream".into()
                    });
                }
            }
        } else if node.snapshots.contains_key(&rec.name) {
            // 2.1 refuses the snapshot it already has (checked on 2.1.11, case 305); 2.3 and
            // 2.4 skip it by guid (2.2 not checked: assumed as 2.3).
            if !world.version.at_least(2, 2) {
                return Err((
                    1,
                    String::new(),
                    format!(
                        "cannot receive: failed to read from stream\ncannot restore to {destsnap}: destination already exists\n"
                    ),
                ));
            }
            if node.snapshots.values().any(|s| s.guid == rec.guid) {
                return Ok(if o.verbose {
                    format!("snap {destsnap} already exists; ignoring\n")
                } else {
                    String::new()
                });
            }
            return Err((
                1,
                String::new(),
                format!("cannot restore to {destsnap}: destination already exists\n"),
            ));
        }
        if let Some(fromguid) = rec.fromguid {
            let Some(from) = node.snapshots.values().find(|s| s.guid == fromguid) else {
                return fail(format!(
                    "most recent snapshot of {target} does not\nmatch incremental source"
                ));
            };
            if o.force {
                later = node
                    .snapshots
                    .iter()
                    .filter(|(_, s)| s.createtxg > from.createtxg)
                    .map(|(n, _)| n.clone())
                    .collect();
            } else if world.faults().is_some_and(|f| f.dirty(target)) {
                return fail(format!(
                    "destination {target} has been modified\nsince most recent snapshot"
                ));
            }
        }
    } else {
        if !newfs_stream || !target.contains('/') {
            return fail(format!("destination '{target}' does not exist"));
        }
        let parent = model::parent_of(target).expect("has a /");
        match world.pool(target).and_then(|p| p.ds(parent)) {
            None => {
                return Err((
                    1,
                    String::new(),
                    format!(
                        "cannot open '{parent}': dataset does not exist\n{kind}: unable to restore to destination\n"
                    ),
                ));
            }
            Some(p) if p.kind == DsKind::Volume => {
                return fail(format!("parent '{parent}' is not a filesystem"));
            }
            Some(_) => {}
        }
    }
    let mut msg = String::new();
    if o.verbose {
        msg.push_str(&format!(
            "{} {} stream of {toname} into {destsnap}\n",
            if o.dry { "would receive" } else { "receiving" },
            if newfs_stream { "full" } else { "incremental" }
        ));
    }
    if o.dry {
        return Ok(msg);
    }
    // -F: the snapshots after the incremental source go (checked before any change).
    if cut.is_none() {
        let pool = world.pools.get(&pool_name).expect("checked");
        for n in &later {
            let s = pool.snap(&format!("{target}@{n}")).expect("listed");
            if !s.holds.is_empty() || !s.clones.is_empty() {
                return fail("dataset is busy".into());
            }
        }
    }
    let existed = node.is_some();
    // The receive begins in one txg (creating the dataset, or its `%recv` clone) and ends,
    // taking the snapshot, in a later one.
    let st = world.stamp();
    let end = world.stamp();
    let now = end.now;
    let pool = world.pools.get_mut(&pool_name).expect("checked");
    if !existed {
        let kind = if begin.volume {
            DsKind::Volume
        } else {
            DsKind::Filesystem
        };
        let mut n = super::new_node(kind, st, begin.volsize);
        n.mounted = kind == DsKind::Filesystem && !o.nomount;
        pool.datasets.insert(target.to_string(), n);
    }
    let newfs_now = !existed
        || pool
            .ds(target)
            .and_then(|n| n.resume.as_ref())
            .is_some_and(|r| r.newfs);
    let node = pool.datasets.get_mut(target).expect("exists now");
    if let Some(bytes) = cut {
        if !o.resumable {
            if !existed {
                pool.datasets.remove(target);
            }
            return fail("incomplete stream".into());
        }
        node.resume = Some(ResumeState {
            toname,
            toguid: rec.guid,
            fromguid: rec.fromguid,
            bytes,
            newfs: newfs_now,
        });
        if !existed && !begin.resuming {
            apply_props(node, begin, o, true);
        }
        let token = resume_token(node.resume.as_ref().expect("set"));
        return Err((
            1,
            msg,
            format!(
                "{kind}: checksum mismatch or incomplete stream.\nPartially received snapshot is saved.\nA resuming stream can be generated on the sending system by running:\n    zfs send -t {token}\n"
            ),
        ));
    }
    for n in &later {
        node.snapshots.remove(n);
    }
    if !begin.resuming {
        apply_props(node, begin, o, !existed);
    }
    node.resume = None;
    node.last_snap_txg = end.txg;
    node.snapshots.insert(
        rec.name.clone(),
        SnapNode {
            createtxg: end.txg,
            creation: rec.creation,
            guid: rec.guid,
            user_props: BTreeMap::new(),
            holds: BTreeMap::new(),
            clones: Default::default(),
            defer_destroy: false,
        },
    );
    node.snapshots_changed = now;
    if o.verbose {
        let size = rec.data.len() as u64;
        msg.push_str(&format!(
            "received {} stream in 1 seconds ({}/sec)\n",
            nicenum(size),
            nicenum(size)
        ));
    }
    Ok(msg)
}

/// Properties of one received snapshot (`zfs_ioc_recv_impl`): a property-carrying stream
/// (`-p`/`-R`) into an existing dataset that never received properties first clears all its
/// local properties; otherwise the received set replaces the previous received set and local
/// values stay. `-x` keeps a property out (and clears its local value, as `zfs inherit`),
/// `-o` sets a local value.
fn apply_props(node: &mut model::DatasetNode, begin: &Begin, o: &RecvOpts, newfs: bool) {
    if let Some(props) = &begin.props {
        if !newfs && !node.has_recvd {
            node.user_props.clear();
            node.native_props.clear();
        }
        node.received_props = props
            .iter()
            .filter(|(k, _)| !o.exclude.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        node.has_recvd = true;
    }
    for x in &o.exclude {
        node.user_props.remove(x);
    }
    for (k, v) in &o.set {
        node.user_props.insert(k.clone(), v.clone());
    }
}

/// Receives a `send -t` stream: finishes the partially received snapshot.
fn recv_resume(world: &mut World, target: &str, p: &Parsed, o: &RecvOpts) -> Out {
    let Some(node) = world.pool(target).and_then(|n| n.ds(target)) else {
        return err(
            1,
            format!("cannot receive resume stream: destination '{target}' does not exist\n"),
        );
    };
    let _ = node;
    let (rec, cut) = match (p.snaps.first(), &p.cut) {
        (Some(r), _) => (r.clone(), None),
        (None, Some((r, b))) => (r.clone(), Some(*b)),
        (None, None) => return err(1, READ_FAILED),
    };
    match recv_one(world, target, &p.begin, &rec, cut, o) {
        Ok(m) if cut.is_none() && p.ended => (0, m, String::new()),
        Ok(m) => (1, m, READ_FAILED.to_string()),
        Err(e) => e,
    }
}

/// `zfs recv -A <fs>`: drops a partially received snapshot (a dataset the receive created
/// goes with it).
fn abort(world: &mut World, target: &str) -> Out {
    let Some(node) = world.pool(target).and_then(|p| p.ds(target)) else {
        return err(
            1,
            format!("cannot open '{target}': dataset does not exist\n{RECV_USAGE}"),
        );
    };
    let Some(r) = node.resume.clone() else {
        return err(
            1,
            format!("'{target}' does not have any resumable receive state to abort\n"),
        );
    };
    world.stamp();
    let pool = world
        .pools
        .get_mut(model::pool_of(target))
        .expect("checked");
    if r.newfs && pool.ds(target).is_some_and(|n| n.snapshots.is_empty()) {
        pool.datasets.remove(target);
    } else if let Some(n) = pool.datasets.get_mut(target) {
        n.resume = None;
    }
    (0, String::new(), String::new())
}

#[cfg(test)]
mod tests;
