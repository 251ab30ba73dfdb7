//! `#[shared]` refuses what cannot be shared with a compile error at the offending
//! item, one error per mistake: one file per rejected input in `tests/ui/`, with the
//! expected message beside it. Regenerate the messages with `TRYBUILD=overwrite` after a
//! deliberate change, and read them.
//!
//! The messages are the compiler's as much as the macro's, and they change between
//! releases: the test runs only on the toolchain the snapshots were made with
//! (`UI_TOOLCHAIN` in `build.rs`, the one CI uses) and is ignored, saying so, on any
//! other. `cargo test --test ui -- --ignored` runs it anyway, to see the differences.

#[test]
#[cfg_attr(
    not(ui_toolchain),
    ignore = "UI snapshots are for another rustc (UI_TOOLCHAIN in integration-tests/build.rs)"
)]
fn rejected_inputs() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
