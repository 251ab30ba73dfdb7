//! The hasher of maps keyed by the server's own numbers (object ids, object addresses).

/// Builds the hasher of a connection's maps keyed by the server's own numbers: held
/// objects (looked up on every call) and watched objects (every lock acquire). SipHash
/// cost ~120 instructions a lookup there, a tenth of the server's work for a small call.
/// Object ids are the server's counters and addresses its allocator's, so the hash need
/// not resist chosen keys outright: foldhash's fast hasher, under a per-map random seed
/// so a peer cannot gather ids that share a bucket. Request ids are the peer's to
/// choose, so the maps keyed by them keep SipHash.
pub(crate) type IdHashBuilder = foldhash::fast::RandomState;
