//! Configuring, starting and stopping a server.

use futures_util::StreamExt;
use futures_util::future::{AbortHandle, AbortRegistration, Abortable};
use futures_util::stream::FuturesUnordered;
use manager_proto::dispatch::Dispatch;
use manager_proto::frame::{self, FrameDecoder};
use manager_proto::handshake::{self, NONCE_LEN, ServerHandshake, VersionRange};
use manager_proto::{Address, AuthKey, ServerId, ServerStats};
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::ServerError;
use crate::connection::Connection;
use crate::limits::Limits;
use crate::object::{ServerObject, UserObject};
use crate::registry::Registry;
use crate::stream::Stream;
use crate::table::Table;

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
    /// The most memory one request may make the server store (default: twice
    /// `max_frame`).
    pub(crate) max_request_memory: Option<usize>,
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
            max_request_memory: None,
        }
    }
}

/// Counters behind `Stats`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) connections: AtomicU64,
    pub(crate) parked: AtomicU64,
    /// Transfers undone (see `ServerStats::transfers_undone`).
    pub(crate) undone: AtomicU64,
    /// Source of connection ids (unique within a run, across listeners).
    pub(crate) next_connection: AtomicU64,
}

/// What every connection task shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) registry: Registry,
    pub(crate) table: Arc<Table>,
    /// Cancelled to shut the server down; every task watches it.
    pub(crate) shutdown: CancellationToken,
    pub(crate) stats: Counters,
    /// This run's id, sent in handshakes and carried by tokens.
    pub(crate) server_id: ServerId,
    pub(crate) authkey: AuthKey,
    /// Bounds connections, authenticated or not.
    pub(crate) connection_slots: Arc<Semaphore>,
    /// Every connection being served, for the idle sweep and shutdown.
    pub(crate) watches: Arc<crate::liveness::Watches>,
}

impl Shared {
    /// The state of a server that has no listener, task or object yet.
    fn new(config: Config, registry: Registry, authkey: AuthKey, server_id: ServerId) -> Shared {
        Shared {
            connection_slots: Arc::new(Semaphore::new(config.max_connections)),
            config,
            registry,
            table: Arc::new(Table::default()),
            shutdown: CancellationToken::new(),
            stats: Counters::default(),
            server_id,
            authkey,
            watches: Arc::default(),
        }
    }

    /// The state [`ServerBuilder::start`] makes for a default builder (every built-in type
    /// registered) with `config`, but no listener, task or named object: for serving a
    /// [`Connection`] over a socket of one's own (the fuzzing harness).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn for_tests(config: Config, authkey: AuthKey) -> Shared {
        let builder = ServerBuilder::default();
        Shared::new(config, builder.registry, authkey, ServerId(1))
    }

    pub(crate) fn stats(&self) -> ServerStats {
        let (objects, named, objects_by_type) = self.table.counts();
        ServerStats {
            objects,
            named,
            connections: self.stats.connections.load(Ordering::Relaxed),
            requests: self.stats.requests.load(Ordering::Relaxed),
            parked_calls: self.stats.parked.load(Ordering::Relaxed),
            objects_by_type,
            transfers_undone: self.stats.undone.load(Ordering::Relaxed),
        }
    }
}

/// A built-in object a server creates at start-up under a name (see
/// [`ServerBuilder::named_builtin`]).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Builtin {
    /// An empty `dict`.
    Dict,
    /// An empty `list`.
    List,
    /// An empty `set`.
    Set,
    /// An empty `Namespace`.
    Namespace,
    /// A `Queue`; `maxsize` 0 is unbounded.
    Queue {
        /// The bound.
        maxsize: u64,
    },
    /// A `JoinableQueue`; `maxsize` 0 is unbounded.
    JoinableQueue {
        /// The bound.
        maxsize: u64,
    },
    /// A `Lock`.
    Lock,
    /// An `RLock`.
    RLock,
    /// A `Semaphore` with this many permits.
    Semaphore(u64),
    /// A `BoundedSemaphore` with this many permits.
    BoundedSemaphore(u64),
    /// A `Condition` over its own `RLock`.
    Condition,
    /// An `Event`.
    Event,
    /// A `Barrier`.
    Barrier {
        /// How many callers it waits for.
        parties: u64,
        /// The default wait timeout, in seconds.
        timeout: Option<f64>,
    },
}

impl Builtin {
    /// The type id and encoded constructor arguments.
    fn constructor(&self) -> (&'static str, Vec<u8>) {
        use manager_proto::builtin as b;
        /// Plain integers, options and empty vectors: postcard cannot fail on them.
        fn enc<T: serde::Serialize>(v: &T) -> Vec<u8> {
            postcard::to_allocvec(v).unwrap_or_default()
        }
        let empty: Vec<(manager_proto::Item, manager_proto::Item)> = Vec::new();
        let none: Vec<manager_proto::Item> = Vec::new();
        match self {
            Builtin::Dict => (b::DICT, enc(&(empty,))),
            Builtin::List => (b::LIST, enc(&(none,))),
            Builtin::Set => (b::SET, enc(&(none,))),
            Builtin::Namespace => (b::NAMESPACE, enc(&(Vec::<(String, manager_proto::Item)>::new(),))),
            Builtin::Queue { maxsize } => (b::QUEUE, enc(&(*maxsize,))),
            Builtin::JoinableQueue { maxsize } => (b::JOINABLE_QUEUE, enc(&(*maxsize,))),
            Builtin::Lock => (b::LOCK, Vec::new()),
            Builtin::RLock => (b::RLOCK, Vec::new()),
            Builtin::Semaphore(n) => (b::SEMAPHORE, enc(&(*n,))),
            Builtin::BoundedSemaphore(n) => (b::BOUNDED_SEMAPHORE, enc(&(*n,))),
            Builtin::Condition => (b::CONDITION, enc(&(None::<manager_proto::Item>,))),
            Builtin::Event => (b::EVENT, Vec::new()),
            Builtin::Barrier { parties, timeout } => (b::BARRIER, enc(&(*parties, *timeout))),
        }
    }
}

/// Where to listen.
#[derive(Clone, Debug)]
enum ListenSpec {
    Tcp(String),
    Unix(PathBuf),
}

/// Configures a server: its key, where it listens, what it hosts. Built by
/// [`Server::builder`].
pub struct ServerBuilder {
    pub(crate) authkey: Result<Option<AuthKey>, ServerError>,
    listen: Vec<ListenSpec>,
    registry: Registry,
    named: Vec<(String, Arc<dyn ServerObject>)>,
    named_builtins: Vec<(String, Builtin)>,
    config: Config,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("listen", &self.listen)
            .field("registry", &self.registry)
            .field("named", &self.named.iter().map(|(n, _)| n).collect::<Vec<_>>())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Default for ServerBuilder {
    fn default() -> Self {
        let mut registry = Registry::default();
        crate::builtins::register_all(&mut registry);
        ServerBuilder {
            authkey: Ok(None),
            listen: Vec::new(),
            registry,
            named: Vec::new(),
            named_builtins: Vec::new(),
            config: Config::default(),
        }
    }
}

impl ServerBuilder {
    /// The key clients must prove they hold. Default: 32 random bytes, readable from
    /// [`Server::authkey`] to hand to clients. An empty key is refused at `start`.
    pub fn authkey(mut self, key: impl AsRef<[u8]>) -> Self {
        self.authkey = AuthKey::new(key.as_ref()).map(Some).map_err(|e| ServerError::Config(e.to_string()));
        self
    }

    /// Uses an already-parsed key.
    pub fn authkey_value(mut self, key: AuthKey) -> Self {
        self.authkey = Ok(Some(key));
        self
    }

    /// Listens on TCP (`"127.0.0.1:0"` picks a free port; see [`Server::address`]).
    /// Clients' sockets get `TCP_NODELAY`: no Nagle stalls.
    pub fn listen_tcp(mut self, addr: impl Into<String>) -> Self {
        self.listen.push(ListenSpec::Tcp(addr.into()));
        self
    }

    /// Listens on a Unix socket at `path`, created owner-only (mode 0600). A stale
    /// socket file nobody listens on is replaced; a live one is an error.
    pub fn listen_unix(mut self, path: impl Into<PathBuf>) -> Self {
        self.listen.push(ListenSpec::Unix(path.into()));
        self
    }

    /// Listens on `address`.
    pub fn listen(self, address: &Address) -> Self {
        match address {
            Address::Tcp(hostport) => self.listen_tcp(hostport.clone()),
            Address::Unix(path) => self.listen_unix(path.clone()),
        }
    }

    /// Lets clients create objects of `T` (`TProxy::create`).
    pub fn register<T: Dispatch>(mut self) -> Self {
        self.registry.register::<T>();
        self
    }

    /// Hosts `value` under `name` for the server's whole life; clients reach it with
    /// `client.named("name")`. Does not let clients create more `T`s (see
    /// [`register`](Self::register)).
    pub fn named<T: Dispatch>(mut self, name: impl Into<String>, value: T) -> Self {
        self.named.push((name.into(), Arc::new(UserObject::new(value))));
        self
    }

    /// Hosts a new built-in object under `name` for the server's whole life (Python's
    /// `manager.dict()` made before clients arrive), e.g. a work queue every worker
    /// finds by name.
    pub fn named_builtin(mut self, name: impl Into<String>, builtin: Builtin) -> Self {
        self.named_builtins.push((name.into(), builtin));
        self
    }

    /// Largest frame accepted or sent. Default 64 MiB. Larger allows bigger values;
    /// a peer can make the server buffer up to this much per connection.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.config.max_frame = bytes.max(1024);
        self
    }

    /// The most memory one request may make the server store: the elements one call
    /// adds to an object (`extend`, `update`, `repeat`, a constructor's contents),
    /// counted as their encoded bytes plus about 80 bytes per element. A call over it
    /// gets a `LimitExceeded` error and changes nothing; it is checked as elements are
    /// decoded, before they are stored, so a small request cannot make the server
    /// allocate gigabytes (`list.repeat(2**24)`). Default: twice the max frame size
    /// (128 MiB), room for a full frame of small elements. Objects still grow by many
    /// requests: this bounds amplification, not an object's size.
    pub fn max_request_memory(mut self, bytes: usize) -> Self {
        self.config.max_request_memory = Some(bytes);
        self
    }

    /// Most simultaneous connections. Default 4096. Beyond it a new connection is told
    /// why and closed.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.config.max_connections = n.max(1);
        self
    }

    /// Time a peer has to authenticate. Default 10 s. Shorter frees the slots of
    /// stalled peers sooner; too short fails clients on slow links.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.config.handshake_timeout = timeout;
        self
    }

    /// Most parked calls (blocked waits, running async methods) per connection before
    /// the server stops reading from it. Default 1024.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.config.max_in_flight = n.max(1);
        self
    }

    /// Whether clients may shut the server down (Python allows any client to). Default
    /// false.
    pub fn allow_remote_shutdown(mut self, allow: bool) -> Self {
        self.config.allow_remote_shutdown = allow;
        self
    }

    /// Drops a connection that has sent nothing for `timeout` (checked every quarter of
    /// it, so the drop comes between one and one and a quarter timeouts after the peer's
    /// last byte). Default 60 s. Clients
    /// ping every 10 s (`ClientOptions::keepalive`) when they have nothing else to send,
    /// so only a vanished or frozen peer is dropped — and with it, its references and
    /// locks. Shorter frees a half-open peer's holdings sooner; it must stay well above
    /// the clients' keepalive interval.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// Low-latency mode: after answering a batch of requests, a connection keeps reading
    /// for up to `spin` before going to sleep. Default zero (off). A round trip then
    /// skips the wake-up of a sleeping thread — tens of microseconds when it lands on
    /// another core — at the price of a core spinning while clients are active. Pair it
    /// with the client's `ClientOptions::spin`.
    pub fn busy_poll(mut self, spin: Duration) -> Self {
        self.config.busy_poll = spin;
        self
    }

    /// How long shutdown waits for connections to answer their parked calls and close.
    /// Default 5 s.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.config.shutdown_grace = grace;
        self
    }

    /// Binds the listeners and starts serving in the background (on the current tokio
    /// runtime). With no listener configured, listens on a Unix socket in a new
    /// owner-only temporary directory.
    pub async fn start(self) -> Result<Server, ServerError> {
        let authkey = match self.authkey? {
            Some(key) => key,
            None => AuthKey::new(random_bytes::<32>()?).map_err(|e| ServerError::Config(e.to_string()))?,
        };
        let mut specs = self.listen;
        let mut temp_dir = None;
        if specs.is_empty() {
            let dir = private_temp_dir()?;
            specs.push(ListenSpec::Unix(dir.join("manager.sock")));
            temp_dir = Some(dir);
        }
        let mut listeners = Vec::new();
        for spec in &specs {
            listeners.push(bind(spec).await?);
        }
        let server_id = ServerId(u64::from_le_bytes(random_bytes::<8>()?));
        let shared = Arc::new(Shared::new(self.config, self.registry, authkey, server_id));
        let ctx = crate::connection::CallContext::internal(Arc::clone(&shared.table), shared.config.limits());
        let mut named = self.named;
        for (name, builtin) in self.named_builtins {
            let (type_id, args) = builtin.constructor();
            let object = shared
                .registry
                .construct(type_id, &args, &ctx)
                .map_err(|e| ServerError::Config(format!("the named {type_id} `{name}`: {}", e.message)))?;
            named.push((name, object));
        }
        for (name, object) in named {
            let id = shared.table.insert(object);
            shared.table.bind_name(&name, id).map_err(|e| ServerError::Config(e.message))?;
            // The name holds the object now; drop the creator's reference.
            shared.table.release(id);
        }
        let cleanup = Arc::new(Cleanup {
            paths: Mutex::new(listeners.iter().filter_map(|l| l.unix_path().cloned()).collect()),
            dir: temp_dir,
        });
        let tracker = TaskTracker::new();
        tracker.spawn(crate::liveness::sweeper(
            Arc::clone(&shared.watches),
            shared.config.idle_timeout,
            shared.shutdown.clone(),
        ));
        tracker.spawn(crate::memory::trimmer(Arc::clone(&shared.table.freed), shared.shutdown.clone()));
        let mut addresses = Vec::new();
        for listener in listeners {
            addresses.push(listener.address());
            tracker.spawn(accept_loop(listener, Arc::clone(&shared), tracker.clone()));
        }
        tracing::info!(addresses = ?addresses.iter().map(ToString::to_string).collect::<Vec<_>>(), server = %shared.server_id, "manager server listening");
        Ok(Server { shared, addresses, tracker, cleanup })
    }

    /// Starts and serves until the server is shut down (by a client, if allowed, or by
    /// a signal handler holding the [`Server`]).
    pub async fn serve_forever(self) -> Result<(), ServerError> {
        self.start().await?.serve_forever().await
    }
}

/// Socket files and directories to remove when the server stops, whoever gets there
/// first (shutdown, or the handle's drop).
#[derive(Debug)]
struct Cleanup {
    paths: Mutex<Vec<PathBuf>>,
    dir: Option<PathBuf>,
}

impl Cleanup {
    fn run(&self) {
        let paths = std::mem::take(&mut *self.paths.lock().unwrap_or_else(|p| p.into_inner()));
        for path in paths {
            let _ = std::fs::remove_file(&path);
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// A running server. Dropping it shuts the server down without waiting; call
/// [`shutdown`](Server::shutdown) to wait for a clean stop.
#[must_use = "dropping the Server shuts it down"]
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    addresses: Vec<Address>,
    tracker: TaskTracker,
    cleanup: Arc<Cleanup>,
}

impl Server {
    /// A builder with defaults: random key, a private Unix socket, the built-in types.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The first address the server listens on (with the real port for `:0`).
    pub fn address(&self) -> &Address {
        &self.addresses[0]
    }

    /// Every address the server listens on.
    pub fn addresses(&self) -> &[Address] {
        &self.addresses
    }

    /// The key clients must hold.
    pub fn authkey(&self) -> &AuthKey {
        &self.shared.authkey
    }

    /// This run's id (tokens carry it).
    pub fn server_id(&self) -> ServerId {
        self.shared.server_id
    }

    /// Live figures: objects, connections, requests.
    pub fn stats(&self) -> ServerStats {
        self.shared.stats()
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.shutdown.is_cancelled()
    }

    /// Shuts down: listeners close (Unix socket files are removed), calls in flight
    /// get a shutting-down error, connections close, objects are dropped. Waits up to
    /// the shutdown grace for connections to finish.
    pub async fn shutdown(&self) {
        self.shared.shutdown.cancel();
        self.tracker.close();
        if tokio::time::timeout(self.shared.config.shutdown_grace, self.tracker.wait()).await.is_err() {
            tracing::warn!("connections still open after the shutdown grace; dropping them");
        }
        self.cleanup.run();
        self.shared.table.clear();
        tracing::info!("manager server stopped");
    }

    /// Serves until shut down (by [`shutdown`](Self::shutdown) from another task, or
    /// by a client if allowed), then finishes the shutdown.
    pub async fn serve_forever(self) -> Result<(), ServerError> {
        self.shared.shutdown.cancelled().await;
        self.shutdown().await;
        Ok(())
    }

    /// Resolves when shutdown begins.
    pub async fn stopped(&self) {
        self.shared.shutdown.cancelled().await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
        self.cleanup.run();
    }
}

/// A bound listener, registered with the runtime for readability; connections are
/// accepted with a raw `accept4` straight into a socket registered for reading only
/// (tokio's accept registers the new socket for both directions, which would have to be
/// undone).
#[derive(Debug)]
struct Listener {
    fd: AsyncFd<OwnedFd>,
    kind: ListenerKind,
}

#[derive(Debug)]
enum ListenerKind {
    Tcp(std::net::SocketAddr),
    Unix(PathBuf),
}

impl Listener {
    fn new(fd: impl Into<OwnedFd>, kind: ListenerKind) -> std::io::Result<Listener> {
        Ok(Listener { fd: crate::stream::register(fd.into(), Interest::READABLE)?, kind })
    }

    fn address(&self) -> Address {
        match &self.kind {
            ListenerKind::Tcp(addr) => Address::Tcp(addr.to_string()),
            ListenerKind::Unix(path) => Address::Unix(path.clone()),
        }
    }

    fn unix_path(&self) -> Option<&PathBuf> {
        match &self.kind {
            ListenerKind::Unix(path) => Some(path),
            ListenerKind::Tcp(_) => None,
        }
    }
}

async fn bind(spec: &ListenSpec) -> Result<Listener, ServerError> {
    match spec {
        ListenSpec::Tcp(addr) => {
            let bind_err = |source| ServerError::Bind { address: format!("tcp://{addr}"), source };
            let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
            let local = listener.local_addr().map_err(bind_err)?;
            Listener::new(listener.into_std().map_err(bind_err)?, ListenerKind::Tcp(local)).map_err(bind_err)
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

fn private_temp_dir() -> Result<PathBuf, ServerError> {
    use std::os::unix::fs::DirBuilderExt;
    let suffix = u64::from_le_bytes(random_bytes::<8>()?);
    let dir = std::env::temp_dir().join(format!("rust-manager-{}-{suffix:016x}", std::process::id()));
    std::fs::DirBuilder::new().mode(0o700).create(&dir).map_err(ServerError::Io)?;
    Ok(dir)
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], ServerError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| ServerError::Io(std::io::Error::other(e.to_string())))?;
    Ok(bytes)
}

async fn accept_loop(listener: Listener, shared: Arc<Shared>, tracker: TaskTracker) {
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
    let _ = write_frame(&stream, &msg).await;
    linger(&stream).await;
}

/// A peer that passed the handshake, with what its connection needs.
struct Authenticated {
    stream: Stream,
    peer: String,
    conn_id: u64,
    decoder: FrameDecoder,
    /// Its place under the connection limit, held while it is served.
    permit: tokio::sync::OwnedSemaphorePermit,
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
    let outcome = Abortable::new(authenticate(&stream, &shared, &mut decoder), deadline);
    let authenticated = match outcome.await {
        Ok(Ok(())) => Some(Authenticated { stream, peer, conn_id, decoder, permit }),
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
    let Authenticated { stream, peer, conn_id, mut decoder, permit: _permit } = peer;
    decoder.set_limit(shared.config.max_frame);
    shared.stats.connections.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(%peer, conn = conn_id, "client authenticated");
    Connection::new(stream, shared, conn_id, peer).serve(decoder).await;
}

async fn authenticate(stream: &Stream, shared: &Shared, decoder: &mut FrameDecoder) -> Result<(), String> {
    let nonce = random_bytes::<NONCE_LEN>().map_err(|e| e.to_string())?;
    let mut hs = ServerHandshake::new(&shared.authkey, nonce, VersionRange::CURRENT, shared.server_id);
    loop {
        let msg = read_frame(stream, decoder).await?;
        match hs.receive(&msg) {
            Ok(step) => {
                if let Some(reply) = step.reply {
                    write_frame(stream, &reply).await.map_err(|e| e.to_string())?;
                }
                if step.established.is_some() {
                    return Ok(());
                }
            }
            Err(failure) => {
                if let Some(reply) = failure.reply {
                    let _ = write_frame(stream, &reply).await;
                }
                return Err(failure.error.to_string());
            }
        }
    }
}

async fn read_frame(stream: &Stream, decoder: &mut FrameDecoder) -> Result<Vec<u8>, String> {
    loop {
        if let Some(frame) = decoder.next_frame().map_err(|e| e.to_string())? {
            return Ok(frame.to_vec());
        }
        match stream.read_some(decoder.buffer_mut()).await {
            Ok(0) => return Err("closed by peer".into()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

async fn write_frame(stream: &Stream, payload: &[u8]) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(payload.len() + frame::HEADER_LEN);
    frame::encode_frame(payload, &mut buf, usize::MAX).map_err(std::io::Error::other)?;
    stream.write_all(&buf).await
}
