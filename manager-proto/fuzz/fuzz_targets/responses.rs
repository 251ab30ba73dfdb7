//! Response decoding: never a panic, and decoded responses round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use manager_proto::{Reply, Response};

fuzz_target!(|data: &[u8]| {
    let _ = Response::peek_id(data);
    let _ = Response::peek_kind(data);
    let _ = Reply::from_payload(data.to_vec());
    if let Ok((id, response)) = Response::decode(data) {
        let mut again = Vec::new();
        response.encode(id, &mut again);
        let (id2, response2) = Response::decode(&again).expect("a re-encoded response decodes");
        assert_eq!((id, response), (id2, response2));
    }
});
