//! The segment's memory, read and written by this process and by the peer's at the same
//! time: the only `unsafe` of the rings.
//!
//! Invariants (established by [`super::Ends::new`]'s caller, relied on here):
//! - TODO: written down by the implementer.
#![allow(unsafe_code)]

/// One ring's control block and data, in a mapped segment.
#[derive(Debug)]
pub(super) struct Region {
    // TODO
}
