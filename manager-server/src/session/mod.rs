//! Sessions that survive a broken link (see `manager_proto::session`): a client that
//! asked for one in its handshake is served by an ordinary connection task over one end
//! of a local socket pair, and a relay ([`relay`]) carries the other end's bytes over
//! the network link. When the link breaks, the connection task notices nothing: its
//! references, locks, reservations and parked calls stay its own for the grace period,
//! and a client that comes back with the session's id and a fresh handshake continues
//! exactly where it was. When the grace period passes, the relay closes its end, and
//! the connection ends as any other (everything it held is released).

mod relay;

use manager_proto::frame::FrameDecoder;
use manager_proto::session::{Relay, SessionId, SessionReply};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

use crate::auth::write_frame;
use crate::connection::Connection;
use crate::random::random_bytes;
use crate::sessions::NewLink;
use crate::state::Shared;
use crate::stream::Stream;

/// Serves a new session: the connection task and its relay, in this task, until both end.
pub(crate) async fn serve_new(
    link: Stream,
    mut decoder: FrameDecoder,
    shared: Arc<Shared>,
    conn_id: u64,
    peer: String,
    keepalive: Duration,
) {
    let grace = shared.config.session_grace;
    let Ok(id) = random_bytes::<16>().map(SessionId) else {
        tracing::warn!(%peer, "no randomness for a session id; connection dropped");
        return;
    };
    let pair = std::os::unix::net::UnixStream::pair().and_then(|(a, b)| {
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        Ok((Stream::new(a)?, Stream::new(b)?))
    });
    let (outer_end, inner_end) = match pair {
        Ok(pair) => pair,
        Err(e) => {
            tracing::warn!(%peer, "no socket pair for a session ({e}); connection dropped");
            return;
        }
    };
    if let Err(e) = write_frame(&link, &SessionReply::Started { id, grace }.encode()).await {
        tracing::info!(%peer, "session start not delivered: {e}");
        return;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    shared.sessions.lock().insert(id, tx);
    let mut relay = Relay::new();
    // Link frames the client sent right after the handshake, if any.
    relay.link_buffer().extend_from_slice(decoder.buffer_mut());
    let inner_decoder = FrameDecoder::new(shared.config.max_frame);
    let connection = Connection::new(inner_end, Arc::clone(&shared), conn_id, peer.clone());
    let run = relay::Run { relay, inner: outer_end, link: Some(link), resumes: rx, grace, keepalive, peer };
    tokio::join!(connection.serve(inner_decoder), run.run());
    shared.sessions.lock().remove(&id);
}

/// Hands a resuming client's link to its session's relay, or tells it the session is
/// unknown (its grace period passed, the server restarted).
pub(crate) async fn resume(
    link: Stream,
    decoder: FrameDecoder,
    shared: &Shared,
    id: SessionId,
    received: u64,
    resent_from: u64,
    peer: String,
) {
    let relay = shared.sessions.lock().get(&id).cloned();
    let link = NewLink { stream: link, decoder, received, resent_from, peer };
    let refused = match relay {
        Some(tx) => match tx.send(link) {
            Ok(()) => return,
            Err(mpsc::error::SendError(link)) => link,
        },
        None => link,
    };
    tracing::info!(peer = %refused.peer, "resume of an unknown or expired session refused");
    let _ = write_frame(&refused.stream, &SessionReply::Unknown.encode()).await;
}
