//! Frames of up to 16 MiB, generated from a compact description. The checks are
//! `manager_proto::fuzzing::large_frames`, shared with the replay test of kept inputs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| manager_proto::fuzzing::large_frames(data));
