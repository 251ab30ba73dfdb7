//! Opening a socket to a server and the client's side of the handshake over it: the
//! protocol's state machine (`manager_proto::handshake`) fed with frames read and
//! written here, and, for a reconnecting client, the session it asks for.

use manager_proto::frame::{self, FrameDecoder};
use manager_proto::handshake::{ClientHandshake, HandshakeError, NONCE_LEN, VersionRange};
use manager_proto::ring::Layout;
use manager_proto::session::{RING_FDS, RingOffer, SessionReply, SessionRequest};
use manager_proto::{Address, AuthKey, Error, Lost, ServerId};
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use crate::shm::region::{Region, RingMapping};
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
    let rings = matches!(session, Some(SessionRequest::SharedMemory));
    if rings && !matches!(address, Address::Unix(_)) {
        return Err(Error::Config(format!(
            "shared memory needs the server's Unix socket on this host: {address} is not a unix: address"
        )));
    }
    let mut stream = Stream::connect(address, timeout, tls).await?;
    // Over a Unix socket asking for rings, every read keeps the descriptors that come
    // with it: the offer's may arrive with the welcome.
    let mut incoming = Incoming { decoder: FrameDecoder::new(frame::HANDSHAKE_MAX_FRAME), fds: rings.then(Vec::new) };
    let handshake = async {
        let server = authenticate(&stream, address, authkey, tls, &mut incoming, session, early).await?;
        let eof = || io::ErrorKind::UnexpectedEof.into();
        let reply = match session {
            None => None,
            Some(SessionRequest::SharedMemory) => {
                let msg = read_frame(&stream, address, tls, &mut incoming, eof).await?;
                take_rings(&mut stream, address, &msg, incoming.fds.take().unwrap_or_default())?;
                None
            }
            Some(_) => {
                let msg = read_frame(&stream, address, tls, &mut incoming, eof).await?;
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
            Ok(Opened { stream, decoder: incoming.decoder, server, session })
        }
        Err(_) => {
            Err(Error::Timeout(format!("the manager at {address} did not complete the handshake within {timeout:?}")))
        }
    }
}

/// Takes the server's answer to a request for rings: maps the segment its offer brought
/// (after checking it is what the offer says: its size, its seals) and switches
/// `stream` to the rings; a refusal is an error saying why.
fn take_rings(stream: &mut Stream, address: &Address, msg: &[u8], fds: Vec<OwnedFd>) -> Result<(), Error> {
    let broken =
        |why: String| Error::Handshake { address: address.to_string(), source: HandshakeError::NotAManager(why) };
    let capacity = match RingOffer::decode(msg).map_err(|e| broken(e.to_string()))? {
        RingOffer::Offered { capacity } => capacity,
        RingOffer::Declined(why) => {
            return Err(Error::Handshake { address: address.to_string(), source: HandshakeError::Unavailable(why) });
        }
    };
    let Ok::<[OwnedFd; 5], _>([segment, bells @ ..]) = fds.try_into() else {
        return Err(broken(format!("a shared-memory offer without its {} descriptors", RING_FDS.len())));
    };
    let layout = usize::try_from(capacity)
        .ok()
        .and_then(|c| Layout::new(c).ok())
        .ok_or_else(|| broken(format!("a shared-memory offer of rings of {capacity} bytes")))?;
    let len = layout.segment_len();
    let stat = rustix::fs::fstat(&segment).map_err(|e| broken(format!("the offered segment: {e}")))?;
    let seals = rustix::fs::fcntl_get_seals(&segment).map_err(|e| broken(format!("the offered segment: {e}")))?;
    use rustix::fs::SealFlags;
    if u64::try_from(stat.st_size).ok() != Some(len as u64) || !seals.contains(SealFlags::SHRINK | SealFlags::GROW) {
        return Err(broken(format!(
            "the offered segment is not a sealed memory file of {len} bytes ({} bytes, seals {seals:?})",
            stat.st_size
        )));
    }
    let mapped = Region::map(std::os::fd::AsFd::as_fd(&segment), len, false).map_err(|e| {
        Error::Io(Arc::new(io::Error::new(e.kind(), format!("mapping the shared-memory segment: {e}"))))
    })?;
    let mapping = RingMapping::new(mapped).map_err(|e| broken(e.to_string()))?;
    stream.attach_rings(mapping, bells).map_err(|e| Error::Io(Arc::new(e)))
}

async fn authenticate(
    stream: &Stream,
    address: &Address,
    authkey: &AuthKey,
    tls: Option<&ClientTls>,
    incoming: &mut Incoming,
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
        let msg = read_frame(stream, address, tls, incoming, || {
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

/// What the handshake has read: bytes not yet taken as frames, and, when rings were
/// asked for, the descriptors that came with them.
struct Incoming {
    decoder: FrameDecoder,
    fds: Option<Vec<OwnedFd>>,
}

/// Reads one handshake frame; `closed` says why when the server closed first.
async fn read_frame(
    stream: &Stream,
    address: &Address,
    tls: Option<&ClientTls>,
    incoming: &mut Incoming,
    mut closed: impl FnMut() -> io::Error,
) -> Result<Vec<u8>, Error> {
    let Incoming { decoder, fds } = incoming;
    loop {
        if let Some(f) = decoder.next_frame().map_err(|e| Error::Handshake {
            address: address.to_string(),
            source: HandshakeError::NotAManager(e.to_string()),
        })? {
            return Ok(f.to_vec());
        }
        let read = match fds {
            Some(fds) => loop {
                match stream.recv_with_fds(decoder.buffer_mut(), fds) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if let Err(e) = stream.readable().await {
                            break Err(e);
                        }
                    }
                    other => break other,
                }
            },
            None => match stream.yielding_read(decoder.buffer_mut(), HANDSHAKE_SPIN) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.read_some(decoder.buffer_mut()).await,
                other => other,
            },
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
