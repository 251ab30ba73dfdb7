//! Opening a socket to a server and the client's side of the handshake over it: the
//! protocol's state machine (`manager_proto::handshake`) fed with frames read and
//! written here, and, for a reconnecting client, the session it asks for.

use manager_proto::frame::{self, FrameDecoder};
use manager_proto::handshake::{ClientHandshake, HandshakeError, NONCE_LEN, VersionRange};
use manager_proto::session::{SessionReply, SessionRequest};
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

/// An authenticated socket.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) stream: Stream,
    /// Bytes read past the handshake, if any.
    pub(crate) decoder: FrameDecoder,
    pub(crate) server: ServerId,
    /// The server's answer to the session asked for.
    pub(crate) session: Option<SessionReply>,
}

/// Connects to `address` and authenticates, asking for `session` if given, all within
/// `timeout`; `early` goes out right after the proof (a resuming session's resend, so
/// that the calls that waited reach the server with the proof, a round trip sooner).
pub(crate) async fn open(
    address: &Address,
    authkey: &AuthKey,
    tls: Option<&ClientTls>,
    timeout: Duration,
    session: Option<SessionRequest>,
    early: &[u8],
) -> Result<Opened, Error> {
    let stream = Stream::connect(address, timeout, tls).await?;
    let mut decoder = FrameDecoder::new(frame::HANDSHAKE_MAX_FRAME);
    let handshake = async {
        let server = authenticate(&stream, address, authkey, tls, &mut decoder, session, early).await?;
        let reply = match session {
            None => None,
            Some(_) => {
                let msg =
                    read_frame(&stream, address, tls, &mut decoder, || io::ErrorKind::UnexpectedEof.into()).await?;
                let reply = SessionReply::decode(&msg).map_err(|e| Error::Handshake {
                    address: address.to_string(),
                    source: HandshakeError::NotAManager(e.to_string()),
                })?;
                Some(reply)
            }
        };
        Ok::<_, Error>((server, reply))
    };
    match tokio::time::timeout(timeout, handshake).await {
        Ok(r) => {
            let (server, session) = r?;
            Ok(Opened { stream, decoder, server, session })
        }
        Err(_) => {
            Err(Error::Timeout(format!("the manager at {address} did not complete the handshake within {timeout:?}")))
        }
    }
}

async fn authenticate(
    stream: &Stream,
    address: &Address,
    authkey: &AuthKey,
    tls: Option<&ClientTls>,
    decoder: &mut FrameDecoder,
    session: Option<SessionRequest>,
    early: &[u8],
) -> Result<ServerId, Error> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| Error::Io(Arc::new(io::Error::other(e.to_string()))))?;
    let (mut hs, hello) = ClientHandshake::new(authkey, nonce, VersionRange::CURRENT);
    if let Some(request) = session {
        hs = hs.with_session(request);
    }
    // A server that refuses us (at its connection limit, say) may close before our hello
    // arrives: the write then fails, but its refusal can still be waiting to be read.
    let mut write_failed = write_frame(stream, &hello).await.err();
    loop {
        let msg = read_frame(stream, address, tls, decoder, || {
            write_failed.take().unwrap_or(io::ErrorKind::UnexpectedEof.into())
        })
        .await?;
        match hs.receive(&msg) {
            Ok(step) => {
                if let Some(reply) = step.reply {
                    // The proof, the client's only reply: what goes early goes with it.
                    let mut buf = Vec::with_capacity(reply.len() + frame::HEADER_LEN + early.len());
                    frame::encode_frame(&reply, &mut buf, usize::MAX)
                        .map_err(|e| lost(address, tls, io::Error::other(e)))?;
                    buf.extend_from_slice(early);
                    stream.write_all(&buf).await.map_err(|e| lost(address, tls, e))?;
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

/// A handshake broken off: over TLS, what TLS said (a server that refuses our client
/// certificate says so only now: TLS 1.3 checks it after the client's side of the TLS
/// handshake is done); else the connection lost.
fn lost(address: &Address, tls: Option<&ClientTls>, e: io::Error) -> Error {
    explain(address, tls, &e)
        .unwrap_or_else(|| Error::ConnectionLost { address: address.to_string(), reason: Lost::Handshake(Arc::new(e)) })
}

/// Reads one handshake frame; `closed` says why when the server closed first.
async fn read_frame(
    stream: &Stream,
    address: &Address,
    tls: Option<&ClientTls>,
    decoder: &mut FrameDecoder,
    mut closed: impl FnMut() -> io::Error,
) -> Result<Vec<u8>, Error> {
    loop {
        if let Some(f) = decoder.next_frame().map_err(|e| Error::Handshake {
            address: address.to_string(),
            source: HandshakeError::NotAManager(e.to_string()),
        })? {
            return Ok(f.to_vec());
        }
        let read = match stream.yielding_read(decoder.buffer_mut(), HANDSHAKE_SPIN) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.read_some(decoder.buffer_mut()).await,
            other => other,
        };
        match read {
            Ok(0) => return Err(lost(address, tls, closed())),
            Ok(_) => {}
            Err(e) => {
                let first = closed();
                // A write that failed first says more than the read after it.
                return Err(lost(address, tls, if first.kind() == io::ErrorKind::UnexpectedEof { e } else { first }));
            }
        }
    }
}

pub(crate) async fn write_frame(stream: &Stream, payload: &[u8]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(payload.len() + frame::HEADER_LEN);
    frame::encode_frame(payload, &mut buf, usize::MAX).map_err(io::Error::other)?;
    stream.write_all(&buf).await
}
