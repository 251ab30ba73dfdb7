//! Configuring and starting a server (one job: each setting is a documented method,
//! which is most of its length).

use manager_proto::dispatch::Dispatch;
use manager_proto::{Address, AuthKey, Proxy, ServerId};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::task::TaskTracker;

use crate::builtins::{BarrierAction, BarrierActions};
use crate::config::{Config, ListenSpec};
use crate::error::ServerError;
use crate::listener::{accept_loop, bind};
use crate::object::ServerObject;
use crate::random::random_bytes;
use crate::registry::{Registry, interface};
use crate::server::{Cleanup, Server};
use crate::startup::{Builtin, Pinned, StartHook, Startup};
use crate::state::Shared;
use crate::table::Fingerprint;
use crate::user_object::UserObject;

/// Configures a server: its key, where it listens, what it hosts. Built by
/// [`Server::builder`].
///
/// ```
/// use manager_server::{Builtin, Server, shared};
/// use std::time::Duration;
///
/// #[derive(Default)]
/// pub struct Tally { n: u64 }
///
/// #[shared]
/// impl Tally {
///     pub fn add(&mut self, by: u64) -> u64 { self.n += by; self.n }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = Server::builder()
///     .authkey(b"a long random secret")                 // default: 32 random bytes
///     .listen_tcp("127.0.0.1:0")                         // default: a private Unix socket
///     .register::<Tally>()                               // clients may create Tallies
///     .named("hits", Tally::default())                   // one every client shares
///     .named_builtin("jobs", Builtin::Queue { maxsize: 100 })
///     .max_request_memory(16 << 20)                      // what one call may make it store
///     .idle_timeout(Duration::from_secs(30))             // a silent peer is dropped
///     .start()
///     .await?;
/// let client = manager_client::Client::connect(server.address(), b"a long random secret").await?;
/// let hits: TallyProxy = client.named("hits").await?;
/// assert_eq!(hits.add(2).await?, 2);
/// server.shutdown().await;
/// # Ok(()) }
/// ```
pub struct ServerBuilder {
    pub(crate) authkey: Result<Option<AuthKey>, ServerError>,
    pub(crate) listen: Vec<ListenSpec>,
    registry: Registry,
    named: Vec<(String, Arc<dyn ServerObject>, Fingerprint)>,
    /// Each with the proxy type it was pinned to, if any (`named_typed`).
    named_builtins: Vec<(String, Builtin, Option<Pinned>)>,
    /// Run once, in order, after the named objects exist and before any listener
    /// accepts (in the child, for `spawn_child`).
    on_start: Vec<StartHook>,
    /// The barrier actions clients may choose by name.
    barrier_actions: BarrierActions,
    pub(crate) config: Config,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("listen", &self.listen)
            .field("registry", &self.registry)
            .field("named", &self.named.iter().map(|(n, ..)| n).collect::<Vec<_>>())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Default for ServerBuilder {
    fn default() -> Self {
        let registry = crate::builtins::registry();
        ServerBuilder {
            authkey: Ok(None),
            listen: Vec::new(),
            registry,
            named: Vec::new(),
            named_builtins: Vec::new(),
            on_start: Vec::new(),
            barrier_actions: BarrierActions::default(),
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
            Address::Tls(hostport) => self.listen_tls(hostport.clone()),
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
        self.named.push((name.into(), Arc::new(UserObject::new(value)), interface::<T>()));
        self
    }

    /// Hosts a new built-in object under `name` for the server's whole life (Python's
    /// `manager.dict()` made before clients arrive), e.g. a work queue every worker
    /// finds by name.
    ///
    /// Its element types are left open: any proxy of its type may open it (a
    /// `QueueProxy<Job>` as well as a `QueueProxy<u64>`), so the clients must agree
    /// among themselves. [`named_typed`](Self::named_typed) pins them instead.
    pub fn named_builtin(mut self, name: impl Into<String>, builtin: Builtin) -> Self {
        self.named_builtins.push((name.into(), builtin, None));
        self
    }

    /// [`named_builtin`](Self::named_builtin) with its element types pinned to those of
    /// proxy `P`: a client that opens it as another proxy (a `QueueProxy<u64>` where
    /// `P` is `QueueProxy<Job>`) is refused with an error naming both, before it can
    /// put or get anything. `P` must be a proxy of `builtin`'s type, or `start` fails.
    ///
    /// ```
    /// # use manager_server::{Builtin, Server};
    /// # use manager_client::{Client, DictProxy};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = Server::builder()
    ///     .named_typed::<DictProxy<String, u32>>("config", Builtin::Dict)
    ///     .start()
    ///     .await?;
    /// let client = Client::connect(server.address(), server.authkey().as_bytes()).await?;
    /// let config: DictProxy<String, u32> = client.named("config").await?;
    /// config.insert("workers".into(), 4).await?;
    /// let wrong = client.named::<DictProxy<String, i64>>("config").await.unwrap_err();
    /// assert!(wrong.to_string().contains("`Dict<String, u32>` cannot be opened as a `Dict<String, i64>`"));
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn named_typed<P: Proxy>(mut self, name: impl Into<String>, builtin: Builtin) -> Self {
        let pinned = Pinned { type_id: P::shared_type_id(), fingerprint: P::fingerprint().into_owned() };
        self.named_builtins.push((name.into(), builtin, Some(pinned)));
        self
    }

    /// Runs `hook` once when the server starts, after the named objects exist and
    /// before the first connection is accepted (Python's `initializer`). It may create
    /// named objects; an error from it fails [`start`](Self::start). With
    /// [`spawn_child`](Self::spawn_child) it runs in the child, the process that serves.
    /// Several hooks run in the order they were added.
    ///
    /// ```
    /// use manager_server::{Builtin, Server};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = Server::builder()
    ///     .on_start(|s| s.named_builtin("jobs", Builtin::Queue { maxsize: 0 }))
    ///     .start()
    ///     .await?;
    /// assert_eq!(server.stats().named, 1);
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn on_start(mut self, hook: impl FnOnce(&mut Startup<'_>) -> Result<(), ServerError> + Send + 'static) -> Self {
        self.on_start.push(Box::new(hook));
        self
    }

    /// Registers `action` under `name` for barriers to run (Python's
    /// `Barrier(parties, action)`): a client creates a barrier with
    /// `client.barrier_with_action(parties, "name")`, and on each pass the last arrival
    /// runs `action` in the server before any waiter is released. It runs under the
    /// barrier's lock on a server thread: keep it short. If it panics, the barrier breaks
    /// and every waiter gets a `BrokenBarrier` error naming the action. Registering a
    /// name again replaces its action.
    ///
    /// ```
    /// use manager_server::Server;
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let passes = Arc::new(AtomicU64::new(0));
    /// let counted = Arc::clone(&passes);
    /// let server = Server::builder()
    ///     .barrier_action("count", move || {
    ///         counted.fetch_add(1, Ordering::Relaxed);
    ///     })
    ///     .start()
    ///     .await?;
    /// let client = manager_client::Client::connect(server.address(), server.authkey()).await?;
    /// let barrier = client.barrier_with_action(1, "count").await?;
    /// barrier.wait().await?;
    /// assert_eq!(passes.load(Ordering::Relaxed), 1);
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn barrier_action(mut self, name: impl Into<String>, action: impl Fn() + Send + Sync + 'static) -> Self {
        let action: BarrierAction = Arc::new(action);
        self.barrier_actions.insert(name.into(), action);
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

    /// The most bytes the live `SharedMemory` blocks may have together. Default 1 GiB;
    /// 0 refuses every block. A block is a memfd whose pages the host commits as
    /// clients touch them, so this bounds the memory a peer holding the key can make the
    /// host pin through blocks. A block that would pass it gets a `LimitExceeded` error
    /// naming its size, the cap and what is live; a dropped block gives its bytes back.
    pub fn max_shared_memory(mut self, bytes: u64) -> Self {
        self.config.max_shared_memory = bytes;
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

    /// How long the session of a client that reconnects (`ClientOptions::reconnect`)
    /// outlives its broken link. Default 30 s. Within it, a client that comes back
    /// finds its session as it left it: its references, held locks and queue
    /// reservations, its calls answered exactly once. After it, the session ends as a
    /// closed connection does: everything it held is released (a lock another client
    /// waits for is granted to it). Zero: a session ends with its link. Keep it below
    /// the idle timeout, which a session's connection is subject to as well.
    pub fn session_grace(mut self, grace: Duration) -> Self {
        self.config.session_grace = grace;
        self
    }

    /// How long the server holds an object after a client minted a token for it
    /// (`proxy.token()`, or a proxy serialized outside a container): the time a token
    /// has to reach another process and be attached, however soon the sender drops its
    /// proxy. Default 30 s; at least 1 s (shorter is raised to 1 s: clients reuse a
    /// lease for up to half a second). Longer tolerates slower hand-offs; an object
    /// whose token is never attached lives that much longer.
    pub fn token_lease(mut self, lease: Duration) -> Self {
        self.config.token_lease = lease.max(manager_proto::token::MIN_LEASE);
        self
    }

    /// How often the server looks for reference cycles among its objects (containers
    /// holding proxies to each other, which reference counts alone never free), or
    /// `None` never to look on its own. Default: every 10 s, and only when references
    /// were released since the last look, so an idle server does no work. A look costs
    /// time linear in the number of objects. [`Server::collect`] and a client's
    /// `collect()` look at once whatever this is.
    pub fn collect_cycles(mut self, every: Option<Duration>) -> Self {
        self.config.collect_every = every.filter(|d| !d.is_zero());
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
        let server_id = ServerId(u64::from_le_bytes(random_bytes::<8>()?));
        let mut specs = self.listen;
        let mut temp_dir = None;
        if specs.is_empty() {
            let dir = private_temp_dir()?;
            specs.push(ListenSpec::Unix(dir.join("manager.sock")));
            temp_dir = Some(dir);
        }
        if self.config.tls.is_none()
            && let Some(ListenSpec::Tls(addr)) = specs.iter().find(|s| matches!(s, ListenSpec::Tls(_)))
        {
            return Err(ServerError::Config(format!(
                "tls://{addr} needs a certificate and key: ServerBuilder::tls(ServerTls::from_files(..))"
            )));
        }
        let mut listeners = Vec::new();
        let cleanup = Arc::new(Cleanup { paths: Mutex::new(Vec::new()), dir: temp_dir });
        for spec in &specs {
            match bind(spec, self.config.tls.as_ref()).await {
                Ok(listener) => {
                    if let Some(path) = listener.unix_path() {
                        cleanup.paths.lock().unwrap_or_else(|p| p.into_inner()).push(path.clone());
                    }
                    listeners.push(listener);
                }
                Err(e) => {
                    cleanup.run();
                    return Err(e);
                }
            }
        }
        let mut registry = self.registry;
        crate::builtins::register_shared_memory(&mut registry, self.config.max_shared_memory);
        if !self.barrier_actions.is_empty() {
            crate::builtins::register_barrier_actions(&mut registry, self.barrier_actions);
        }
        let first = listeners.first().map(|l| l.address()).ok_or_else(|| ServerError::Config("no listener".into()))?;
        let shared = Arc::new(Shared::new(self.config, registry, authkey, server_id, first));
        // Objects and hooks before anyone is accepted: one that fails removes the
        // sockets it would have served on.
        let prepared = crate::startup::prepare(&shared, self.named_builtins, self.named, self.on_start);
        if let Err(e) = prepared {
            cleanup.run();
            return Err(e);
        }
        let tracker = TaskTracker::new();
        tracker.spawn(crate::liveness::sweeper(
            Arc::clone(&shared.watches),
            shared.config.idle_timeout,
            shared.shutdown.clone(),
        ));
        tracker.spawn(crate::leases::sweeper(
            Arc::clone(&shared.leases),
            Arc::clone(&shared.table),
            shared.shutdown.clone(),
        ));
        tracker.spawn(crate::memory::trimmer(Arc::clone(&shared.table.freed), shared.shutdown.clone()));
        if let Some(every) = shared.config.collect_every {
            tracker.spawn(crate::collect::collector(Arc::clone(&shared), every));
        }
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

impl Server {
    /// A builder with defaults: random key, a private Unix socket, the built-in types.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }
}

/// A new directory with a random name that only its owner can enter (0700, set as it is
/// created), kept: the server's cleanup removes it.
fn private_temp_dir() -> Result<PathBuf, ServerError> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("rust-manager-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .map_err(ServerError::Io)?;
    Ok(dir.keep())
}
