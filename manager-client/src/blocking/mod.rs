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

use manager_proto::blocking::block_on;
use manager_proto::{
    Address, BlockingConnect, BlockingProxy, BoxFuture, Connect, Error, Executor, Handle, Proxy, ServerId, ServerStats,
    Token, TypeDescription,
};
use std::future::Future;
use std::sync::{Arc, OnceLock};

mod runtime;

use runtime::{General, Runtime, spawn_keepalive};

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
