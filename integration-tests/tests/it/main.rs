//! Integration tests: one test binary (one link step), a module per feature.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod basics;
mod util;
