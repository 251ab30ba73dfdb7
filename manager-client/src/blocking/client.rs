//! The blocking [`Client`]: the async client driven on a runtime of its own.

use manager_proto::blocking::block_on;
use manager_proto::{
    Address, BlockingConnect, BlockingProxy, BoxFuture, Connect, Error, Executor, Handle, Proxy, ServerId, ServerStats,
    TypeDescription,
};
use std::future::Future;
use std::sync::{Arc, OnceLock};

use super::runtime::{General, Runtime, spawn_keepalive};

use crate::env::ChildCommand;
use crate::{ClientOptions, ToAddress, ToToken};

/// A blocking connection to a manager server. Clones share the connection.
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) inner: crate::Client,
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
        spawn_keepalive(inner.current_state(), keepalive);
        Ok(Client { inner, runtime })
    }

    pub(crate) fn run<T>(&self, fut: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        block_on(&*self.runtime, fut)?
    }

    /// The async client underneath (for use inside this client's own calls only).
    pub fn as_async(&self) -> &crate::Client {
        &self.inner
    }

    /// Sets `MANAGER_ADDRESS` and `MANAGER_AUTHKEY` on a command for a child process
    /// (a [`std::process::Command`] or a [`tokio::process::Command`]).
    pub fn configure_child(&self, command: &mut impl ChildCommand) {
        self.inner.configure_child(command);
    }

    /// Hands `proxy` to the child `command` will start, under `name` (see the async
    /// [`pass_proxy`](crate::Client::pass_proxy)): its token, leased, in
    /// `MANAGER_PROXY_<name>`, and the server's address and key.
    pub fn pass_proxy<P: BlockingProxy>(
        &self,
        command: &mut impl ChildCommand,
        name: &str,
        proxy: &P,
    ) -> Result<(), Error> {
        self.inner.pass_proxy(command, name, proxy.as_async())
    }

    /// The proxy the parent handed this process under `name` (see the async
    /// [`inherited`](crate::Client::inherited)).
    pub fn inherited<P: BlockingProxy>(&self, name: &str) -> Result<P, Error> {
        let proxy = self.run(self.inner.inherited::<P::Async>(name))?;
        Ok(P::from_async(proxy, self.executor()))
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

    /// [`crate::Client::named_unchecked`]: a named object's proxy without the
    /// fingerprint check.
    pub fn named_unchecked<P: BlockingProxy>(&self, name: &str) -> Result<P, Error> {
        let proxy = self.run(self.inner.named_unchecked::<P::Async>(name))?;
        Ok(P::from_async(proxy, self.executor()))
    }

    /// A proxy from a token or a token's text (see the async
    /// [`attach`](crate::Client::attach)).
    pub fn attach<P: BlockingProxy>(&self, token: impl ToToken) -> Result<P, Error> {
        let proxy = self.run(self.inner.attach::<P::Async>(token))?;
        Ok(P::from_async(proxy, self.executor()))
    }

    /// [`attach`](Self::attach) without the fingerprint check (see the async
    /// [`attach_unchecked`](crate::Client::attach_unchecked)).
    pub fn attach_unchecked<P: BlockingProxy>(&self, token: impl ToToken) -> Result<P, Error> {
        let proxy = self.run(self.inner.attach_unchecked::<P::Async>(token))?;
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

    /// Asks the server to free its garbage cycles now; returns how many objects it
    /// freed (see [`crate::Client::collect`]).
    pub fn collect(&self) -> Result<u64, Error> {
        self.run(self.inner.collect())
    }

    /// Every live object, or those of type `type_id` (see
    /// [`crate::Client::inspect_objects`]).
    pub fn inspect_objects(&self, type_id: Option<&str>) -> Result<Vec<crate::inspect::ObjectReport>, Error> {
        self.run(self.inner.inspect_objects(type_id))
    }

    /// One object (see [`crate::Client::inspect_object`]).
    pub fn inspect_object(&self, id: manager_proto::ObjectId) -> Result<crate::inspect::ObjectReport, Error> {
        self.run(self.inner.inspect_object(id))
    }

    /// Every open connection (see [`crate::Client::inspect_connections`]).
    pub fn inspect_connections(&self) -> Result<Vec<crate::inspect::ConnectionReport>, Error> {
        self.run(self.inner.inspect_connections())
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

impl Connect for Client {
    fn create_object<'a>(
        &'a self,
        type_id: &'a str,
        fingerprint: &'a str,
        args: Vec<u8>,
    ) -> BoxFuture<'a, Result<Handle, Error>> {
        self.inner.create_object(type_id, fingerprint, args)
    }
}

impl BlockingConnect for Client {
    fn executor(&self) -> Executor {
        Arc::clone(&self.runtime) as Executor
    }
}
