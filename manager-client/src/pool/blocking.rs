//! The pool for code without an async runtime: [`BlockingPool`] and
//! [`BlockingPoolProxy`] (`manager_client::blocking::{Pool, PoolProxy}`).
//!
//! A blocking client's runtime runs only while it calls, but `apply_async` must make
//! progress (and run its callbacks) while the caller does something else. So a blocking
//! pool opens a connection of its own on a runtime of its own, driven by one thread
//! ("pool-runtime"): its tasks, results and callbacks move on there.

use manager_proto::pool::{Job, PoolStats};
use manager_proto::{Error, Token};
use std::sync::Arc;
use std::time::Duration;

use super::{AsyncResult, Imap, Pool, PoolOptions, PoolProxy};
use crate::{Client, ToToken};

/// A runtime driven by a thread of its own, and a connection on it.
struct Driver {
    rt: tokio::runtime::Handle,
    client: Client,
    /// Ends the thread's `block_on` (dropped: it ends).
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Driver {
    fn start(from: &crate::blocking::Client) -> Result<Arc<Driver>, Error> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::from)?;
        let handle = rt.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("pool-runtime".into())
            .spawn(move || {
                let _ = rt.block_on(stopped);
                // Tasks still there (a result nobody waits for) are dropped with it.
                rt.shutdown_background();
            })
            .map_err(Error::from)?;
        let (address, key, options) = from.as_async().connect_params();
        let client = handle.block_on(Client::connect_with(address, key.as_bytes(), &options))?;
        Ok(Arc::new(Driver { rt: handle, client, _stop: stop }))
    }
}

/// [`PoolProxy`] for code without an async runtime. Its methods block (not for async
/// code); `apply_async` and `imap` go on in the background.
#[derive(Clone)]
pub struct BlockingPoolProxy {
    inner: PoolProxy,
    driver: Arc<Driver>,
}

impl std::fmt::Debug for BlockingPoolProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("BlockingPoolProxy").field(&self.inner).finish()
    }
}

impl BlockingPoolProxy {
    /// Opens the pool bound to `name` on `client`'s server.
    pub fn named(client: &crate::blocking::Client, name: &str) -> Result<Self, Error> {
        let driver = Driver::start(client)?;
        let inner = driver.rt.block_on(driver.client.named::<PoolProxy>(name))?;
        Ok(BlockingPoolProxy { inner, driver })
    }

    /// Opens the pool a token names.
    pub fn attach(client: &crate::blocking::Client, token: impl ToToken) -> Result<Self, Error> {
        let driver = Driver::start(client)?;
        let inner = driver.rt.block_on(driver.client.attach::<PoolProxy>(token))?;
        Ok(BlockingPoolProxy { inner, driver })
    }

    fn run<T>(&self, fut: impl std::future::Future<Output = Result<T, Error>>) -> Result<T, Error> {
        self.driver.rt.block_on(fut)
    }

    /// The async proxy inside (its calls run on the pool's own runtime).
    pub fn as_async(&self) -> &PoolProxy {
        &self.inner
    }

    /// The pool's token.
    pub fn token(&self) -> Token {
        self.inner.token()
    }

    /// Binds the pool to `name` on the server, so other clients open it by name.
    pub fn bind_name(&self, name: &str) -> Result<(), Error> {
        self.run(self.driver.client.bind_name(name, &self.inner))
    }

    /// [`PoolProxy::apply`].
    pub fn apply<J: Job>(&self, args: J::Args) -> Result<J::Output, Error> {
        self.run(self.inner.apply::<J>(args))
    }

    /// [`PoolProxy::apply_async`]: the task goes on in the background.
    pub fn apply_async<J: Job>(&self, args: J::Args) -> AsyncResult<J::Output> {
        self.inner.apply_async_on::<J>(&self.driver.rt, args, None)
    }

    /// [`PoolProxy::apply_async_with`]: the callback runs on the pool's runtime thread.
    pub fn apply_async_with<J: Job>(
        &self,
        args: J::Args,
        callback: impl FnOnce(&Result<J::Output, Error>) + Send + 'static,
    ) -> AsyncResult<J::Output> {
        self.inner.apply_async_on::<J>(&self.driver.rt, args, Some(Box::new(callback)))
    }

    /// [`PoolProxy::map`].
    pub fn map<J: Job>(&self, args: impl IntoIterator<Item = J::Args>) -> Result<Vec<J::Output>, Error> {
        self.run(self.inner.map::<J>(args))
    }

    /// [`PoolProxy::map_chunked`].
    pub fn map_chunked<J: Job>(
        &self,
        args: impl IntoIterator<Item = J::Args>,
        chunksize: usize,
    ) -> Result<Vec<J::Output>, Error> {
        self.run(self.inner.map_chunked::<J>(args, chunksize))
    }

    /// [`PoolProxy::starmap`].
    pub fn starmap<J: Job>(&self, args: impl IntoIterator<Item = J::Args>) -> Result<Vec<J::Output>, Error> {
        self.run(self.inner.starmap::<J>(args))
    }

    /// [`PoolProxy::imap`]: iterate the result.
    pub fn imap<J: Job>(&self, args: impl IntoIterator<Item = J::Args>, chunksize: usize) -> Imap<J::Output> {
        self.inner.imap_on::<J>(&self.driver.rt, args, chunksize, true)
    }

    /// [`PoolProxy::imap_unordered`].
    pub fn imap_unordered<J: Job>(&self, args: impl IntoIterator<Item = J::Args>, chunksize: usize) -> Imap<J::Output> {
        self.inner.imap_on::<J>(&self.driver.rt, args, chunksize, false)
    }

    /// [`PoolProxy::stats`].
    pub fn stats(&self) -> Result<PoolStats, Error> {
        self.run(self.inner.stats())
    }

    /// [`PoolProxy::close`].
    pub fn close(&self) -> Result<(), Error> {
        self.run(self.inner.close())
    }

    /// [`PoolProxy::join_broker`].
    pub fn join_broker(&self, timeout: Option<Duration>) -> Result<bool, Error> {
        self.run(self.inner.join_broker(timeout))
    }
}

/// [`Pool`] for code without an async runtime (`manager_client::blocking::Pool`).
/// Derefs to [`BlockingPoolProxy`]. Dropping it terminates the pool.
///
/// ```no_run
/// use manager_client::blocking::{Client, Pool};
/// use manager_client::{PoolOptions, job, jobs, serve_jobs};
///
/// #[job]
/// fn square(x: u64) -> u64 { x * x }
///
/// fn main() -> Result<(), manager_client::Error> {
///     serve_jobs(jobs![square]);
///     let client = Client::from_env()?;
///     let pool = Pool::new(&client, PoolOptions::default().processes(5))?;
///     let results: Vec<_> = (0..10).map(|i| pool.apply_async::<square>(i)).collect();
///     for r in &results {
///         println!("{}", r.get(None)?);
///     }
///     pool.close()?;
///     pool.join()
/// }
/// ```
pub struct BlockingPool {
    /// Dropped first: the pool terminates while its runtime still runs.
    pool: Option<Pool>,
    proxy: BlockingPoolProxy,
}

impl std::fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("BlockingPool").field(&self.pool).finish()
    }
}

impl std::ops::Deref for BlockingPool {
    type Target = BlockingPoolProxy;
    fn deref(&self) -> &BlockingPoolProxy {
        &self.proxy
    }
}

impl BlockingPool {
    /// Creates the broker on `client`'s server and starts the worker processes.
    pub fn new(client: &crate::blocking::Client, options: PoolOptions) -> Result<Self, Error> {
        let driver = Driver::start(client)?;
        let pool = driver.rt.block_on(Pool::new(&driver.client, options))?;
        let proxy = BlockingPoolProxy { inner: pool.proxy().clone(), driver };
        Ok(BlockingPool { pool: Some(pool), proxy })
    }

    fn pool(&self) -> Result<&Pool, Error> {
        self.pool.as_ref().ok_or_else(|| Error::Protocol("the pool is gone".into()))
    }

    /// [`Pool::pids`].
    pub fn pids(&self) -> Vec<u32> {
        self.pool.as_ref().map(Pool::pids).unwrap_or_default()
    }

    /// [`Pool::close`].
    pub fn close(&self) -> Result<(), Error> {
        self.proxy.close()
    }

    /// [`Pool::terminate`].
    pub fn terminate(&self) -> Result<(), Error> {
        let pool = self.pool()?;
        self.proxy.run(pool.terminate())
    }

    /// [`Pool::join`].
    pub fn join(&self) -> Result<(), Error> {
        let pool = self.pool()?;
        self.proxy.run(pool.join())
    }
}

impl Drop for BlockingPool {
    fn drop(&mut self) {
        // The pool's drop sends its terminate on the runtime's connection: enter it.
        let _guard = self.proxy.driver.rt.enter();
        self.pool.take();
    }
}
