//! The client's handshake on arbitrary server messages. The checks are
//! `manager_proto::fuzzing::handshake_client`, shared with the replay test of kept inputs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| manager_proto::fuzzing::handshake_client(data));
