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

/// The shared-memory rings, driven by a script: the first byte picks the capacity
/// (4096 << (b % 3)), then each operation is a byte (its value mod 16) and its
/// arguments, on one ring of a heap segment with both its ends. The peer's scribbles —
/// control words set to anything or near their value, data overwritten — are rare ops
/// (14, 15) among honest writes, reads and wake-up marks. Checked: never a panic; every
/// error is `Corrupt`; no call reports more than the capacity, a read never more than
/// asked and the buffer grows by what it reports; and while the peer has not touched
/// the indices, every answer is the one an honest ring gives (a model of its unread
/// bytes and marks), the bytes read back being those written until the data is touched.
pub fn ring(data: &[u8]) {
    use crate::ring::{Layout, RingError, Testbed, Word};

    let mut script = Script(data);
    let Some(b) = script.byte() else { return };
    let cap = 4096usize << (b % 3);
    let mut bed = Testbed::new(Layout::new(cap).unwrap());
    // What an honest ring holds: bytes `read..written` of the pattern, and its two marks.
    let (mut written, mut read) = (0usize, 0usize);
    let (mut reader_mark, mut writer_mark) = (false, false);
    // Whether the peer has left the indices (then every answer is checked) and the data
    // (then so are the bytes read) alone.
    let (mut indices_honest, mut data_honest) = (true, true);
    let mut buf = Vec::new();
    let check = |r: Result<usize, RingError>, honest: bool| -> Option<usize> {
        match r {
            Ok(n) => {
                assert!(n <= cap, "{n} bytes reported by a ring of {cap}");
                Some(n)
            }
            Err(RingError::Corrupt(_)) => {
                assert!(!honest, "an honest ring reported corruption");
                None
            }
            Err(e) => panic!("a ring in use reported {e}"),
        }
    };
    while let Some(op) = script.byte() {
        match op % 16 {
            0..=4 => {
                let Some(len) = script.u16() else { return };
                let src = pattern(written, usize::from(len));
                let Some(n) = check(bed.write(src), indices_honest) else { continue };
                assert!(n <= src.len());
                if indices_honest {
                    assert_eq!(n, src.len().min(cap - (written - read)), "an honest write took the wrong amount");
                    written += n;
                }
            }
            5..=9 => {
                let Some(max) = script.u16() else { return };
                let max = usize::from(max);
                buf.clear();
                buf.push(0xee);
                let Some(n) = check(bed.read_into(&mut buf, max), indices_honest) else { continue };
                assert!(n <= max && buf.len() == n + 1 && buf[0] == 0xee, "a read overran what it reported");
                if indices_honest {
                    assert_eq!(n, (written - read).min(max), "an honest read took the wrong amount");
                    assert!(!data_honest || buf[1..] == *pattern(read, n), "bytes read are not the bytes written");
                    read += n;
                }
            }
            10 => {
                let space = check(bed.space(), indices_honest);
                let available = check(bed.available(), indices_honest);
                if indices_honest {
                    assert_eq!((space, available), (Some(cap - (written - read)), Some(written - read)));
                }
            }
            11 => {
                if let Ok(sleep) = bed.reader_prepare_wait() {
                    assert!(!indices_honest || sleep == (written == read));
                    reader_mark = sleep;
                } else {
                    assert!(!indices_honest, "an honest ring reported corruption");
                    reader_mark = false;
                }
                if script.byte().is_some_and(|b| b & 1 == 1) {
                    bed.stop_waiting();
                    reader_mark = false;
                }
            }
            12 => {
                if let Ok(sleep) = bed.writer_prepare_wait() {
                    assert!(!indices_honest || sleep == (written - read == cap));
                    writer_mark = sleep;
                } else {
                    assert!(!indices_honest, "an honest ring reported corruption");
                    writer_mark = false;
                }
            }
            13 => {
                assert_eq!(bed.take_reader_waiting(), std::mem::take(&mut reader_mark), "the reader's mark");
                assert_eq!(bed.take_writer_waiting(), std::mem::take(&mut writer_mark), "the writer's mark");
            }
            14 => {
                let (Some(w), Some(mode)) = (script.byte(), script.byte()) else { return };
                let word = [Word::Tail, Word::Head, Word::ReaderWaiting, Word::WriterWaiting][usize::from(w % 4)];
                let value = if mode & 1 == 1 {
                    let Some(delta) = script.u16() else { return };
                    bed.peek(word).wrapping_add(i64::from(delta as i16) as u64)
                } else {
                    let Some(v) = script.u64() else { return };
                    v
                };
                match word {
                    Word::ReaderWaiting => reader_mark = value as u32 != 0,
                    Word::WriterWaiting => writer_mark = value as u32 != 0,
                    _ => indices_honest &= bed.peek(word) == value,
                }
                bed.scribble(word, value);
            }
            _ => {
                let (Some(at), Some(len)) = (script.u16(), script.byte()) else { return };
                let bytes = script.take(usize::from(len));
                bed.scribble_data(u64::from(at), bytes);
                data_honest &= bytes.is_empty();
            }
        }
    }
}

/// What the `ring` target's honest writes write: from index `at`, `len` bytes of a
/// pattern whose period, a prime, is no divisor of any capacity (so a byte misplaced by
/// a wrap-around reads wrong). One constant, compared with `memcmp`: Miri runs this too.
fn pattern(at: usize, len: usize) -> &'static [u8] {
    const PERIOD: usize = 251;
    static PATTERN: [u8; PERIOD + u16::MAX as usize] = {
        let mut bytes = [0; PERIOD + u16::MAX as usize];
        let mut i = 0;
        while i < bytes.len() {
            bytes[i] = (i % PERIOD) as u8;
            i += 1;
        }
        bytes
    };
    &PATTERN[at % PERIOD..][..len.min(u16::MAX as usize)]
}

/// A fuzz input read front to back; `None` once it runs out.
struct Script<'a>(&'a [u8]);

impl<'a> Script<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.0.split_at(n.min(self.0.len()));
        self.0 = tail;
        head
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).first().copied()
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).try_into().ok().map(u16::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8).try_into().ok().map(u64::from_le_bytes)
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
    ("ring", ring),
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
