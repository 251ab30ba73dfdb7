//! The same client for code without an async runtime.
//!
//! A thin layer: a blocking [`Client`] owns a single-threaded tokio runtime and drives
//! the async client on it from the calling thread, so a call costs no thread hand-off.
//! On the common path the runtime is not even entered: the calling thread sends its
//! request and sleeps in `recv` on the socket until its response comes (two syscalls
//! per call, as a hand-written blocking client). Several threads may share one client;
//! their calls multiplex on its connection, and whichever thread is reading routes the
//! others' responses to them.
//!
//! ```
//! use manager_client::blocking::Client;
//! # use manager_client::shared;
//! # #[derive(Default)] pub struct Counter { n: u64 }
//! # #[shared] impl Counter { pub fn incr(&mut self, by: u64) -> u64 { self.n += by; self.n } }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # // A server in this process, on a runtime of its own (usually another process).
//! # let rt = tokio::runtime::Runtime::new()?;
//! # let server = rt.block_on(
//! #     manager_server::Server::builder().named("counter", Counter::default()).start(),
//! # )?;
//! # let (address, key) = (server.address().clone(), server.authkey().clone());
//! // The manager's address and key (a child process started with `configure_child`
//! // finds them with `Client::from_env()`).
//! let client = Client::connect(&address, key.as_bytes())?;
//! let counter: CounterBlockingProxy = client.named("counter")?;
//! assert_eq!(counter.incr(1)?, 1);
//! assert_eq!(counter.incr(2)?, 3);
//! # drop((counter, client));
//! # rt.block_on(server.shutdown());
//! # Ok(()) }
//! ```
//!
//! Blocking proxies must not be used on a thread that runs async tasks (that would
//! stall it); there they return an error. Use the async proxies there; `spawn_blocking`
//! threads may block and are fine.

use manager_proto::blocking::{BlockOn, block_on};
use manager_proto::{
    Address, BlockingConnect, BlockingProxy, BoxFuture, Connect, Error, Executor, Handle, Proxy, ServerId, ServerStats,
    Token, TypeDescription,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Context, Wake, Waker};

use crate::connection::ConnState;

use crate::builtins::Data;
use crate::{ClientOptions, ToAddress};

pub use crate::builtins::{
    BlockingArrayProxy as ArrayProxy, BlockingBarrierProxy as BarrierProxy,
    BlockingBoundedSemaphoreProxy as BoundedSemaphoreProxy, BlockingConditionProxy as ConditionProxy,
    BlockingDictProxy as DictProxy, BlockingEventProxy as EventProxy, BlockingJoinableQueueProxy as JoinableQueueProxy,
    BlockingListProxy as ListProxy, BlockingLockProxy as LockProxy, BlockingNamespaceProxy as NamespaceProxy,
    BlockingQueueProxy as QueueProxy, BlockingRLockProxy as RLockProxy, BlockingSemaphoreProxy as SemaphoreProxy,
    BlockingSetProxy as SetProxy, BlockingValueProxy as ValueProxy,
};
pub use crate::builtins::{ConditionGuard, LockGuard, SemaphoreGuard};

/// Owns the runtime; shuts it down without blocking, wherever the last reference drops.
///
/// Calls made through it take a fast path where it can: the calling thread sends its
/// request, then sleeps in `recv` on the socket itself and routes what comes — two
/// syscalls per call, no runtime wake-ups. A call made while nobody else reads is
/// answered inside the send (`Conn::exchange`: its id never enters the in-flight map,
/// and its future is ready at the first poll); one that finds the socket taken waits
/// for its response to be routed ([`ConnState::read_until`]). The
/// runtime still runs whenever that cannot serve (another thread already reads, output
/// is queued, a quiet server for a keepalive period, or a future that waits on
/// something else).
#[derive(Debug)]
struct Runtime {
    rt: Option<tokio::runtime::Runtime>,
    /// The connection whose socket the fast path reads; weak, so that it does not keep
    /// the connection open. Unset: no fast path.
    conn: OnceLock<Weak<ConnState>>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// The waker of a call driven by the fast path: records that the call can make progress.
#[derive(Debug, Default)]
struct Woken(AtomicBool);

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

thread_local! {
    static WOKEN: Arc<Woken> = Arc::new(Woken::default());
}

impl Runtime {
    fn runtime(&self) -> Result<&tokio::runtime::Runtime, Error> {
        self.rt.as_ref().ok_or_else(|| Error::Config("the blocking client's runtime is gone".into()))
    }

    /// Runs `fut` on the runtime (no fast path).
    fn run_general(&self, fut: Pin<&mut (dyn Future<Output = ()> + '_)>) -> Result<(), Error> {
        let rt = self.runtime()?;
        if tokio::runtime::Handle::try_current().is_err() {
            rt.block_on(fut);
            return Ok(());
        }
        // Inside some runtime's context: blocking is fine on a `spawn_blocking` thread
        // and refused (by tokio, with a panic before anything runs) on a thread that
        // drives async tasks. Tokio offers no way to ask which, so try.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(fut))).map_err(|_| {
            Error::Config(
                "a blocking manager client was used on a thread that runs async tasks; use the async client there \
                 (or call from spawn_blocking)"
                    .into(),
            )
        })
    }
}

impl BlockOn for Runtime {
    fn block_on_unit(&self, fut: Pin<&mut (dyn Future<Output = ()> + '_)>) -> Result<(), Error> {
        self.fast_path(fut, true)
    }

    fn block_on_call_unit(&self, fut: Pin<&mut (dyn Future<Output = ()> + '_)>) -> Result<(), Error> {
        // Calls only: they never need the runtime's context (its timers and spawns are
        // the connection tasks'), so the fast path skips entering it — about 120 of
        // the 2,600 instructions of a call.
        self.fast_path(fut, false)
    }
}

impl Runtime {
    /// Polls `fut` on the calling thread, reading its responses there
    /// ([`ConnState::read_until`]), inside the runtime's context if `enter`; hands it to
    /// the runtime when it must wait on anything else.
    fn fast_path(&self, mut fut: Pin<&mut (dyn Future<Output = ()> + '_)>, enter: bool) -> Result<(), Error> {
        let rt = self.runtime()?;
        let state = self.conn.get().and_then(Weak::upgrade);
        let Some(state) = state.filter(|_| tokio::runtime::Handle::try_current().is_err()) else {
            return self.run_general(fut);
        };
        // One flag per thread, reused by its calls: a stale wake from an earlier call
        // only costs an extra poll.
        let woken = WOKEN.with(Arc::clone);
        let waker = Waker::from(Arc::clone(&woken));
        let mut cx = Context::from_waker(&waker);
        // Entered once for the call, not per poll: each entry costs about 150
        // instructions.
        let finished = {
            let _context = enter.then(|| rt.enter());
            // Its calls may read their own replies on this thread: their futures are
            // ready at the first poll.
            let _direct = crate::connection::fast_path::DirectCalls::enable(&state);
            loop {
                woken.0.store(false, Ordering::Relaxed);
                crate::connection::fast_path::clear_waiting();
                if fut.as_mut().poll(&mut cx).is_ready() {
                    break true;
                }
                if !(state.is_awaited_here() && state.read_until(&woken.0)) {
                    break false;
                }
            }
        };
        if finished {
            return Ok(());
        }
        // The runtime's `block_on` polls the future first (with its own waker), so
        // nothing that happened since our last poll is missed.
        rt.block_on(fut);
        Ok(())
    }
}

/// Runs futures on the client's runtime without the fast path: for arbitrary user
/// futures (`Client::block_on`), which may wait on timers or other sockets that only
/// the runtime drives.
#[derive(Debug)]
struct General<'a>(&'a Runtime);

impl BlockOn for General<'_> {
    fn block_on_unit(&self, fut: Pin<&mut (dyn Future<Output = ()> + '_)>) -> Result<(), Error> {
        self.0.run_general(fut)
    }
}

/// The blocking client's runtime runs only during calls, so a quiet client would send
/// nothing; this thread pings for it (without the runtime: the send is a non-blocking
/// write) and ends with the connection.
fn spawn_keepalive(state: Weak<ConnState>, period: std::time::Duration) {
    let spawned = std::thread::Builder::new().name("manager-keepalive".into()).spawn(move || {
        loop {
            std::thread::sleep(period);
            match state.upgrade() {
                Some(s) if !s.is_finished() => s.keep_alive(),
                _ => return,
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("no keepalive thread for a blocking client ({e}); the server may drop it when idle");
    }
}

/// A blocking connection to a manager server. Clones share the connection.
#[derive(Clone, Debug)]
pub struct Client {
    inner: crate::Client,
    runtime: Arc<Runtime>,
}

impl Client {
    /// Connects and authenticates.
    pub fn connect(address: impl ToAddress, authkey: impl AsRef<[u8]>) -> Result<Client, Error> {
        Self::connect_with(address, authkey, &ClientOptions::default())
    }

    /// Connects with explicit options.
    pub fn connect_with(
        address: impl ToAddress,
        authkey: impl AsRef<[u8]>,
        options: &ClientOptions,
    ) -> Result<Client, Error> {
        let address = address.to_address()?;
        let key = authkey.as_ref().to_vec();
        Self::start(crate::Client::connect_with(address, key, options), options.keepalive)
    }

    /// Connects to the server named by `MANAGER_ADDRESS` / `MANAGER_AUTHKEY`.
    pub fn from_env() -> Result<Client, Error> {
        Self::start(crate::Client::from_env(), ClientOptions::default().keepalive)
    }

    fn start(
        connect: impl Future<Output = Result<crate::Client, Error>>,
        keepalive: std::time::Duration,
    ) -> Result<Client, Error> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::from)?;
        let runtime = Arc::new(Runtime { rt: Some(rt), conn: OnceLock::new() });
        let inner = block_on(&*runtime, connect)??;
        let state = inner.conn_state();
        if let Some(conn) = state.upgrade() {
            // A receive timeout of one keepalive period: a fast-path reader that hears
            // nothing for that long hands over to the reader task's liveness watch.
            match conn.allow_blocking_reads(keepalive) {
                Ok(()) => {
                    let _ = runtime.conn.set(state.clone());
                }
                Err(e) => tracing::debug!("blocking client without its fast path: {e}"),
            }
        }
        spawn_keepalive(state, keepalive);
        Ok(Client { inner, runtime })
    }

    fn run<T>(&self, fut: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        block_on(&*self.runtime, fut)?
    }

    /// The async client underneath (for use inside this client's own calls only).
    pub fn as_async(&self) -> &crate::Client {
        &self.inner
    }

    /// Sets `MANAGER_ADDRESS` and `MANAGER_AUTHKEY` on a command for a child process.
    pub fn configure_child(&self, command: &mut std::process::Command) {
        self.inner.configure_child(command);
    }

    /// The server's address.
    pub fn address(&self) -> &Address {
        self.inner.address()
    }

    /// The server run this client is connected to.
    pub fn server_id(&self) -> ServerId {
        self.inner.server_id()
    }

    /// A proxy to the object named `name`.
    pub fn named<P: BlockingProxy>(&self, name: &str) -> Result<P, Error> {
        let proxy = self.run(self.inner.named::<P::Async>(name))?;
        Ok(P::from_async(proxy, self.executor()))
    }

    /// A proxy from a token.
    pub fn attach<P: BlockingProxy>(&self, token: &Token) -> Result<P, Error> {
        let proxy = self.run(self.inner.attach::<P::Async>(token))?;
        Ok(P::from_async(proxy, self.executor()))
    }

    /// Names the object behind `proxy` on the server.
    pub fn bind_name<P: BlockingProxy>(&self, name: &str, proxy: &P) -> Result<(), Error> {
        self.run(self.inner.bind_name(name, proxy.as_async()))
    }

    /// The exposed methods of a type.
    pub fn describe(&self, type_id: &str) -> Result<TypeDescription, Error> {
        self.run(self.inner.describe(type_id))
    }

    /// The server's figures.
    pub fn stats(&self) -> Result<ServerStats, Error> {
        self.run(self.inner.stats())
    }

    /// A round trip to the server.
    pub fn ping(&self) -> Result<(), Error> {
        self.run(self.inner.ping())
    }

    /// Asks the server to shut down (if it allows that).
    pub fn shutdown_server(&self) -> Result<(), Error> {
        self.run(self.inner.shutdown_server())
    }

    /// Runs an async proxy call to completion on this client's runtime: the bridge for
    /// async-only APIs.
    pub fn block_on<T>(&self, fut: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        block_on(&General(&self.runtime), fut)?
    }

    /// Wraps an async proxy made on this client as a blocking one.
    pub fn wrap<P: BlockingProxy>(&self, proxy: P::Async) -> P {
        P::from_async(proxy, self.executor())
    }

    /// A dynamic call by name (Python's `_callmethod`) on any proxy.
    pub fn call<A, R>(&self, proxy: &impl Proxy, method: &str, args: &A) -> Result<R, Error>
    where
        A: serde::Serialize + ?Sized,
        R: serde::de::DeserializeOwned,
    {
        self.run(proxy.handle().call(method, args))
    }
}

/// Built-in constructors, as on the async client.
macro_rules! constructors {
    ($($(#[$doc:meta])* fn $name:ident [$($g:tt)*] ($($arg:ident : $ty:ty),*) -> $ret:ty;)*) => {
        impl Client {
            $(
                $(#[$doc])*
                pub fn $name<$($g)*>(&self, $($arg: $ty),*) -> Result<$ret, Error> {
                    let proxy = self.run(self.inner.$name($($arg),*))?;
                    Ok(self.wrap(proxy))
                }
            )*
        }
    };
}

constructors! {
    /// A new, empty shared `dict`.
    fn dict[K: Data, V: Data]() -> DictProxy<K, V>;
    /// A new shared `dict` holding `pairs`.
    fn dict_from[K: Data, V: Data](pairs: &[(K, V)]) -> DictProxy<K, V>;
    /// `dict.fromkeys(keys, value)`.
    fn dict_fromkeys[K: Data, V: Data + Clone](keys: Vec<K>, value: V) -> DictProxy<K, V>;
    /// A new, empty shared `list`.
    fn list[T: Data]() -> ListProxy<T>;
    /// A new shared `list` holding `items`.
    fn list_from[T: Data](items: &[T]) -> ListProxy<T>;
    /// A new, empty shared `set`.
    fn set[T: Data]() -> SetProxy<T>;
    /// A new shared `set` holding `items`.
    fn set_from[T: Data](items: &[T]) -> SetProxy<T>;
    /// A new, empty shared `Namespace`.
    fn namespace[]() -> NamespaceProxy;
    /// A new shared `Value`.
    fn value[T: Data](value: T) -> ValueProxy<T>;
    /// A new shared `Array`.
    fn array[T: Data](items: &[T]) -> ArrayProxy<T>;
    /// A new shared `Queue` (`maxsize` 0: unbounded).
    fn queue[T: Data](maxsize: usize) -> QueueProxy<T>;
    /// A new shared `JoinableQueue`.
    fn joinable_queue[T: Data](maxsize: usize) -> JoinableQueueProxy<T>;
    /// A new shared `Lock`.
    fn lock[]() -> LockProxy;
    /// A new shared `RLock`.
    fn rlock[]() -> RLockProxy;
    /// A new shared `Semaphore`.
    fn semaphore[](value: u64) -> SemaphoreProxy;
    /// A new shared `BoundedSemaphore`.
    fn bounded_semaphore[](value: u64) -> BoundedSemaphoreProxy;
    /// A new shared `Condition` over its own `RLock`.
    fn condition[]() -> ConditionProxy;
    /// A new shared `Event`.
    fn event[]() -> EventProxy;
    /// A new shared `Barrier`.
    fn barrier[](parties: u64) -> BarrierProxy;
    /// A new shared `Barrier` whose waits time out after `timeout` by default.
    fn barrier_with_timeout[](parties: u64, timeout: std::time::Duration) -> BarrierProxy;
}

impl Client {
    /// A new shared `Condition` over `lock` (a blocking `LockProxy` or `RLockProxy`).
    pub fn condition_with<L>(&self, lock: &L) -> Result<ConditionProxy, Error>
    where
        L: BlockingProxy,
        L::Async: serde::Serialize,
    {
        let proxy = self.run(self.inner.condition_with(lock.as_async()))?;
        Ok(self.wrap(proxy))
    }
}

impl Connect for Client {
    fn create_object<'a>(&'a self, type_id: &'a str, args: Vec<u8>) -> BoxFuture<'a, Result<Handle, Error>> {
        self.inner.create_object(type_id, args)
    }
}

impl BlockingConnect for Client {
    fn executor(&self) -> Executor {
        Arc::clone(&self.runtime) as Executor
    }
}
