//! The frame decoder on arbitrary bytes in arbitrary pieces. The checks are
//! `manager_proto::fuzzing::frames`, shared with the replay test of kept inputs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| manager_proto::fuzzing::frames(data));
