//! The client's side of the handshake, over a socket: the protocol's state machine
//! (`manager_proto::handshake`) fed with frames read and written here.

use manager_proto::frame::{self, FrameDecoder};
use manager_proto::handshake::{ClientHandshake, HandshakeError, NONCE_LEN, VersionRange};
use manager_proto::{Address, AuthKey, Error, Lost, ServerId};
use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::stream::Stream;
use crate::tls::{ClientTls, explain};

/// How long the client polls for each handshake message before it sleeps, giving the
/// CPU to any other runnable thread between tries. A sleeping thread woken from another
/// core costs tens of microseconds on a VM, and a handshake waits twice: polling cut
/// unpinned connects over unix by about a third here (95–115 to 53–81 µs). A
/// connection does this once, so the price is at most twice this much CPU per connect;
/// on a shared core the yields let the server run, and pinned connects were unchanged.
const HANDSHAKE_SPIN: Duration = Duration::from_micros(200);

/// What a refused key that is itself hex text most likely means: key files and
/// `MANAGER_AUTHKEY` hold hex, while `Client::connect` takes the raw key.
const HEX_AS_BYTES: &str = "; the key given is hex text: if it came from a key file or MANAGER_AUTHKEY, pass \
    manager_client::env::read_authkey(path) or AuthKey::from_hex(text) instead of the text's bytes";

pub(super) async fn authenticate(
    stream: &Stream,
    address: &Address,
    authkey: &AuthKey,
    tls: Option<&ClientTls>,
    decoder: &mut FrameDecoder,
) -> Result<ServerId, Error> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| Error::Io(Arc::new(io::Error::other(e.to_string()))))?;
    let (mut hs, hello) = ClientHandshake::new(authkey, nonce, VersionRange::CURRENT);
    // Over TLS, a server that refuses our client certificate says so only now (TLS 1.3
    // checks it after the client's side of the TLS handshake is done).
    let lost = |e: io::Error| {
        explain(address, tls, &e).unwrap_or_else(|| Error::ConnectionLost {
            address: address.to_string(),
            reason: Lost::Handshake(Arc::new(e)),
        })
    };
    // A server that refuses us (at its connection limit, say) may close before our hello
    // arrives: the write then fails, but its refusal can still be waiting to be read.
    let mut write_failed = write_frame(stream, &hello).await.err();
    loop {
        let msg = loop {
            if let Some(f) = decoder.next_frame().map_err(|e| Error::Handshake {
                address: address.to_string(),
                source: HandshakeError::NotAManager(e.to_string()),
            })? {
                break f.to_vec();
            }
            let read = match stream.yielding_read(decoder.buffer_mut(), HANDSHAKE_SPIN) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.read_some(decoder.buffer_mut()).await,
                other => other,
            };
            match read {
                Ok(0) => return Err(lost(write_failed.take().unwrap_or(io::ErrorKind::UnexpectedEof.into()))),
                Ok(_) => {}
                Err(e) => return Err(lost(write_failed.take().unwrap_or(e))),
            }
        };
        match hs.receive(&msg) {
            Ok(step) => {
                if let Some(reply) = step.reply {
                    write_frame(stream, &reply).await.map_err(lost)?;
                }
                if let Some(established) = step.established {
                    return Ok(established.server);
                }
            }
            Err(failure) => {
                return Err(match failure.error {
                    HandshakeError::Authentication => Error::Authentication {
                        address: address.to_string(),
                        hint: if authkey.looks_like_hex_text() { HEX_AS_BYTES } else { "" },
                    },
                    source => Error::Handshake { address: address.to_string(), source },
                });
            }
        }
    }
}

pub(super) async fn write_frame(stream: &Stream, payload: &[u8]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(payload.len() + frame::HEADER_LEN);
    frame::encode_frame(payload, &mut buf, usize::MAX).map_err(io::Error::other)?;
    stream.write_all(&buf).await
}
