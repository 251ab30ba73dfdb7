//! Request decoding: never a panic; and whatever decodes re-encodes to bytes that
//! decode to the same request (the decoder accepts nothing the encoder would not
//! write differently).
#![no_main]

use libfuzzer_sys::fuzz_target;
use manager_proto::Request;

fuzz_target!(|data: &[u8]| {
    if let Ok((id, request)) = Request::decode(data) {
        let mut again = Vec::new();
        request.encode(id, &mut again);
        let (id2, request2) = Request::decode(&again).expect("a re-encoded request decodes");
        assert_eq!((id, request), (id2, request2));
    }
});
