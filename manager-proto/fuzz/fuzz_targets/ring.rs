//! The shared-memory rings driven by a script of writes, reads, wake-up marks and a
//! hostile peer's scribbles. The checks are `manager_proto::fuzzing::ring`, shared with
//! the replay test of kept inputs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| manager_proto::fuzzing::ring(data));
