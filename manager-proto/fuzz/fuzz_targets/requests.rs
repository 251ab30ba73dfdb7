//! Request decoding: no panic, and a round trip. The checks are
//! `manager_proto::fuzzing::requests`, shared with the replay test of kept inputs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| manager_proto::fuzzing::requests(data));
