//! Errors: [`RemoteError`] crosses the wire; [`Error`] is what every client call returns.

use crate::token::TokenError;
use crate::{AddressError, AuthKeyError, FrameError, HandshakeError, ObjectId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io;
use std::sync::Arc;

/// Why the server refused or failed a request. Sent on the wire as a number, so a
/// client meets kinds added after it was built as [`RemoteErrorKind::Other`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "u32", into = "u32")]
#[non_exhaustive]
pub enum RemoteErrorKind {
    /// The method is not exposed by the object's type (or does not exist).
    NotExposed,
    /// No object with that id (dropped, never existed, or not held by this connection).
    NoSuchObject,
    /// The server has no type registered under that type id.
    NoSuchType,
    /// The arguments (or a value) did not decode as the server's types: the two sides
    /// disagree on a signature.
    Decode,
    /// The method panicked; the server went on.
    Panicked,
    /// The method returned its own error; [`RemoteError::detail`] holds it encoded.
    User,
    /// The request kind is unknown to this server (a newer client).
    UnknownRequest,
    /// No named object by that name.
    NoSuchName,
    /// The server is shutting down; the call was not run, or was interrupted.
    ShuttingDown,
    /// The object is not of the type the client expected.
    WrongType,
    /// The server does not allow this request (remote shutdown when disabled, ...).
    Forbidden,
    /// The request was malformed.
    Protocol,
    /// A server limit was reached (too many objects, connections, ...).
    LimitExceeded,
    /// A blocking operation timed out on an empty queue (Python's `queue.Empty`).
    Empty,
    /// A blocking operation timed out on a full queue (Python's `queue.Full`).
    Full,
    /// The queue was shut down (Python 3.13's `queue.ShutDown`).
    QueueShutDown,
    /// The barrier is broken, or broke while waiting (Python's `BrokenBarrierError`).
    BrokenBarrier,
    /// A key was not found (Python's `KeyError`).
    KeyNotFound,
    /// An index was out of range (Python's `IndexError`).
    IndexOutOfRange,
    /// An argument had the right type but an unusable value (Python's `ValueError`).
    InvalidValue,
    /// A lock or condition was used by a client that does not hold it (Python's
    /// `RuntimeError` for releasing an un-acquired lock).
    NotOwner,
    /// A number would leave its type's range: a counter past its maximum, a size that
    /// does not fit (Python's `OverflowError`). Nothing was changed.
    Overflow,
    /// A container changed size (or a dict its keys) while it was being iterated
    /// (Python's `RuntimeError: dictionary changed size during iteration`).
    ChangedDuringIteration,
    /// A pool's worker process ended (killed, crashed) while it ran the task (Python's
    /// pool hangs for ever there). The message names the job, the task and the pid.
    WorkerLost,
    /// The pool was closed (no new tasks) or terminated (queued and running tasks
    /// fail): Python's `ValueError: Pool not running`.
    PoolNotRunning,
    /// A kind this client does not know, by its number.
    Other(u32),
}

impl RemoteErrorKind {
    const TABLE: [(u32, RemoteErrorKind); 25] = [
        (1, RemoteErrorKind::NotExposed),
        (2, RemoteErrorKind::NoSuchObject),
        (3, RemoteErrorKind::NoSuchType),
        (4, RemoteErrorKind::Decode),
        (5, RemoteErrorKind::Panicked),
        (6, RemoteErrorKind::User),
        (7, RemoteErrorKind::UnknownRequest),
        (8, RemoteErrorKind::NoSuchName),
        (9, RemoteErrorKind::ShuttingDown),
        (10, RemoteErrorKind::WrongType),
        (11, RemoteErrorKind::Forbidden),
        (12, RemoteErrorKind::Protocol),
        (13, RemoteErrorKind::LimitExceeded),
        (20, RemoteErrorKind::Empty),
        (21, RemoteErrorKind::Full),
        (22, RemoteErrorKind::QueueShutDown),
        (23, RemoteErrorKind::BrokenBarrier),
        (24, RemoteErrorKind::KeyNotFound),
        (25, RemoteErrorKind::IndexOutOfRange),
        (26, RemoteErrorKind::InvalidValue),
        (27, RemoteErrorKind::NotOwner),
        (28, RemoteErrorKind::Overflow),
        (29, RemoteErrorKind::ChangedDuringIteration),
        (30, RemoteErrorKind::WorkerLost),
        (31, RemoteErrorKind::PoolNotRunning),
    ];

    /// The kind's number on the wire.
    pub fn code(self) -> u32 {
        if let RemoteErrorKind::Other(code) = self {
            return code;
        }
        Self::TABLE.iter().find(|(_, kind)| *kind == self).map_or(0, |(code, _)| *code)
    }
}

impl From<u32> for RemoteErrorKind {
    fn from(code: u32) -> Self {
        Self::TABLE.iter().find(|(c, _)| *c == code).map_or(RemoteErrorKind::Other(code), |(_, kind)| *kind)
    }
}

impl From<RemoteErrorKind> for u32 {
    fn from(kind: RemoteErrorKind) -> u32 {
        kind.code()
    }
}

/// An error the server sends in place of a result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteError {
    /// What went wrong, as a kind a program can match on.
    pub kind: RemoteErrorKind,
    /// What went wrong, for a person: names the object, type or method involved.
    pub message: String,
    /// For [`RemoteErrorKind::User`]: the method's error value, encoded. Empty otherwise.
    #[serde(with = "serde_bytes")]
    pub detail: Vec<u8>,
}

impl RemoteError {
    /// An error of `kind` with a message and no detail.
    pub fn new(kind: RemoteErrorKind, message: impl Into<String>) -> Self {
        RemoteError { kind, message: message.into(), detail: Vec::new() }
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RemoteError {}

/// Everything a client call can fail with. Cheap to clone, so one connection failure
/// can be handed to every call that was waiting on it.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The socket could not be opened.
    #[error("could not connect to the manager at {address}: {source}")]
    Connect {
        /// Where we tried.
        address: String,
        /// Why it failed.
        #[source]
        source: Arc<io::Error>,
    },
    /// The handshake failed: the peer does not hold our key (or is not our server).
    #[error("authentication with the manager at {address} failed: wrong key or wrong server{hint}")]
    Authentication {
        /// The peer.
        address: String,
        /// Empty, or (starting with "; ") the likely mistake: a hex key passed as raw
        /// bytes.
        hint: &'static str,
    },
    /// The TLS session with a `tls://` address could not be set up: the server's
    /// certificate is not trusted, not valid for the address's name, or expired; the
    /// server wants a client certificate; or one side does not speak TLS. The reason
    /// says which, and what to change.
    #[error("TLS with the manager at {address} failed: {reason}")]
    Tls {
        /// The peer.
        address: String,
        /// What went wrong, and the likely fix.
        reason: String,
    },
    /// The handshake failed for another reason (version mismatch, not a manager).
    #[error("handshake with the manager at {address} failed: {source}")]
    Handshake {
        /// The peer.
        address: String,
        /// What the handshake found.
        #[source]
        source: HandshakeError,
    },
    /// The connection is gone: calls in flight fail with this, and so does every later
    /// call on the same client.
    #[error("the connection to the manager at {address} is gone: {reason}")]
    ConnectionLost {
        /// The peer.
        address: String,
        /// What ended it.
        #[source]
        reason: Lost,
    },
    /// The server shut down (it said so before closing the connection): calls in flight
    /// fail with this, and so does every later call on the same client. Unlike
    /// [`ConnectionLost`](Self::ConnectionLost), nothing broke: the server stopped on
    /// purpose.
    #[error("the manager at {address} shut down")]
    ServerShutDown {
        /// The server.
        address: String,
    },
    /// A reconnecting client's session is over: its link broke and no new one reached
    /// the server within the session's grace period (or the server had let it go).
    /// Objects this client created, the references and locks it held and the calls it
    /// had in flight went with it (a call in flight may or may not have run: never
    /// twice). The `Client` itself reconnects, and proxies to named objects look their
    /// names up again.
    #[error("the session with the manager at {address} is lost: {reason}")]
    SessionLost {
        /// The server.
        address: String,
        /// Why (how long the client tried, what the server said).
        reason: String,
    },
    /// A reconnecting client found a different run of the server at its address: the
    /// objects of the old run are gone. As with [`SessionLost`](Self::SessionLost), the
    /// `Client` itself reconnects.
    #[error("the manager at {address} restarted: objects of its previous run are gone")]
    ServerRestarted {
        /// The server.
        address: String,
    },
    /// The server answered with an error.
    #[error("{0}")]
    Remote(#[from] RemoteError),
    /// A value from the server did not decode as the type this side expected.
    #[error("could not decode {what}: {reason}")]
    Decode {
        /// Which value.
        what: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// A value could not be encoded (a serializer refused it).
    #[error("could not encode {what}: {reason}")]
    Encode {
        /// Which value.
        what: String,
        /// The serializer's complaint.
        reason: String,
    },
    /// A frame over the size limit.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The peer broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// An address that does not parse.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// An unusable key.
    #[error(transparent)]
    AuthKey(#[from] AuthKeyError),
    /// Missing or bad configuration (environment variables, options).
    #[error("configuration: {0}")]
    Config(String),
    /// An object is not of the type the proxy expects.
    #[error("wrong type: expected a `{expected}`, the server has a `{found}`")]
    WrongType {
        /// The proxy's type id.
        expected: String,
        /// The object's type id.
        found: String,
    },
    /// The object's type is the proxy's, but not its element types or interface (see
    /// [`fingerprint`](crate::fingerprint)): a `Value<i32>` opened as a
    /// `Value<String>`, a `#[shared]` type whose methods differ between two programs.
    /// Refused before the proxy could write or read anything.
    #[error("type mismatch: {0}")]
    TypeMismatch(String),
    /// A token that belongs to another server or another run of the server.
    #[error("stale token: {0}")]
    StaleToken(String),
    /// Text that is not a token's (see [`Token`](crate::Token)'s `FromStr`).
    #[error(transparent)]
    BadToken(#[from] TokenError),
    /// The object a token names is gone: its lease ran out and every holder (proxies,
    /// containers, names) had released it. Object ids are never reused within a server
    /// run, so a late token fails this way and never reaches another object.
    #[error(
        "the `{type_id}` object {object} this token names is gone: the token's lease ran out (a token keeps its \
         object alive for the server's token lease, 30 s by default, after it is minted) and every proxy, \
         container and name that held the object released it; attach sooner, or keep a proxy alive until the \
         receiver has attached"
    )]
    ObjectGone {
        /// The object's type id.
        type_id: String,
        /// The object.
        object: ObjectId,
    },
    /// A client-side deadline passed.
    #[error("timed out: {0}")]
    Timeout(String),
    /// Another I/O error.
    #[error("i/o error: {0}")]
    Io(#[source] Arc<io::Error>),
}

/// Why a connection ended (when the server did not shut down on purpose).
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Lost {
    /// The server closed the connection (its process died, or it dropped us).
    #[error("the server closed the connection")]
    Closed,
    /// Reading from the socket failed.
    #[error("read failed: {0}")]
    Read(#[source] Arc<io::Error>),
    /// Writing to the socket failed.
    #[error("write failed: {0}")]
    Write(#[source] Arc<io::Error>),
    /// The socket failed during the handshake.
    #[error("during the handshake: {0}")]
    Handshake(#[source] Arc<io::Error>),
    /// The server sent a frame over the limit, or a broken one.
    #[error("the server sent a bad frame: {0}")]
    BadFrame(#[source] FrameError),
    /// The server sent a response that does not decode.
    #[error("the server sent a bad response: {0}")]
    BadResponse(#[source] crate::DecodeError),
    /// The server answered nothing for this long, not even a ping.
    #[error("no answer from the server for {0:?}")]
    Silent(std::time::Duration),
}

impl Lost {
    /// A read that failed.
    pub fn read(e: io::Error) -> Lost {
        Lost::Read(Arc::new(e))
    }

    /// A write that failed.
    pub fn write(e: io::Error) -> Lost {
        Lost::Write(Arc::new(e))
    }
}

impl Error {
    /// The server-side kind, if the server answered with an error.
    pub fn remote_kind(&self) -> Option<RemoteErrorKind> {
        match self {
            Error::Remote(e) => Some(e.kind),
            _ => None,
        }
    }

    /// Whether the connection is gone (this call and all later ones on the client fail):
    /// it broke, or the server shut down.
    pub fn is_connection_lost(&self) -> bool {
        matches!(
            self,
            Error::ConnectionLost { .. }
                | Error::ServerShutDown { .. }
                | Error::SessionLost { .. }
                | Error::ServerRestarted { .. }
        )
    }

    /// Whether a reconnecting client's session ended ([`SessionLost`](Self::SessionLost)
    /// or [`ServerRestarted`](Self::ServerRestarted)): the proxies of its connection are
    /// dead, the `Client` reconnects.
    pub fn is_session_lost(&self) -> bool {
        matches!(self, Error::SessionLost { .. } | Error::ServerRestarted { .. })
    }

    /// Whether the connection is gone because the server shut down (and said so), not
    /// because it broke.
    pub fn is_server_shut_down(&self) -> bool {
        matches!(self, Error::ServerShutDown { .. })
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(Arc::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_codes_and_unknown_codes_survive() {
        for (code, kind) in RemoteErrorKind::TABLE {
            assert_eq!(RemoteErrorKind::from(code), kind);
            assert_eq!(kind.code(), code);
        }
        assert_eq!(RemoteErrorKind::from(999), RemoteErrorKind::Other(999));
        assert_eq!(RemoteErrorKind::Other(999).code(), 999);
    }
}
