//! Why a connection ended, or its handshake failed: for the logs, typed so that the
//! cause (an I/O error, a frame or message that did not decode) travels with it.

use manager_proto::DecodeError;
use manager_proto::frame::FrameError;
use manager_proto::handshake::HandshakeError;
use std::time::Duration;

/// Why a connection (or its handshake) ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Ended {
    #[error("closed by peer")]
    ClosedByPeer,
    #[error("read failed: {0}")]
    Read(#[source] std::io::Error),
    #[error("write failed: {0}")]
    Write(#[source] std::io::Error),
    #[error("bad frame: {0}")]
    BadFrame(#[source] FrameError),
    #[error("bad request: {0}")]
    BadRequest(#[source] DecodeError),
    #[error("server shutting down")]
    Shutdown,
    #[error("nothing received for {0:?}; the peer is gone")]
    Idle(Duration),
    #[error("handshake failed: {0}")]
    Handshake(#[source] HandshakeError),
    #[error("TLS handshake refused: {0}")]
    Tls(#[source] std::io::Error),
    #[error("shared memory refused: {0}")]
    RingsRefused(String),
    #[error("no randomness for a nonce: {0}")]
    Random(#[source] crate::error::ServerError),
}
