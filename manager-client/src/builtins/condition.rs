//! The `Condition` proxy and its guard.

use manager_proto::Error;
use manager_proto::builtin::condition as c;
use std::future::Future;
use std::time::{Duration, Instant};

use super::lock::LockGuard;
use super::truthy::Truthy;
use super::{call, constructors, owner_id, proxy_methods, proxy_types, secs};

proxy_types!(
    /// A shared `Condition`, over its own `RLock` (`client.condition()`) or over a lock
    /// you made (`client.condition_with(&lock)`). `wait` and `notify` need the lock held
    /// by the calling task; otherwise they fail with `NotOwner`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let (address, key) = (server.address().clone(), server.authkey().clone());
    /// # let client = manager_client::Client::connect(&address, key.as_bytes()).await?;
    /// let cond = client.condition().await?; // cond = manager.Condition()
    /// let ready = client.value(false).await?;
    /// let waiter = tokio::spawn({
    ///     let (cond, ready) = (cond.clone(), ready.clone());
    ///     async move {
    ///         let guard = cond.lock().await?; // with cond:
    ///         guard.wait_for(|| ready.get(), None).await //     cond.wait_for(lambda: ready.value)
    ///     }
    /// });
    /// {
    ///     let guard = cond.lock().await?; // with cond:
    ///     ready.set(true).await?;
    ///     guard.notify_all().await?; //     cond.notify_all()
    /// }
    /// assert!(waiter.await??);
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// Without an async runtime: [`blocking::ConditionProxy`](crate::blocking::ConditionProxy),
    /// the same methods without `.await`.
    ConditionProxy, BlockingConditionProxy, [], manager_proto::builtin::CONDITION
);

proxy_methods! {
    impl[] ConditionProxy<>, BlockingConditionProxy {
        /// Acquires the condition's lock.
        async fn acquire(&self) -> bool {
            call::<c::Acquire, _>(&self.handle, &(owner_id(), true, None::<f64>)).await
        }

        /// Acquires with Python's full arguments.
        async fn acquire_with(&self, blocking: bool, timeout: Option<Duration>) -> bool {
            call::<c::Acquire, _>(&self.handle, &(owner_id(), blocking, secs(timeout))).await
        }

        /// Releases the condition's lock.
        async fn release(&self) -> () {
            call::<c::Release, _>(&self.handle, &(owner_id(),)).await
        }

        /// `wait(timeout)`: releases the lock, waits for a notification (or the timeout),
        /// takes the lock back. `true` if notified.
        async fn wait(&self, timeout: Option<Duration>) -> bool {
            call::<c::Wait, _>(&self.handle, &(owner_id(), secs(timeout))).await
        }

        /// `notify(n)`: wakes up to `n` waiters.
        async fn notify(&self, n: u64) -> () {
            call::<c::Notify, _>(&self.handle, &(owner_id(), n)).await
        }

        /// `notify_all()`.
        async fn notify_all(&self) -> () {
            call::<c::NotifyAll, _>(&self.handle, &(owner_id(),)).await
        }

        /// `with cond:` — the lock, held until the guard drops.
        async fn lock(&self) -> ConditionGuard {
            let owner = owner_id();
            call::<c::Acquire, bool>(&self.handle, &(owner, true, None::<f64>)).await?;
            Ok(ConditionGuard { inner: LockGuard { handle: Some(self.handle.clone()), owner } })
        }
    }
}

impl ConditionProxy {
    /// `wait_for(predicate, timeout)`: waits until `predicate` (evaluated here, in the
    /// client, after each wake-up) returns a [`Truthy`] value or the timeout passes;
    /// returns its last value, as Python does — `true`/`false` for a `bool` predicate,
    /// or what it found (`Some(job)`) or `None` for an `Option` one. Call with the lock
    /// held.
    pub async fn wait_for<R, F, Fut>(&self, mut predicate: F, timeout: Option<Duration>) -> Result<R, Error>
    where
        R: Truthy,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<R, Error>>,
    {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let last = predicate().await?;
            let Some(left) = time_left(&last, deadline) else { return Ok(last) };
            self.wait(left).await?;
        }
    }
}

impl BlockingConditionProxy {
    /// `wait_for(predicate, timeout)`, with a predicate that blocks; returns its last
    /// value (see [`ConditionProxy::wait_for`]).
    pub fn wait_for<R: Truthy>(
        &self,
        mut predicate: impl FnMut() -> Result<R, Error>,
        timeout: Option<Duration>,
    ) -> Result<R, Error> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let last = predicate()?;
            let Some(left) = time_left(&last, deadline) else { return Ok(last) };
            self.wait(left)?;
        }
    }
}

/// Whether `wait_for` waits again after the predicate returned `last`: `None` to stop
/// (it is truthy, or the deadline has passed), else how long the next wait may take.
fn time_left<R: Truthy>(last: &R, deadline: Option<Instant>) -> Option<Option<Duration>> {
    if last.is_truthy() {
        return None;
    }
    match deadline {
        Some(d) => d.checked_duration_since(Instant::now()).filter(|left| !left.is_zero()).map(Some),
        None => Some(None),
    }
}

/// Holds a condition's lock until dropped; waits and notifies through it.
#[derive(Debug)]
#[must_use = "the lock is released when the guard drops"]
pub struct ConditionGuard {
    inner: LockGuard,
}

impl ConditionGuard {
    fn handle(&self) -> Result<&manager_proto::Handle, Error> {
        self.inner.handle.as_ref().ok_or_else(|| Error::Config("the guard was released".into()))
    }

    /// `cond.wait(timeout)`; `true` if notified.
    pub async fn wait(&self, timeout: Option<Duration>) -> Result<bool, Error> {
        call::<c::Wait, _>(self.handle()?, &(self.inner.owner, secs(timeout))).await
    }

    /// `cond.wait_for(predicate, timeout)`: the predicate's last value (see
    /// [`ConditionProxy::wait_for`]).
    pub async fn wait_for<R, F, Fut>(&self, mut predicate: F, timeout: Option<Duration>) -> Result<R, Error>
    where
        R: Truthy,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<R, Error>>,
    {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let last = predicate().await?;
            let Some(left) = time_left(&last, deadline) else { return Ok(last) };
            self.wait(left).await?;
        }
    }

    /// `cond.notify(n)`.
    pub async fn notify(&self, n: u64) -> Result<(), Error> {
        call::<c::Notify, _>(self.handle()?, &(self.inner.owner, n)).await
    }

    /// `cond.notify_all()`.
    pub async fn notify_all(&self) -> Result<(), Error> {
        call::<c::NotifyAll, _>(self.handle()?, &(self.inner.owner,)).await
    }

    /// Releases now, reporting any error.
    pub async fn unlock(self) -> Result<(), Error> {
        self.inner.unlock().await
    }
}

constructors! {
    /// A new shared `Condition` over its own `RLock`.
    fn condition[](&self) -> ConditionProxy | BlockingConditionProxy {
        self.create_builtin::<_, c::New>(&(None::<manager_proto::Item>,)).await
    }
}

impl crate::Client {
    /// A new shared `Condition` over `lock` (a [`LockProxy`](crate::LockProxy) or [`RLockProxy`](crate::RLockProxy)); the
    /// condition keeps the lock alive.
    pub async fn condition_with<L: manager_proto::Proxy + serde::Serialize>(
        &self,
        lock: &L,
    ) -> Result<ConditionProxy, Error> {
        let raw = manager_proto::element::encode_item(lock, self.server_id(), "the condition's lock")?;
        self.create_builtin::<_, c::New>(&(Some(raw),)).await
    }
}

impl crate::blocking::client::Client {
    /// A new shared `Condition` over `lock` (a blocking `LockProxy` or `RLockProxy`).
    pub fn condition_with<L>(&self, lock: &L) -> Result<BlockingConditionProxy, Error>
    where
        L: manager_proto::BlockingProxy,
        L::Async: serde::Serialize,
    {
        let proxy = self.run(self.inner.condition_with(lock.as_async()))?;
        Ok(self.wrap(proxy))
    }
}
