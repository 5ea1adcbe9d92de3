//! Guest config files (`qemu-server/<vmid>.conf`, `lxc/<vmid>.conf`): the main section's
//! key/value lines and the disk entries among them.
//!
//! Pure: parses strings, returns values or reasons; no I/O, no logging.

use super::GuestKind;

/// A line of the main section that matches neither the key syntax nor a comment. PVE warns
/// about such a line and ignores it; so do we ([`MainSection::ignored`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ConfigSyntaxError {
    /// 1-based line number.
    pub line: usize,
    /// The offending line.
    pub text: String,
}

/// The main section of a guest config, in file order (a repeated key keeps its first position
/// and its last value, as PVE's parser keeps the last value).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MainSection {
    /// `(key, value)` pairs; `#` description lines and raw `lxc.*` lines are not included.
    pub entries: Vec<(String, String)>,
    /// Lines PVE's own parser would not understand either: skipped with a warning, as PVE
    /// skips them (`unable to parse config: …`), so the rest of the guest is still served.
    pub ignored: Vec<ConfigSyntaxError>,
}

impl MainSection {
    /// Parses the main section: everything before the first `[section]` line. Blank lines and
    /// `#` description lines are skipped; key lines follow PVE's regexes
    /// (qemu `^[a-z][a-z_-]*\d*:\s*(.+?)\s*$`, lxc `^[a-z][a-z_]*\d*:…` plus raw
    /// `lxc.key: value` / `lxc.key = value` lines). Any other line is what PVE's
    /// `parse_vm_config`/`parse_pct_config` warn about and skip: it goes to
    /// [`MainSection::ignored`] and parsing goes on. A UTF-8 byte-order mark at the start is
    /// dropped (callers decode bytes lossily: comments are free text, any bytes).
    pub fn parse(text: &str, kind: GuestKind) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut entries: Vec<(String, String)> = Vec::new();
        let mut ignored = Vec::new();
        for (idx, raw) in text.lines().enumerate() {
            let line = raw.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with('[') && line.trim_end().ends_with(']') {
                break;
            }
            if kind == GuestKind::Lxc && is_raw_lxc_line(line) {
                continue;
            }
            match split_key_line(line, kind) {
                Some((key, value)) => {
                    if let Some(slot) = entries.iter_mut().find(|(k, _)| k == key) {
                        slot.1 = value.to_string();
                    } else {
                        entries.push((key.to_string(), value.to_string()));
                    }
                }
                None => ignored.push(ConfigSyntaxError {
                    line: idx + 1,
                    text: line.to_string(),
                }),
            }
        }
        MainSection { entries, ignored }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `name:` (VM) or `hostname:` (CT).
    pub fn guest_name(&self) -> Option<&str> {
        self.get("name")
            .or_else(|| self.get("hostname"))
            .filter(|n| !n.is_empty())
    }

    /// `tags:`, split as PVE splits them (`;`, `,` or white space), lowercased, empty items
    /// dropped.
    pub fn tags(&self) -> Vec<String> {
        self.get("tags")
            .unwrap_or_default()
            .split(|c: char| c == ';' || c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
            .map(str::to_ascii_lowercase)
            .collect()
    }

    /// `template: 1` (PVE booleans: `1`, `yes`, `on`, `true`).
    pub fn template(&self) -> bool {
        self.get("template")
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "yes" | "on" | "true"))
    }

    /// The `lock:` value.
    pub fn lock(&self) -> Option<&str> {
        self.get("lock")
    }
}

/// `key: value` with PVE's key syntax; value trimmed and non-empty.
fn split_key_line(line: &str, kind: GuestKind) -> Option<(&str, &str)> {
    let (key, value) = line.split_once(':')?;
    let value = value.trim();
    if value.is_empty() || !is_key(key, kind) {
        return None;
    }
    Some((key, value))
}

/// `[a-z][a-z_-]*\d*` (qemu) or `[a-z][a-z_]*\d*` (lxc).
fn is_key(key: &str, kind: GuestKind) -> bool {
    let letters_end = key.find(|c: char| c.is_ascii_digit()).unwrap_or(key.len());
    let (letters, digits) = key.split_at(letters_end);
    let mut chars = letters.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c == '_' || (c == '-' && kind == GuestKind::Qemu))
        && digits.chars().all(|c| c.is_ascii_digit())
}

/// `lxc.<key>: value` or `lxc.<key> = value`, key chars `[a-z0-9_.-]`.
fn is_raw_lxc_line(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("lxc.") else {
        return false;
    };
    let key_end = rest
        .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c)))
        .unwrap_or(rest.len());
    key_end > 0 && {
        let after = rest[key_end..].trim_start();
        after.starts_with(':') || after.starts_with('=')
    }
}

/// Whether `key` names a disk of this guest kind (not `unusedN`).
pub fn is_disk_key(key: &str, kind: GuestKind) -> bool {
    let (prefix, max): (&str, u32) = match kind {
        GuestKind::Qemu => {
            if key == "efidisk0" || key == "tpmstate0" {
                return true;
            }
            let Some(p) = ["ide", "sata", "scsi", "virtio"]
                .into_iter()
                .find(|p| key.starts_with(p))
            else {
                return false;
            };
            let max = match p {
                "ide" => 3,
                "sata" => 5,
                "scsi" => 30,
                _ => 15,
            };
            (p, max)
        }
        GuestKind::Lxc => {
            if key == "rootfs" {
                return true;
            }
            ("mp", 255)
        }
    };
    let Some(num) = key.strip_prefix(prefix) else {
        return false;
    };
    !num.is_empty()
        && num.bytes().all(|c| c.is_ascii_digit())
        && (num == "0" || !num.starts_with('0'))
        && num.parse::<u32>().is_ok_and(|n| n <= max)
}

/// What a disk line's value refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiskTarget {
    /// A storage volume `storeid:volname`.
    Volume {
        /// Storage id.
        storage: String,
        /// Volume name within the storage.
        volname: String,
    },
    /// Not a snapshot candidate, silently: CD-ROM/cloud-init, `none`, passthrough device,
    /// bind mount.
    Ignored(&'static str),
    /// Not understood: the caller reports it.
    Unrecognized(String),
}

/// Classifies a disk value (`local-zfs:vm-100-disk-0,iothread=1,size=32G`): the volume is the
/// first positional item or `file=`/`volume=`; `media=cdrom`, `none`, and absolute paths are
/// ignored.
pub fn disk_target(value: &str) -> DiskTarget {
    let items = split_property_string(value);
    let mut volume: Option<&str> = None;
    let mut cdrom = false;
    for (i, item) in items.iter().enumerate() {
        match item.split_once('=') {
            None if i == 0 => volume = Some(item),
            None => {}
            Some(("file" | "volume", v)) => volume = Some(v),
            Some(("media", v)) => cdrom |= v == "cdrom",
            Some(_) => {}
        }
    }
    if cdrom {
        return DiskTarget::Ignored("CD-ROM");
    }
    let Some(volume) = volume.map(|v| v.trim_matches('"')) else {
        return DiskTarget::Unrecognized(format!("no volume in {value:?}"));
    };
    if volume == "none" {
        return DiskTarget::Ignored("no medium");
    }
    if volume.starts_with("/dev/") {
        return DiskTarget::Ignored("device passthrough");
    }
    if volume.starts_with('/') {
        return DiskTarget::Ignored("bind mount or host path");
    }
    match super::storage::split_volume_id(volume) {
        Some((storage, volname)) => DiskTarget::Volume {
            storage: storage.to_string(),
            volname: volname.to_string(),
        },
        None => DiskTarget::Unrecognized(format!("{volume:?} is not a storage volume id")),
    }
}

/// Splits a PVE property string at commas that are not inside double quotes.
fn split_property_string(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.retain(|p| !p.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use GuestKind::{Lxc, Qemu};

    #[test]
    fn line_parsing_table() {
        // (kind, line, Some((key, value)) = key line, None = malformed)
        type Case<'a> = (GuestKind, &'a str, Option<(&'a str, &'a str)>);
        let cases: &[Case] = &[
            (
                Qemu,
                "scsi0: local-zfs:vm-100-disk-0,size=32G",
                Some(("scsi0", "local-zfs:vm-100-disk-0,size=32G")),
            ),
            (
                Qemu,
                "boot: order=scsi0;net0   ",
                Some(("boot", "order=scsi0;net0")),
            ),
            (Qemu, "vmgenid:abc", Some(("vmgenid", "abc"))),
            (
                Qemu,
                "pre-enrolled-keys: 1",
                Some(("pre-enrolled-keys", "1")),
            ),
            (Qemu, "template: 1", Some(("template", "1"))),
            (Qemu, "Scsi0: x", None),
            (Qemu, " scsi0: x", None),
            (Qemu, "scsi0:", None),
            (Qemu, "scsi0:    ", None),
            (Qemu, "scsi0 x", None),
            (Qemu, "0scsi: x", None),
            (Qemu, "scsi0a: x", None),
            (
                Lxc,
                "rootfs: local-zfs:subvol-200-disk-0,size=8G",
                Some(("rootfs", "local-zfs:subvol-200-disk-0,size=8G")),
            ),
            (Lxc, "mp12: /mnt/a,mp=/a", Some(("mp12", "/mnt/a,mp=/a"))),
            (Lxc, "net-0: x", None),
        ];
        for (kind, line, want) in cases {
            let got = MainSection::parse(line, *kind);
            match want {
                Some((k, v)) => {
                    assert!(got.ignored.is_empty(), "{line:?}: {:?}", got.ignored);
                    assert_eq!(
                        got.entries,
                        vec![(k.to_string(), v.to_string())],
                        "{line:?}"
                    );
                }
                None => {
                    assert!(got.entries.is_empty(), "{line:?}");
                    assert_eq!(got.ignored.len(), 1, "{line:?}");
                    assert_eq!(got.ignored[0].line, 1, "{line:?}");
                }
            }
        }
    }

    #[test]
    fn raw_lxc_lines_are_accepted_only_for_containers() {
        let text = "lxc.apparmor.profile: unconfined\nlxc.cgroup2.devices.allow = c 10:200 rwm\narch: amd64\n";
        let sec = MainSection::parse(text, Lxc);
        assert_eq!(sec.entries, vec![("arch".into(), "amd64".into())]);
        assert!(sec.ignored.is_empty());
        let sec = MainSection::parse(text, Qemu);
        assert_eq!(sec.entries, vec![("arch".into(), "amd64".into())]);
        assert_eq!(sec.ignored.len(), 2);
        assert_eq!(sec.ignored[0].line, 1);
    }

    #[test]
    fn main_section_stops_at_first_section_and_skips_comments() {
        let text = "#descr%3A line\n\nscsi0: a:vm-1-disk-0\nlock: backup\nscsi0: a:vm-1-disk-9\n\
                    [snap1]\nscsi1: a:vm-1-disk-1\n!!! garbage after the main section\n";
        let sec = MainSection::parse(text, Qemu);
        assert_eq!(
            sec.entries,
            vec![
                ("scsi0".into(), "a:vm-1-disk-9".into()),
                ("lock".into(), "backup".into())
            ]
        );
        assert_eq!(sec.lock(), Some("backup"));
        assert!(!sec.template());
        let sec = MainSection::parse("a: 1\n\n  # indented comment\nb: 2\n", Qemu);
        assert_eq!(
            sec.ignored,
            [ConfigSyntaxError {
                line: 3,
                text: "  # indented comment".into()
            }]
        );
        assert_eq!(sec.get("b"), Some("2"), "parsing goes on after a bad line");
        for (t, want) in [("1", true), ("yes", true), ("0", false), ("no", false)] {
            let sec = MainSection::parse(&format!("template: {t}\n"), Qemu);
            assert_eq!(sec.template(), want, "{t}");
        }
    }

    #[test]
    fn a_byte_order_mark_and_free_text_comments_are_read_as_pve_reads_them() {
        // Issue 16 item 1: each of these made the guest vanish from the run.
        let cases: &[(&str, &str)] = &[
            ("BOM", "\u{feff}scsi0: local-zfs:vm-1-disk-0\nname: a\n"),
            (
                "lossy comment",
                "#caf\u{fffd} ol\u{e9}\nscsi0: local-zfs:vm-1-disk-0\nname: a\n",
            ),
            (
                "bad line",
                "name: a\nthis is no config line\nscsi0: local-zfs:vm-1-disk-0\n",
            ),
        ];
        for (what, text) in cases {
            let sec = MainSection::parse(text, Qemu);
            assert_eq!(sec.get("scsi0"), Some("local-zfs:vm-1-disk-0"), "{what}");
            assert_eq!(sec.get("name"), Some("a"), "{what}");
            let bad = usize::from(*what == "bad line");
            assert_eq!(sec.ignored.len(), bad, "{what}: {:?}", sec.ignored);
        }
    }

    #[test]
    fn disk_key_table() {
        let yes_q = [
            "ide0",
            "ide3",
            "sata5",
            "scsi0",
            "scsi30",
            "virtio15",
            "efidisk0",
            "tpmstate0",
        ];
        let no_q = [
            "ide4", "sata6", "scsi31", "virtio16", "unused0", "efidisk1", "scsi", "scsi01", "net0",
            "scsihw", "rootfs", "mp0",
        ];
        let yes_l = ["rootfs", "mp0", "mp255"];
        let no_l = ["mp256", "mp", "mp01", "unused0", "scsi0", "mpx"];
        for k in yes_q {
            assert!(is_disk_key(k, Qemu), "{k}");
        }
        for k in no_q {
            assert!(!is_disk_key(k, Qemu), "{k}");
        }
        for k in yes_l {
            assert!(is_disk_key(k, Lxc), "{k}");
        }
        for k in no_l {
            assert!(!is_disk_key(k, Lxc), "{k}");
        }
    }

    #[test]
    fn disk_target_table() {
        let vol = |s: &str, v: &str| DiskTarget::Volume {
            storage: s.into(),
            volname: v.into(),
        };
        let cases: Vec<(&str, DiskTarget)> = vec![
            (
                "local-zfs:vm-100-disk-0,iothread=1,size=32G",
                vol("local-zfs", "vm-100-disk-0"),
            ),
            (
                "file=local-zfs:vm-100-disk-1,size=1M",
                vol("local-zfs", "vm-100-disk-1"),
            ),
            (
                "size=8G,volume=tank:subvol-200-disk-0",
                vol("tank", "subvol-200-disk-0"),
            ),
            (
                "local-zfs:base-100-disk-0/vm-101-disk-0",
                vol("local-zfs", "base-100-disk-0/vm-101-disk-0"),
            ),
            ("none,media=cdrom", DiskTarget::Ignored("CD-ROM")),
            (
                "local:iso/debian.iso,media=cdrom,size=600M",
                DiskTarget::Ignored("CD-ROM"),
            ),
            (
                "local-zfs:vm-100-cloudinit,media=cdrom",
                DiskTarget::Ignored("CD-ROM"),
            ),
            ("none", DiskTarget::Ignored("no medium")),
            (
                "/dev/disk/by-id/ata-ST4000_XYZ,backup=0,size=4T",
                DiskTarget::Ignored("device passthrough"),
            ),
            (
                "/mnt/data,mp=/data",
                DiskTarget::Ignored("bind mount or host path"),
            ),
            (
                "local-zfs:vm-100-disk-2,serial=\"a,b\"",
                vol("local-zfs", "vm-100-disk-2"),
            ),
        ];
        for (value, want) in cases {
            assert_eq!(disk_target(value), want, "{value}");
        }
        for value in ["size=8G", "relative.raw,size=1G"] {
            assert!(
                matches!(disk_target(value), DiskTarget::Unrecognized(_)),
                "{value}"
            );
        }
    }
}
