//! `zfs-emu`: a test stand-in for `zfs` and `zpool` over the in-process emulator.
fn main() {
    eprintln!("zfs-emu: not built yet");
    std::process::exit(2);
}
