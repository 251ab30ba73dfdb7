//! `#[shared]` refuses what cannot be shared with a compile error at the offending
//! item: one file per rejected input in `tests/ui/`, with the expected message beside
//! it. Regenerate the messages with `TRYBUILD=overwrite` after a deliberate change,
//! and read them.

#[test]
fn rejected_inputs() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
