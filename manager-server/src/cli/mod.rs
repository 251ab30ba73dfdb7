//! The standalone binary's parts below `main.rs`: its flags' checks (`flags.rs`), its
//! key (`key.rs`) and its `--named` objects (`named.rs`). None of them imports another.

pub mod flags;
pub mod key;
pub mod named;
