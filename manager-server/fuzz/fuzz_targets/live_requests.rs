//! Arbitrary requests from an authenticated peer against live built-in objects, through
//! the server's real connection handler: no reply may say the server panicked, every reply
//! must decode, the last ping must be answered, and the connection's end must leave no
//! parked call and no object behind. A hang is libFuzzer's `-timeout`. The input format
//! and the checks are in `manager_server::fuzzing` (src/fuzzing/mod.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| manager_server::fuzzing::run(data));
