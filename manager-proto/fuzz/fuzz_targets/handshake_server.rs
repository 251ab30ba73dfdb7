//! The server's handshake on arbitrary client messages. The checks are
//! `manager_proto::fuzzing::handshake_server`, shared with the replay test of kept inputs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| manager_proto::fuzzing::handshake_server(data));
