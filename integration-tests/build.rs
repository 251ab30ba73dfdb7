//! Sets `cfg(ui_toolchain)` when the compiler building the tests is the one the UI
//! snapshots (`tests/ui/*.stderr`) were made with. Compiler messages change from one
//! release to the next (6 of 13 snapshots mismatched on a nightly), so `tests/ui.rs`
//! runs only on this one, as dtolnay's crates do; elsewhere it is ignored, with a
//! reason printed. To move to a new toolchain: change `UI_TOOLCHAIN`, regenerate with
//! `TRYBUILD=overwrite`, and read every changed snapshot.

use std::process::Command;

/// The `release:` of `rustc -vV` the snapshots belong to (stable, so no suffix: a
/// `1.95.0-nightly` or `1.95.0-beta.3` does not match).
const UI_TOOLCHAIN: &str = "1.95.0";

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=RUSTC");
    println!("cargo::rustc-check-cfg=cfg(ui_toolchain)");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let release = Command::new(rustc)
        .arg("-vV")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.lines().find_map(|l| l.strip_prefix("release: ").map(str::to_owned)));
    match release.as_deref() {
        Some(UI_TOOLCHAIN) => println!("cargo::rustc-cfg=ui_toolchain"),
        other => println!(
            "cargo::warning=the UI tests (tests/ui.rs) are skipped: their snapshots are rustc {UI_TOOLCHAIN}'s, \
             and this is rustc {}",
            other.unwrap_or("of an unknown version")
        ),
    }
}
