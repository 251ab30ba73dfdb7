//! The checks of the protocol's fuzz targets (`fuzz/fuzz_targets/`), written once: the
//! targets call these, and `cargo test` replays every kept input
//! (`tests/fuzz_regressions/<target>/`) through the same functions. A panic is a finding.
//! Not part of the API: behind the `fuzzing` feature (and `cfg(test)`).
// Here a panic is the check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

use crate::frame::{FrameDecoder, HEADER_LEN};
use crate::handshake::{ClientHandshake, NONCE_LEN, ServerHandshake, VersionRange};
use crate::{AuthKey, Reply, Request, Response, ServerId};

/// The frame decoder: arbitrary bytes (after a 2-byte limit and a 1-byte step), arriving
/// in pieces of `step` bytes. It must never panic, never return a frame over the limit,
/// and never hold more than it was given.
pub fn frames(data: &[u8]) {
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
}

/// Large frames, which raw inputs (a few KB) never reach: a 3-byte limit (up to 16 MiB),
/// then records of 6 bytes — a 3-byte length, a fill byte, a 2-byte step — each made
/// into a frame of that many fill bytes and fed to the decoder `step` bytes at a time.
/// Every frame within the limit comes out whole and unchanged; one over it is refused
/// before its body is buffered; the decoder never holds more than it was given.
pub fn large_frames(data: &[u8]) {
    let Some((&[l0, l1, l2], mut rest)) = data.split_first_chunk::<3>() else {
        return;
    };
    let limit = u32::from_be_bytes([0, l0, l1, l2]) as usize;
    let mut dec = FrameDecoder::new(limit);
    let mut fed = 0usize;
    while let Some((&[n0, n1, n2, fill, s0, s1], tail)) = rest.split_first_chunk::<6>() {
        rest = tail;
        let len = u32::from_be_bytes([0, n0, n1, n2]) as usize;
        let step = usize::from(u16::from_be_bytes([s0, s1])).max(1);
        let mut wire = Vec::with_capacity(HEADER_LEN + len);
        wire.extend_from_slice(&(len as u32).to_be_bytes());
        wire.resize(HEADER_LEN + len, fill);
        let mut got = None;
        for chunk in wire.chunks(step) {
            dec.buffer_mut().extend_from_slice(chunk);
            fed += chunk.len();
            match dec.next_frame() {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= limit);
                    got = Some((frame.len(), frame.iter().all(|&b| b == fill)));
                }
                Ok(None) => {}
                Err(_) => {
                    assert!(len > limit, "a frame of {len} bytes refused under a limit of {limit}");
                    assert!(dec.bytes().len() <= HEADER_LEN + step, "buffered a refused body");
                    return;
                }
            }
            assert!(dec.bytes().len() <= fed);
        }
        assert_eq!(got, Some((len, true)), "a frame of {len} bytes under a limit of {limit}");
    }
}

/// Request decoding: never a panic; whatever decodes re-encodes to bytes that decode to
/// the same request (the decoder accepts nothing the encoder would write differently).
pub fn requests(data: &[u8]) {
    if let Ok((id, request)) = Request::decode(data) {
        let mut again = Vec::new();
        request.encode(id, &mut again);
        let (id2, request2) = Request::decode(&again).expect("a re-encoded request decodes");
        assert_eq!((id, request), (id2, request2));
    }
}

/// Response decoding: never a panic, and decoded responses round-trip.
pub fn responses(data: &[u8]) {
    let _ = Response::peek_id(data);
    let _ = Response::peek_kind(data);
    let _ = Reply::from_payload(data.to_vec());
    if let Ok((id, response)) = Response::decode(data) {
        let mut again = Vec::new();
        response.encode(id, &mut again);
        let (id2, response2) = Response::decode(&again).expect("a re-encoded response decodes");
        assert_eq!((id, response), (id2, response2));
    }
}

/// The input split into messages by a length byte each.
fn messages(mut rest: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let (&len, tail) = rest.split_first()?;
        let (msg, tail) = tail.split_at(usize::from(len).min(tail.len()));
        rest = tail;
        Some(msg)
    })
}

/// The server's handshake fed arbitrary client messages: never a panic, and never
/// `established` without a valid proof — which random input cannot forge.
pub fn handshake_server(data: &[u8]) {
    let key = AuthKey::new(*b"fuzz-key").unwrap();
    let mut server = ServerHandshake::new(&key, [0x5a; NONCE_LEN], VersionRange::CURRENT, ServerId(1));
    for msg in messages(data) {
        match server.receive(msg) {
            Ok(step) => assert!(step.established.is_none(), "authenticated without the key"),
            Err(_) => return,
        }
    }
}

/// The client's handshake fed arbitrary server messages: never a panic, and never
/// `established` with a server that does not hold the key.
pub fn handshake_client(data: &[u8]) {
    let key = AuthKey::new(*b"fuzz-key").unwrap();
    let (mut client, _hello) = ClientHandshake::new(&key, [0xa5; NONCE_LEN], VersionRange::CURRENT);
    for msg in messages(data) {
        match client.receive(msg) {
            Ok(step) => assert!(step.established.is_none(), "accepted a server without the key"),
            Err(_) => return,
        }
    }
}

/// A session's relay fed arbitrary link bytes and resumes, and the session messages
/// decoded from arbitrary bytes: never a panic; a relay never passes on more than the
/// DATA it was sent, and refuses a resume that claims more than it sent.
pub fn session(data: &[u8]) {
    use crate::session::{Relay, RingOffer, SessionReply, SessionRequest};
    let _ = SessionRequest::decode(data);
    let _ = SessionReply::decode(data);
    let _ = RingOffer::decode(data);
    let mut relay = Relay::new();
    let (ours, theirs) = data.split_at(data.len() / 2);
    relay.from_inner(ours);
    let sent = ours.len() as u64;
    let mut passed_on = 0usize;
    for msg in messages(theirs) {
        if let [0xff, n @ ..] = msg
            && let Some(n) = n.first_chunk::<8>()
        {
            // A new link: the peer says what it received, and resends from anywhere.
            let n = u64::from_le_bytes(*n);
            let resumed = relay.resume(n, n.min(relay.received()));
            assert!(n <= sent || resumed.is_err(), "a resume past what was sent was taken");
            if resumed.is_err() {
                return;
            }
        } else {
            relay.link_buffer().extend_from_slice(msg);
            if relay.process_link().is_err() {
                return;
            }
        }
        passed_on += relay.take_to_inner().len();
        assert!(passed_on <= theirs.len(), "passed on more than came");
        let _ = relay.take_to_link();
        relay.tick();
    }
}

/// A target's check.
pub type Check = fn(&[u8]);

/// Every target, by name.
pub const TARGETS: &[(&str, Check)] = &[
    ("frames", frames),
    ("large_frames", large_frames),
    ("requests", requests),
    ("responses", responses),
    ("handshake_server", handshake_server),
    ("handshake_client", handshake_client),
    ("session", session),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Replays the kept inputs of every target (seeded with real messages; crashes once
    /// found are added here by `fuzz/run.sh`'s instructions).
    #[test]
    fn kept_inputs_replay_clean() {
        for (target, check) in TARGETS {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions").join(target);
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|e| e.unwrap().path())
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            assert!(!files.is_empty(), "no inputs in {}", dir.display());
            for file in files {
                let data = std::fs::read(&file).unwrap();
                if std::panic::catch_unwind(|| check(&data)).is_err() {
                    panic!("{target}: {} fails", file.display());
                }
            }
        }
    }

    /// The large-frame target does reach frames over 64 KiB, and refuses one over its
    /// limit: the seeds say what they test.
    #[test]
    fn large_frame_seeds_cross_64_kib() {
        let one_mib_under_two: &[u8] = &[0x20, 0, 0, 0x10, 0, 0, 7, 0x10, 0];
        large_frames(one_mib_under_two);
        let over: Vec<u8> = [&[0, 0x10, 0][..], &[0x20, 0, 0, 1, 0, 3]].concat();
        large_frames(&over);
    }
}
