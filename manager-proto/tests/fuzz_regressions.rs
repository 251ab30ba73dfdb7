//! Replays inputs kept from fuzzing (`tests/fuzz_regressions/<target>/*`) through the
//! same checks the fuzz targets make (`fuzz/fuzz_targets/`), so a crash once found is
//! tested for ever by a plain `cargo test`. Seeded with real messages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use manager_proto::frame::FrameDecoder;
use manager_proto::handshake::{ClientHandshake, NONCE_LEN, ServerHandshake, VersionRange};
use manager_proto::{AuthKey, Reply, Request, Response, ServerId};
use std::path::PathBuf;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions").join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no inputs in {}", dir.display());
    out
}

#[test]
fn frames() {
    for (_, data) in inputs("frames") {
        let Some((&[hi, lo, step], rest)) = data.split_first_chunk::<3>() else { continue };
        let limit = usize::from(u16::from_be_bytes([hi, lo]));
        let mut dec = FrameDecoder::new(limit);
        'input: for chunk in rest.chunks(usize::from(step).max(1)) {
            dec.buffer_mut().extend_from_slice(chunk);
            loop {
                match dec.next_frame() {
                    Ok(Some(frame)) => assert!(frame.len() <= limit),
                    Ok(None) => break,
                    Err(_) => break 'input,
                }
            }
        }
    }
}

#[test]
fn requests() {
    for (path, data) in inputs("requests") {
        if let Ok((id, request)) = Request::decode(&data) {
            let mut again = Vec::new();
            request.encode(id, &mut again);
            assert_eq!(Request::decode(&again).unwrap(), (id, request), "{}", path.display());
        }
    }
}

#[test]
fn responses() {
    for (path, data) in inputs("responses") {
        let _ = Response::peek_kind(&data);
        let _ = Reply::from_payload(data.clone());
        if let Ok((id, response)) = Response::decode(&data) {
            let mut again = Vec::new();
            response.encode(id, &mut again);
            assert_eq!(Response::decode(&again).unwrap(), (id, response), "{}", path.display());
        }
    }
}

fn messages(mut rest: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((&len, tail)) = rest.split_first() {
        let (msg, tail) = tail.split_at(usize::from(len).min(tail.len()));
        out.push(msg);
        rest = tail;
    }
    out
}

#[test]
fn handshake_server() {
    let key = AuthKey::new(*b"fuzz-key").unwrap();
    for (path, data) in inputs("handshake_server") {
        let mut server = ServerHandshake::new(&key, [0x5a; NONCE_LEN], VersionRange::CURRENT, ServerId(1));
        for msg in messages(&data) {
            match server.receive(msg) {
                Ok(step) => assert!(step.established.is_none(), "{}", path.display()),
                Err(_) => break,
            }
        }
    }
}

#[test]
fn handshake_client() {
    let key = AuthKey::new(*b"fuzz-key").unwrap();
    for (path, data) in inputs("handshake_client") {
        let (mut client, _) = ClientHandshake::new(&key, [0xa5; NONCE_LEN], VersionRange::CURRENT);
        for msg in messages(&data) {
            match client.receive(msg) {
                Ok(step) => assert!(step.established.is_none(), "{}", path.display()),
                Err(_) => break,
            }
        }
    }
}
