#!/usr/bin/env bash
# The project's test command (README, .ci/run): formatting, lints, unit + integration tests of
# the whole workspace (the product and crates/zfs-emu), and the shell-level smoke test of the
# zfs-emu stand-in, and shellcheck over every shell script.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TERM_COLOR=never
command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
rustup component add rustfmt clippy >/dev/null 2>&1 || true
echo "== rustfmt"; cargo fmt --all -- --check
echo "== clippy"; cargo clippy --workspace --all-targets --locked -- -D warnings
# The e2e tests run target/debug/zfs-emu, a binary of the emulator crate (crates/zfs-emu):
# build every binary of the workspace before any test runs.
echo "== build"; cargo build --workspace --bins --locked
echo "== tests"; cargo test --workspace --locked
echo "== zfs-emu smoke"; tests/emu_smoke.sh target/debug/zfs-emu
command -v shellcheck >/dev/null || { echo "shellcheck not found: apt-get install shellcheck" >&2; exit 1; }
echo "== shellcheck"; tests/shellcheck.sh
