//! Listening and accepting: bound sockets, the accept loop with its handshakes and
//! their deadlines, refusal at the connection limit, and the hand-off of an
//! authenticated peer to its connection task.

use futures_util::StreamExt;
use futures_util::future::{AbortHandle, AbortRegistration, Abortable};
use futures_util::stream::FuturesUnordered;
use manager_proto::Address;
use manager_proto::frame::{self, FrameDecoder};
use manager_proto::handshake;
use manager_proto::session::SessionRequest;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::net::{TcpListener, UnixListener};
use tokio_util::task::TaskTracker;

use crate::auth::{authenticate, write_frame};
use crate::config::ListenSpec;
use crate::connection::Connection;
use crate::ended::Ended;
use crate::error::ServerError;
use crate::session;
use crate::state::Shared;
use crate::stream::Stream;

/// A bound listener, registered with the runtime for readability; connections are
/// accepted with a raw `accept4` straight into a socket registered for reading only
/// (tokio's accept registers the new socket for both directions, which would have to be
/// undone).
#[derive(Debug)]
pub(crate) struct Listener {
    fd: AsyncFd<OwnedFd>,
    kind: ListenerKind,
}

#[derive(Debug)]
enum ListenerKind {
    Tcp(std::net::SocketAddr),
    Unix(PathBuf),
    /// TCP serving TLS, with what its connections present.
    Tls(std::net::SocketAddr, Arc<rustls::ServerConfig>),
}

impl Listener {
    fn new(fd: impl Into<OwnedFd>, kind: ListenerKind) -> std::io::Result<Listener> {
        Ok(Listener { fd: crate::stream::register(fd.into(), Interest::READABLE)?, kind })
    }

    pub(crate) fn address(&self) -> Address {
        match &self.kind {
            ListenerKind::Tcp(addr) => Address::Tcp(addr.to_string()),
            ListenerKind::Unix(path) => Address::Unix(path.clone()),
            ListenerKind::Tls(addr, _) => Address::Tls(addr.to_string()),
        }
    }

    pub(crate) fn unix_path(&self) -> Option<&PathBuf> {
        match &self.kind {
            ListenerKind::Unix(path) => Some(path),
            ListenerKind::Tcp(_) | ListenerKind::Tls(..) => None,
        }
    }
}

/// Binds `spec`; a `tls://` one serves with `tls`.
pub(crate) async fn bind(spec: &ListenSpec, tls: Option<&Arc<rustls::ServerConfig>>) -> Result<Listener, ServerError> {
    match spec {
        ListenSpec::Tcp(addr) | ListenSpec::Tls(addr) => {
            let scheme = if matches!(spec, ListenSpec::Tls(_)) { "tls" } else { "tcp" };
            let bind_err = |source| ServerError::Bind { address: format!("{scheme}://{addr}"), source };
            let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
            let local = listener.local_addr().map_err(bind_err)?;
            let kind = match (spec, tls) {
                (ListenSpec::Tls(_), Some(tls)) => ListenerKind::Tls(local, Arc::clone(tls)),
                (ListenSpec::Tls(_), None) => {
                    return Err(ServerError::Config(format!("{scheme}://{addr} needs ServerBuilder::tls")));
                }
                _ => ListenerKind::Tcp(local),
            };
            Listener::new(listener.into_std().map_err(bind_err)?, kind).map_err(bind_err)
        }
        ListenSpec::Unix(path) => {
            let bind_err = |source| ServerError::Bind { address: format!("unix:{}", path.display()), source };
            if path.exists() {
                // Someone answering means the address is in use; a dead socket file
                // left by a crashed server is replaced.
                if tokio::net::UnixStream::connect(path).await.is_ok() {
                    return Err(bind_err(std::io::ErrorKind::AddrInUse.into()));
                }
                let _ = std::fs::remove_file(path);
            }
            let listener = UnixListener::bind(path).map_err(bind_err)?;
            set_owner_only(path, 0o600).map_err(bind_err)?;
            Listener::new(listener.into_std().map_err(bind_err)?, ListenerKind::Unix(path.clone())).map_err(bind_err)
        }
    }
}

fn set_owner_only(path: &std::path::Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

pub(crate) async fn accept_loop(listener: Listener, shared: Arc<Shared>, tracker: TaskTracker) {
    // Handshakes run inside this task, beside accepting. A task spawned per new
    // connection meant a hand-off to another worker thread (on a 2-core VM a cross-core
    // wake-up of tens of microseconds) before the peer's hello was even read; now only an
    // authenticated peer gets a task of its own, after its welcome went out.
    let mut handshakes = FuturesUnordered::new();
    // Their deadlines, checked by one ticker. A timer per handshake sooner than the
    // runtime's next one woke a parked worker thread to re-arm its wait (an eventfd
    // write and a wake-up per connect, which cost unpinned connects 10–25% in
    // alternating runs); a handshake now ends between one and one and a quarter
    // timeouts after it began. A finished handshake leaves the map at once: its abort
    // handle holds the handshake's waker, and with it the finished handshake's memory
    // (about a kilobyte per connect when the handles waited for their deadline).
    let timeout = shared.config.handshake_timeout;
    let mut ticker = tokio::time::interval((timeout / 4).max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut running: HashMap<u64, (tokio::time::Instant, AbortHandle)> = HashMap::new();
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => break,
            now = ticker.tick(), if !running.is_empty() => {
                running.retain(|_, (deadline, abort)| {
                    let expired = *deadline <= now;
                    if expired {
                        abort.abort();
                    }
                    !expired
                });
            }
            Some((conn_id, done)) = handshakes.next(), if !handshakes.is_empty() => {
                running.remove(&conn_id);
                if let Some(peer) = done {
                    let shared = Arc::clone(&shared);
                    tracker.spawn(serve_authenticated(peer, shared));
                }
            }
            accepted = accept(&listener) => match accepted {
                Ok((stream, peer)) => {
                    let conn_id = shared.stats.next_connection.fetch_add(1, Ordering::Relaxed) + 1;
                    match Arc::clone(&shared.connection_slots).try_acquire_owned() {
                        Ok(permit) => {
                            let (abort, registration) = AbortHandle::new_pair();
                            running.insert(conn_id, (tokio::time::Instant::now() + timeout, abort));
                            handshakes.push(handshake(stream, peer, Arc::clone(&shared), conn_id, permit, registration));
                        }
                        Err(_) => {
                            tracker.spawn(refuse(stream, peer, Arc::clone(&shared)));
                        }
                    }
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    if let Some(path) = listener.unix_path() {
        let _ = std::fs::remove_file(path);
    }
}

/// Tells a peer beyond the connection limit why it is refused.
async fn refuse(stream: Stream, peer: String, shared: Arc<Shared>) {
    let limit = shared.config.max_connections;
    tracing::warn!(%peer, limit, "connection refused: at the connection limit");
    let msg = handshake::unavailable_message(&format!("too many connections (limit {limit})"));
    // On a TLS listener the refusal travels inside TLS, the only thing such a client
    // reads; a peer that does not finish the TLS handshake in time is just closed.
    let timeout = shared.config.handshake_timeout;
    if matches!(tokio::time::timeout(timeout, stream.tls_handshake()).await, Ok(Ok(()))) {
        let _ = write_frame(&stream, &msg).await;
        linger(&stream).await;
    }
}

/// A peer that passed the handshake, with what its connection needs.
struct Authenticated {
    stream: Stream,
    peer: String,
    conn_id: u64,
    decoder: FrameDecoder,
    /// Its place under the connection limit, held while it is served.
    permit: tokio::sync::OwnedSemaphorePermit,
    /// The session it asked for, if any.
    session: Option<SessionRequest>,
}

/// Before closing a refused connection, reads (and discards) what the peer sends until it
/// closes, for at most a second: closing with its hello unread would reset the connection
/// and could destroy the refusal before the peer reads it.
async fn linger(stream: &Stream) {
    let drain = async {
        let mut buf = Vec::with_capacity(512);
        let mut total = 0usize;
        while total < 64 * 1024 {
            buf.clear();
            match stream.read_some(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

async fn accept(listener: &Listener) -> std::io::Result<(Stream, String)> {
    use rustix::net::SocketFlags;
    let accept = |l: &OwnedFd| {
        rustix::net::accept_with(l, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC).map_err(std::io::Error::from)
    };
    let socket = listener.fd.async_io(Interest::READABLE, accept).await?;
    match &listener.kind {
        ListenerKind::Tcp(_) => {
            let socket = std::net::TcpStream::from(socket);
            socket.set_nodelay(true)?;
            let peer = socket.peer_addr()?.to_string();
            Ok((Stream::new(socket)?, peer))
        }
        ListenerKind::Tls(_, config) => {
            let socket = std::net::TcpStream::from(socket);
            socket.set_nodelay(true)?;
            let peer = socket.peer_addr()?.to_string();
            Ok((Stream::new_tls(socket, config)?, peer))
        }
        ListenerKind::Unix(path) => Ok((Stream::new(socket)?, format!("unix:{}", path.display()))),
    }
}

/// Authenticates a peer before `deadline` aborts it; `None` (logged) when it fails.
/// Returns the connection's id either way.
async fn handshake(
    stream: Stream,
    peer: String,
    shared: Arc<Shared>,
    conn_id: u64,
    permit: tokio::sync::OwnedSemaphorePermit,
    deadline: AbortRegistration,
) -> (u64, Option<Authenticated>) {
    let mut decoder = FrameDecoder::new(frame::HANDSHAKE_MAX_FRAME);
    // TLS first (on a TLS listener), then the key handshake inside it, both before the
    // one deadline.
    let steps = async {
        match stream.tls_handshake().await {
            Ok(()) => authenticate(&stream, &shared, &mut decoder).await.map(|session| Some((stream, session))),
            Err(e) if crate::tls_session::is_not_tls(&e) => {
                // A plain client on the TLS port: its hello is a frame, and it reads one.
                tracing::warn!(%peer, "TLS handshake refused: the peer does not speak TLS");
                let plain = stream.into_plain();
                let msg = handshake::unavailable_message("the server expects TLS: use tls://");
                if write_frame(&plain, &msg).await.is_ok() {
                    linger(&plain).await;
                }
                Ok(None)
            }
            // Names what failed (a certificate refused, a protocol error), never a key.
            Err(e) => Err(Ended::Tls(e)),
        }
    };
    let authenticated = match Abortable::new(steps, deadline).await {
        Ok(Ok(Some((stream, session)))) => Some(Authenticated { stream, peer, conn_id, decoder, permit, session }),
        Ok(Ok(None)) => None,
        // Refused (a wrong key, no common version) or broken off: a warning, naming
        // the peer and why, never the key.
        Ok(Err(Ended::Handshake(refused))) => {
            tracing::warn!(%peer, "handshake refused: {refused}");
            None
        }
        Ok(Err(reason)) => {
            tracing::warn!(%peer, "handshake failed: {reason}");
            None
        }
        Err(_) => {
            tracing::warn!(%peer, "handshake deadline passed; connection dropped");
            None
        }
    };
    (conn_id, authenticated)
}

/// Serves an authenticated peer until it leaves or the server shuts down.
async fn serve_authenticated(peer: Authenticated, shared: Arc<Shared>) {
    let Authenticated { stream, peer, conn_id, mut decoder, permit: _permit, session } = peer;
    match session {
        None => {
            decoder.set_limit(shared.config.max_frame);
            shared.stats.connections.fetch_add(1, Ordering::Relaxed);
            Connection::new(stream, shared, conn_id, peer).serve(decoder).await;
        }
        Some(SessionRequest::New { keepalive }) => {
            shared.stats.connections.fetch_add(1, Ordering::Relaxed);
            session::serve_new(stream, decoder, shared, conn_id, peer, keepalive).await;
        }
        Some(SessionRequest::SharedMemory) => {
            let mut stream = stream;
            if let Err(reason) = crate::auth::offer_rings(&mut stream, &shared).await {
                tracing::warn!(%peer, "connection closed: {reason}");
                linger(&stream).await;
                return;
            }
            decoder.set_limit(shared.config.max_frame);
            shared.stats.connections.fetch_add(1, Ordering::Relaxed);
            let peer = format!("{peer} (shared memory)");
            Connection::new(stream, shared, conn_id, peer).serve(decoder).await;
        }
        // A new link for a session already counted and holding its own place.
        Some(SessionRequest::Resume { id, received, resent_from }) => {
            session::resume(stream, decoder, &shared, id, received, resent_from, peer).await;
        }
    }
}
