//! The frame decoder: arbitrary bytes, arriving in arbitrary pieces, under an
//! arbitrary limit. It must never panic, never return a frame over the limit, and
//! never hold more than it was given plus what it reserved for an announced frame
//! within the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use manager_proto::frame::FrameDecoder;

fuzz_target!(|data: &[u8]| {
    let Some((&[limit_hi, limit_lo, step], rest)) = data.split_first_chunk::<3>() else {
        return;
    };
    let limit = usize::from(u16::from_be_bytes([limit_hi, limit_lo]));
    let step = usize::from(step).max(1);
    let mut dec = FrameDecoder::new(limit);
    for chunk in rest.chunks(step) {
        dec.buffer_mut().extend_from_slice(chunk);
        loop {
            match dec.next_frame() {
                Ok(Some(frame)) => assert!(frame.len() <= limit),
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(dec.bytes().len() <= rest.len());
    }
});
