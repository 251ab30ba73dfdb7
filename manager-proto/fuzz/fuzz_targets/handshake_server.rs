//! The server's handshake fed arbitrary client messages (the input is split into
//! messages by a length byte each): never a panic, and never `established` without a
//! valid proof — which random input cannot forge, so any success is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use manager_proto::handshake::{ServerHandshake, VersionRange, NONCE_LEN};
use manager_proto::{AuthKey, ServerId};

fuzz_target!(|data: &[u8]| {
    let key = AuthKey::new(*b"fuzz-key").unwrap();
    let mut server = ServerHandshake::new(&key, [0x5a; NONCE_LEN], VersionRange::CURRENT, ServerId(1));
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let (msg, tail) = tail.split_at(n);
        rest = tail;
        match server.receive(msg) {
            Ok(step) => assert!(step.established.is_none(), "authenticated without the key"),
            Err(_) => return,
        }
    }
});
