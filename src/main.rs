//! `pve-zfs-snap`: thin entry point; parses, runs, maps errors to exit codes.
fn main() {
    eprintln!("pve-zfs-snap: not built yet");
    std::process::exit(2);
}
