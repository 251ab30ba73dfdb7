//! The server's limits and policies, as the builder sets them.

use manager_proto::frame;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::limits::Limits;

/// Limits and policies. Every field has a default chosen for a trusted local network;
/// the builder's methods document the trade-off of each.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Largest frame accepted or sent (default 64 MiB).
    pub(crate) max_frame: usize,
    /// Most simultaneous connections, authenticated or not (default 4096).
    pub(crate) max_connections: usize,
    /// Time a peer has to complete the handshake (default 10 s).
    pub(crate) handshake_timeout: Duration,
    /// Most calls parked per connection before the server stops reading it (default 1024).
    pub(crate) max_in_flight: usize,
    /// Whether a client's `Shutdown` request is obeyed (default false).
    pub(crate) allow_remote_shutdown: bool,
    /// How long shutdown waits for connections to finish (default 5 s).
    pub(crate) shutdown_grace: Duration,
    /// A connection that sends nothing for this long is dropped (default 60 s): a
    /// vanished peer (a half-open TCP connection) does not hold its references and
    /// locks for ever. Clients send a keepalive ping when idle.
    pub(crate) idle_timeout: Duration,
    /// Low-latency mode: after answering, read again for this long before sleeping
    /// (default zero: off). Costs a core while it spins.
    pub(crate) busy_poll: Duration,
    /// The adaptive poll: while `busy_poll` is off, a connection polls its socket
    /// before sleeping for a budget learned from how soon requests came
    /// (`AdaptiveSpin`), never more than this (default zero: never; see
    /// `ServerBuilder::adaptive_poll`), and only where it may run on more than one core.
    pub(crate) adaptive_poll: Duration,
    /// The most memory one request may make the server store (default: twice
    /// `max_frame`).
    pub(crate) max_request_memory: Option<usize>,
    /// How long the server holds an object after a token for it was minted (default
    /// 30 s; at least 1 s).
    pub(crate) token_lease: Duration,
    /// How often the cycle collector looks for garbage, if at all (default every 10 s,
    /// and only when references were released since its last run).
    pub(crate) collect_every: Option<Duration>,
    /// How long a reconnecting client's session outlives its broken link (default
    /// 30 s; zero: sessions end with their link).
    pub(crate) session_grace: Duration,
    /// The most bytes the live shared memory blocks may have together (default 1 GiB;
    /// 0: no blocks).
    pub(crate) max_shared_memory: u64,
    /// Whether clients on the Unix socket may switch their connection to shared-memory
    /// rings (default false).
    pub(crate) shared_memory: bool,
    /// Bytes of each of a shared-memory connection's two rings.
    pub(crate) ring_capacity: usize,
    /// What `tls://` listeners present (and ask of clients), if set.
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
}

impl Config {
    /// What one request may make the server allocate.
    pub(crate) fn limits(&self) -> Limits {
        Limits::new(self.max_frame, self.max_request_memory)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame: frame::DEFAULT_MAX_FRAME,
            max_connections: 4096,
            handshake_timeout: Duration::from_secs(10),
            max_in_flight: 1024,
            allow_remote_shutdown: false,
            shutdown_grace: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            busy_poll: Duration::ZERO,
            adaptive_poll: Duration::ZERO,
            max_request_memory: None,
            token_lease: manager_proto::token::DEFAULT_LEASE,
            collect_every: Some(Duration::from_secs(10)),
            session_grace: Duration::from_secs(30),
            max_shared_memory: crate::builtins::DEFAULT_MAX_SHARED_MEMORY,
            shared_memory: false,
            ring_capacity: manager_proto::ring::DEFAULT_CAPACITY,
            tls: None,
        }
    }
}

/// Where to listen.
#[derive(Clone, Debug)]
pub(crate) enum ListenSpec {
    Tcp(String),
    Unix(PathBuf),
    /// TCP serving TLS.
    Tls(String),
}
