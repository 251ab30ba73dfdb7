//! A session's relay on arbitrary link bytes and resumes. The checks are
//! `manager_proto::fuzzing::session`, shared with the replay test of kept inputs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| manager_proto::fuzzing::session(data));
