//! A client's connection settings.

use std::time::Duration;

/// Connection settings. `ClientOptions::default()` suits a local network.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Time allowed to open the socket and authenticate. Default 10 s. While it
    /// authenticates, the client polls for each of the server's two answers for up to
    /// 200 µs, yielding the CPU between tries, before it sleeps: a wake-up from another
    /// core can cost more than the whole exchange.
    pub connect_timeout: Duration,
    /// When the client has sent nothing for this long it pings the server (whose idle
    /// timeout, 60 s by default, drops silent peers); and while calls are waiting and
    /// the server says nothing for this long, it pings too, declaring the connection
    /// lost if no answer comes within another period: within two periods (and a
    /// quarter of one, the reader's checks being four per period) of the server's
    /// last word, blocking or async. Default 10 s. Shorter notices a
    /// vanished host sooner; it must stay well below the server's idle timeout.
    pub keepalive: Duration,
    /// Largest frame sent or accepted. Default 64 MiB, as the server's.
    pub max_frame: usize,
    /// Low-latency mode: while calls are waiting, read for up to this long without
    /// sleeping before parking the reader (in a blocking client, the calling thread
    /// itself). Default zero (off). Saves a thread wake-up per round trip (tens of
    /// microseconds across cores) at the price of a spinning core; pair it with the
    /// server's `busy_poll`.
    pub spin: Duration,
    /// An adaptive poll (when `spin` is zero): a blocking client's call polls for its
    /// reply before sleeping in `recv`, for as long as replies have lately taken (a
    /// quarter more), learned per connection and never longer than this (default zero:
    /// never poll; 30 µs is a sensible cap). The budget grows when a reply that found
    /// the caller asleep came within this cap, and halves when one took longer or a
    /// poll missed: quick replies are read without a sleep and a wake-up, and slow ones
    /// soon stop being polled for. Never where the client may run on one core only (its
    /// affinity mask), where polling only delays the server it waits for. Off by
    /// default: on a loaded machine it measured slower than sleeping
    /// (docs/PERFORMANCE.md, issue 23). Pair it with the server's `adaptive_poll`.
    pub adaptive_poll: Duration,
    /// Reconnect after the link to the server breaks, resuming the session (default
    /// `None`: a broken connection stays broken, and calls fail with
    /// [`Error::ConnectionLost`](crate::Error::ConnectionLost)). With a policy, the connection is a session the server
    /// keeps for its grace period (`ServerBuilder::session_grace`, 30 s by default):
    /// a client back within it finds its references, locks and queue reservations as
    /// it left them, and every call in flight is answered once — run at most once, its
    /// reply not lost. Proxies keep working; a call waits while the client reconnects.
    /// When the session cannot be resumed, calls on the proxies of objects it created
    /// fail with [`Error::SessionLost`](crate::Error::SessionLost) or [`Error::ServerRestarted`](crate::Error::ServerRestarted); proxies to named
    /// objects look their name up again on a new session (calls in flight at the loss
    /// still fail: they may have run), and the `Client` opens a new session for what it
    /// is asked next. The
    /// relay this adds costs a thread per connection and a hop per message (see
    /// docs/PERFORMANCE.md).
    pub reconnect: Option<crate::Reconnect>,
    /// What `tls://` addresses trust, and the client certificate for servers that
    /// require one. Default none: a `tls://` address is then refused (with an
    /// [`Error::Config`](crate::Error::Config) saying so), never connected unverified. `Client::from_env`
    /// fills it from `MANAGER_TLS_CA` (see [`ClientTls::from_env`](crate::ClientTls::from_env)).
    pub tls: Option<crate::ClientTls>,
    /// Talk to the server through shared memory instead of the socket (default false).
    /// For a server on this host, at a `unix:` address, started with `--shared-memory`
    /// (`ServerBuilder::shared_memory`): after the handshake the server hands over a
    /// memory segment made for this connection (never named in `/dev/shm`; it goes
    /// with the two processes), and requests and replies cross through two rings in
    /// it, the socket staying open only to tell when either side is gone. Every proxy
    /// works unchanged. A round trip skips the kernel's socket path, and each side polls
    /// briefly for the other's answer before it sleeps (an adaptive budget, at most
    /// 50 µs, that falls to nothing when answers are slow), so busy clients rarely wait
    /// for a cross-core wake-up. Connecting fails with a clear error for another kind of
    /// address, a server that does not offer it, or together with `reconnect`.
    pub shared_memory: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(10),
            max_frame: manager_proto::frame::DEFAULT_MAX_FRAME,
            spin: Duration::ZERO,
            adaptive_poll: Duration::ZERO,
            reconnect: None,
            tls: None,
            shared_memory: false,
        }
    }
}
