//! The client's handshake fed arbitrary server messages: never a panic, and never
//! `established` with a server that does not hold the key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use manager_proto::handshake::{ClientHandshake, VersionRange, NONCE_LEN};
use manager_proto::AuthKey;

fuzz_target!(|data: &[u8]| {
    let key = AuthKey::new(*b"fuzz-key").unwrap();
    let (mut client, _hello) = ClientHandshake::new(&key, [0xa5; NONCE_LEN], VersionRange::CURRENT);
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let (msg, tail) = tail.split_at(n);
        rest = tail;
        match client.receive(msg) {
            Ok(step) => assert!(step.established.is_none(), "accepted a server without the key"),
            Err(_) => return,
        }
    }
});
