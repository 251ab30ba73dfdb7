//! The table of reconnecting clients' sessions alive now, and what a resuming link
//! brings (a leaf: `state.rs` holds the table, `session/` serves what is in it).

use manager_proto::frame::FrameDecoder;
use manager_proto::session::SessionId;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::mpsc;

use crate::stream::Stream;

/// A new link for a session: the authenticated socket, what its decoder already holds,
/// and how many bytes the client says it received.
#[derive(Debug)]
pub(crate) struct NewLink {
    pub(crate) stream: Stream,
    pub(crate) decoder: FrameDecoder,
    pub(crate) received: u64,
    /// Where the DATA the client sent after its proof starts.
    pub(crate) resent_from: u64,
    pub(crate) peer: String,
}

/// The sessions alive now (served, or waiting out their grace period), by id.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    relays: Mutex<HashMap<SessionId, mpsc::UnboundedSender<NewLink>>>,
}

impl Sessions {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, mpsc::UnboundedSender<NewLink>>> {
        self.relays.lock().unwrap_or_else(|p| p.into_inner())
    }
}
