//! The session messages of the handshake: what a client asks for in its proof, and
//! the server's answer.

use std::time::Duration;

/// Bytes in a session id.
pub const SESSION_ID_LEN: usize = 16;

const NEW: u8 = 1;
const RESUME: u8 = 2;
const SHARED_MEMORY: u8 = 3;
const OFFERED: u8 = 0;
const DECLINED: u8 = 1;
const STARTED: u8 = 0;
const RESUMED: u8 = 1;
const UNKNOWN: u8 = 2;

/// A session's name: random, known only to the client and the server.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub [u8; SESSION_ID_LEN]);

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A session id is a capability (with the key): never printed whole.
        write!(f, "SessionId({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// What a client asks for in its handshake proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionRequest {
    /// Serve this connection as a session that survives breaks; the client pings the
    /// link at least once per `keepalive`.
    New {
        /// How often the client speaks on an idle link.
        keepalive: Duration,
    },
    /// Continue a session on this new link. The client sends again, right after its
    /// proof, what it sent from byte `resent_from` on (what the server had
    /// acknowledged); the server skips what of it it already has.
    Resume {
        /// The session.
        id: SessionId,
        /// DATA bytes the client received from the server, all links counted.
        received: u64,
        /// Where the DATA the client sends after its proof starts in the stream.
        resent_from: u64,
    },
    /// Serve this connection over shared-memory rings (see [`crate::ring`]): the client
    /// is on the server's host, on its Unix socket. The server answers with a
    /// [`RingOffer`] frame right after its welcome.
    SharedMemory,
}

/// The server's answer to [`SessionRequest::SharedMemory`]: one frame right after its
/// welcome. An offer's frame carries [`RING_FDS`] descriptors (`SCM_RIGHTS`) in that
/// order; after it, both sides speak through the rings and the socket carries nothing
/// (it stays open, and its end is the connection's end).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RingOffer {
    /// The segment, made for this connection, and its bells: rings of `capacity` bytes.
    Offered {
        /// Bytes of each ring.
        capacity: u64,
    },
    /// The server does not serve shared memory here, and closes: why, in words for
    /// the user.
    Declined(String),
}

/// The descriptors that come with a [`RingOffer::Offered`], in order: the segment (a
/// sealed memfd), then four eventfds — the client's bells for data and for room (the
/// server rings them), then the server's (the client rings them).
pub const RING_FDS: [&str; 5] =
    ["segment", "client data bell", "client space bell", "server data bell", "server space bell"];

impl RingOffer {
    /// Its bytes (a frame's payload).
    pub fn encode(&self) -> Vec<u8> {
        match self {
            RingOffer::Offered { capacity } => {
                let mut out = vec![OFFERED];
                out.extend_from_slice(&capacity.to_le_bytes());
                out
            }
            RingOffer::Declined(reason) => {
                let mut out = vec![DECLINED];
                out.extend_from_slice(reason.as_bytes());
                out
            }
        }
    }

    /// Parses a frame's payload.
    pub fn decode(bytes: &[u8]) -> Result<RingOffer, SessionError> {
        let (&tag, rest) = bytes.split_first().ok_or(SessionError("empty"))?;
        match tag {
            OFFERED => {
                let (capacity, rest) = take::<8>(rest)?;
                done(rest)?;
                Ok(RingOffer::Offered { capacity: u64::from_le_bytes(capacity) })
            }
            DECLINED => Ok(RingOffer::Declined(String::from_utf8_lossy(rest).into_owned())),
            _ => Err(SessionError("unknown ring offer")),
        }
    }
}

/// A session message that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed session message: {0}")]
pub struct SessionError(pub &'static str);

pub(super) fn take<const N: usize>(msg: &[u8]) -> Result<([u8; N], &[u8]), SessionError> {
    msg.split_first_chunk::<N>().map(|(h, r)| (*h, r)).ok_or(SessionError("too short"))
}

pub(super) fn done(rest: &[u8]) -> Result<(), SessionError> {
    if rest.is_empty() { Ok(()) } else { Err(SessionError("trailing bytes")) }
}

impl SessionRequest {
    /// Its bytes, appended to the handshake proof.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + SESSION_ID_LEN + 8);
        match self {
            SessionRequest::New { keepalive } => {
                out.push(NEW);
                let ms = u64::try_from(keepalive.as_millis()).unwrap_or(u64::MAX);
                out.extend_from_slice(&ms.to_le_bytes());
            }
            SessionRequest::Resume { id, received, resent_from } => {
                out.push(RESUME);
                out.extend_from_slice(&id.0);
                out.extend_from_slice(&received.to_le_bytes());
                out.extend_from_slice(&resent_from.to_le_bytes());
            }
            SessionRequest::SharedMemory => out.push(SHARED_MEMORY),
        }
        out
    }

    /// Parses what followed a proof: nothing is no session.
    pub fn decode(bytes: &[u8]) -> Result<Option<SessionRequest>, SessionError> {
        let Some((&tag, rest)) = bytes.split_first() else { return Ok(None) };
        match tag {
            NEW => {
                let (ms, rest) = take::<8>(rest)?;
                done(rest)?;
                Ok(Some(SessionRequest::New { keepalive: Duration::from_millis(u64::from_le_bytes(ms)) }))
            }
            RESUME => {
                let (id, rest) = take::<SESSION_ID_LEN>(rest)?;
                let (received, rest) = take::<8>(rest)?;
                let (resent_from, rest) = take::<8>(rest)?;
                done(rest)?;
                Ok(Some(SessionRequest::Resume {
                    id: SessionId(id),
                    received: u64::from_le_bytes(received),
                    resent_from: u64::from_le_bytes(resent_from),
                }))
            }
            SHARED_MEMORY => done(rest).map(|()| Some(SessionRequest::SharedMemory)),
            _ => Err(SessionError("unknown session request")),
        }
    }
}

/// The server's answer to a session request: one frame, right after its welcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionReply {
    /// A new session, kept for `grace` after its link breaks.
    Started {
        /// The session's name, for resuming it.
        id: SessionId,
        /// How long the server keeps a session whose link broke.
        grace: Duration,
    },
    /// The session goes on: the server had received this many DATA bytes.
    Resumed {
        /// DATA bytes the server received from the client, all links counted.
        received: u64,
    },
    /// No such session (its grace period passed, or it ended).
    Unknown,
}

impl SessionReply {
    /// Its bytes (a frame's payload).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + SESSION_ID_LEN + 8);
        match self {
            SessionReply::Started { id, grace } => {
                out.push(STARTED);
                out.extend_from_slice(&id.0);
                let ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
                out.extend_from_slice(&ms.to_le_bytes());
            }
            SessionReply::Resumed { received } => {
                out.push(RESUMED);
                out.extend_from_slice(&received.to_le_bytes());
            }
            SessionReply::Unknown => out.push(UNKNOWN),
        }
        out
    }

    /// Parses a frame's payload.
    pub fn decode(bytes: &[u8]) -> Result<SessionReply, SessionError> {
        let (&tag, rest) = bytes.split_first().ok_or(SessionError("empty"))?;
        match tag {
            STARTED => {
                let (id, rest) = take::<SESSION_ID_LEN>(rest)?;
                let (ms, rest) = take::<8>(rest)?;
                done(rest)?;
                Ok(SessionReply::Started { id: SessionId(id), grace: Duration::from_millis(u64::from_le_bytes(ms)) })
            }
            RESUMED => {
                let (received, rest) = take::<8>(rest)?;
                done(rest)?;
                Ok(SessionReply::Resumed { received: u64::from_le_bytes(received) })
            }
            UNKNOWN => done(rest).map(|()| SessionReply::Unknown),
            _ => Err(SessionError("unknown session reply")),
        }
    }
}
