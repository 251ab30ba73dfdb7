//! Synchronisation proxies: `Lock`, `RLock`, `Semaphore`, `BoundedSemaphore`,
//! `Condition`, `Event`, `Barrier`.
//!
//! A lock (or permit) belongs to the task — or, outside tasks, the thread — that took it
//! on this client's connection, as Python's belong to threads; if the connection ends,
//! the server releases it and wakes the next waiter. Guards release on drop.

use manager_proto::builtin::{barrier as ba, condition as c, event as e, lock as lk, semaphore as s};
use manager_proto::contract::{Method, WireAs};
use manager_proto::{Error, MethodRef};
use std::future::Future;
use std::time::{Duration, Instant};

use super::{call, constructors, owner_id, proxy_methods, proxy_types};

fn secs(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64())
}

/// Sends a release that nobody waits for (from a guard's `Drop`).
fn release_unanswered<M: Method>(handle: &manager_proto::Handle, args: &(impl serde::Serialize + WireAs<M::Args>)) {
    if let Ok(args) = manager_proto::proxy::encode(args, M::WHAT) {
        handle.transport().call_unanswered(handle.object(), MethodRef::Id(M::ID), args);
    }
}

macro_rules! lock_proxy {
    ($(#[$doc:meta])* $proxy:ident, $blocking:ident, $type_id:expr) => {
        proxy_types!($(#[$doc])* $proxy, $blocking, [], $type_id);

        proxy_methods! {
            impl[] $proxy<>, $blocking {
                /// `acquire()`: waits until the lock is ours; returns `true`.
                async fn acquire(&self) -> bool {
                    self.acquire_with(true, None).await
                }

                /// `acquire(timeout=t)`: `false` if it was not ours within `t`.
                async fn acquire_timeout(&self, t: Duration) -> bool {
                    self.acquire_with(true, Some(t)).await
                }

                /// `acquire(False)`: takes it only if free now.
                async fn try_acquire(&self) -> bool {
                    self.acquire_with(false, None).await
                }

                /// `acquire(blocking, timeout)`, Python's full form.
                async fn acquire_with(&self, blocking: bool, timeout: Option<Duration>) -> bool {
                    call::<lk::Acquire, _>(&self.handle, &(owner_id(), blocking, secs(timeout))).await
                }

                /// `release()`.
                async fn release(&self) -> () {
                    call::<lk::Release, _>(&self.handle, &(owner_id(),)).await
                }

                /// Whether anyone holds it.
                async fn locked(&self) -> bool {
                    call::<lk::Locked, _>(&self.handle, &(owner_id(),)).await
                }

                /// Whether this task (or thread) holds it.
                async fn owned(&self) -> bool {
                    call::<lk::Owned, _>(&self.handle, &(owner_id(),)).await
                }

                /// `with lock:` — acquires, and releases when the guard drops.
                async fn lock(&self) -> LockGuard {
                    let owner = owner_id();
                    call::<lk::Acquire, bool>(&self.handle, &(owner, true, None::<f64>)).await?;
                    Ok(LockGuard { handle: Some(self.handle.clone()), owner })
                }
            }
        }
    };
}

lock_proxy!(
    /// A shared `Lock`. Anyone may release it (as in Python); a holder whose connection
    /// ends releases it. Create with `client.lock()`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let (address, key) = (server.address().clone(), server.authkey().clone());
    /// # let client = manager_client::Client::connect(&address, key.as_bytes()).await?;
    /// let lock = client.lock().await?; // lock = manager.Lock()
    /// let guard = lock.lock().await?; // with lock:
    /// assert!(lock.locked().await?);
    /// assert!(!lock.try_acquire().await?); // not re-entrant: lock.acquire(False) is False
    /// drop(guard); // the end of the `with` block releases it
    /// // So another task (Python: another thread) can take it now.
    /// let other = lock.clone();
    /// tokio::spawn(async move { other.lock().await?.unlock().await }).await??;
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// Without an async runtime: [`blocking::LockProxy`](crate::blocking::LockProxy),
    /// the same methods without `.await`.
    LockProxy, BlockingLockProxy, manager_proto::builtin::LOCK
);

lock_proxy!(
    /// A shared `RLock`: re-entrant for the task (or thread) that holds it; only it may
    /// release it. Create with `client.rlock()`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let (address, key) = (server.address().clone(), server.authkey().clone());
    /// # let client = manager_client::Client::connect(&address, key.as_bytes()).await?;
    /// use manager_client::RemoteErrorKind;
    /// let rlock = client.rlock().await?; // rlock = manager.RLock()
    /// let outer = rlock.lock().await?; // with rlock:
    /// let inner = rlock.lock().await?; //     with rlock: (re-entrant: no deadlock)
    /// assert!(rlock.owned().await?);
    /// // Another task (Python: another thread) can neither take it nor release it.
    /// let other = rlock.clone();
    /// let (took, released) =
    ///     tokio::spawn(async move { (other.try_acquire().await, other.release().await) }).await?;
    /// assert!(!took?);
    /// assert_eq!(released.unwrap_err().remote_kind(), Some(RemoteErrorKind::NotOwner));
    /// drop((inner, outer));
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// Without an async runtime: [`blocking::RLockProxy`](crate::blocking::RLockProxy),
    /// the same methods without `.await`.
    RLockProxy, BlockingRLockProxy, manager_proto::builtin::RLOCK
);

/// Holds a lock (or a condition's lock) until dropped.
#[derive(Debug)]
#[must_use = "the lock is released when the guard drops"]
pub struct LockGuard {
    handle: Option<manager_proto::Handle>,
    owner: u64,
}

impl LockGuard {
    /// Releases now, reporting any error (dropping the guard releases without waiting).
    pub async fn unlock(mut self) -> Result<(), Error> {
        match self.handle.take() {
            Some(h) => call::<lk::Release, _>(&h, &(self.owner,)).await,
            None => Ok(()),
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            release_unanswered::<lk::Release>(&h, &(self.owner,));
        }
    }
}

macro_rules! semaphore_proxy {
    ($(#[$doc:meta])* $proxy:ident, $blocking:ident, $type_id:expr) => {
        proxy_types!($(#[$doc])* $proxy, $blocking, [], $type_id);

        proxy_methods! {
            impl[] $proxy<>, $blocking {
                /// `acquire()`: waits for a permit; returns `true`.
                async fn acquire(&self) -> bool {
                    self.acquire_with(true, None).await
                }

                /// `acquire(timeout=t)`: `false` if no permit came within `t`.
                async fn acquire_timeout(&self, t: Duration) -> bool {
                    self.acquire_with(true, Some(t)).await
                }

                /// `acquire(False)`.
                async fn try_acquire(&self) -> bool {
                    self.acquire_with(false, None).await
                }

                /// `acquire(blocking, timeout)`.
                async fn acquire_with(&self, blocking: bool, timeout: Option<Duration>) -> bool {
                    call::<s::Acquire, _>(&self.handle, &(blocking, secs(timeout))).await
                }

                /// `release()`: one permit back.
                async fn release(&self) -> () {
                    call::<s::Release, _>(&self.handle, &(1u64,)).await
                }

                /// `release(n)`.
                async fn release_n(&self, n: u64) -> () {
                    call::<s::Release, _>(&self.handle, &(n,)).await
                }

                /// The permits available now.
                async fn value(&self) -> u64 {
                    call::<s::Value, _>(&self.handle, &()).await
                }

                /// `with sem:` — a permit held until the guard drops.
                async fn permit(&self) -> SemaphoreGuard {
                    call::<s::Acquire, bool>(&self.handle, &(true, None::<f64>)).await?;
                    Ok(SemaphoreGuard { handle: Some(self.handle.clone()) })
                }
            }
        }
    };
}

semaphore_proxy!(
    /// A shared `Semaphore`. Create with `client.semaphore(n)`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let (address, key) = (server.address().clone(), server.authkey().clone());
    /// # let client = manager_client::Client::connect(&address, key.as_bytes()).await?;
    /// let sem = client.semaphore(2).await?; // sem = manager.Semaphore(2)
    /// let permit = sem.permit().await?; // with sem:
    /// assert!(sem.try_acquire().await?); // sem.acquire(False): the second permit
    /// assert!(!sem.try_acquire().await?); // none left
    /// assert_eq!(sem.value().await?, 0);
    /// sem.release().await?; // sem.release()
    /// drop(permit); // the end of the `with` block gives its permit back
    /// assert!(sem.acquire().await? && sem.acquire().await?); // so both can be taken again
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// Without an async runtime: [`blocking::SemaphoreProxy`](crate::blocking::SemaphoreProxy),
    /// the same methods without `.await`.
    SemaphoreProxy, BlockingSemaphoreProxy, manager_proto::builtin::SEMAPHORE
);

semaphore_proxy!(
    /// A shared `BoundedSemaphore`: releasing above the initial value is an
    /// `InvalidValue` error. Create with `client.bounded_semaphore(n)`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let (address, key) = (server.address().clone(), server.authkey().clone());
    /// # let client = manager_client::Client::connect(&address, key.as_bytes()).await?;
    /// use manager_client::RemoteErrorKind;
    /// let sem = client.bounded_semaphore(1).await?; // sem = manager.BoundedSemaphore(1)
    /// assert!(sem.acquire().await?);
    /// sem.release().await?;
    /// // One release too many: a ValueError in Python.
    /// let err = sem.release().await.unwrap_err();
    /// assert_eq!(err.remote_kind(), Some(RemoteErrorKind::InvalidValue));
    /// assert_eq!(sem.value().await?, 1);
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// Without an async runtime: [`blocking::BoundedSemaphoreProxy`](crate::blocking::BoundedSemaphoreProxy),
    /// the same methods without `.await`.
    BoundedSemaphoreProxy, BlockingBoundedSemaphoreProxy, manager_proto::builtin::BOUNDED_SEMAPHORE
);

/// Holds a semaphore permit until dropped.
#[derive(Debug)]
#[must_use = "the permit is released when the guard drops"]
pub struct SemaphoreGuard {
    handle: Option<manager_proto::Handle>,
}

impl Drop for SemaphoreGuard {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            release_unanswered::<s::Release>(&h, &(1u64,));
        }
    }
}

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
    /// client, after each wake-up) is true or the timeout passes; returns its last
    /// value. Call with the lock held.
    pub async fn wait_for<F, Fut>(&self, mut predicate: F, timeout: Option<Duration>) -> Result<bool, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<bool, Error>>,
    {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if predicate().await? {
                return Ok(true);
            }
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Ok(false),
                },
                None => None,
            };
            self.wait(left).await?;
        }
    }
}

impl BlockingConditionProxy {
    /// `wait_for(predicate, timeout)`, with a predicate that blocks.
    pub fn wait_for(
        &self,
        mut predicate: impl FnMut() -> Result<bool, Error>,
        timeout: Option<Duration>,
    ) -> Result<bool, Error> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if predicate()? {
                return Ok(true);
            }
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Ok(false),
                },
                None => None,
            };
            self.wait(left)?;
        }
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

    /// `cond.wait_for(predicate, timeout)`.
    pub async fn wait_for<F, Fut>(&self, mut predicate: F, timeout: Option<Duration>) -> Result<bool, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<bool, Error>>,
    {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if predicate().await? {
                return Ok(true);
            }
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Ok(false),
                },
                None => None,
            };
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

proxy_types!(
    /// A shared `Event`. Create with `client.event()`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let (address, key) = (server.address().clone(), server.authkey().clone());
    /// # let client = manager_client::Client::connect(&address, key.as_bytes()).await?;
    /// use std::time::Duration;
    /// let event = client.event().await?; // event = manager.Event()
    /// let waiter = tokio::spawn({
    ///     let event = event.clone();
    ///     async move { event.wait().await } // event.wait(), in another task
    /// });
    /// event.set().await?; // event.set(): wakes every waiter
    /// assert!(waiter.await??);
    /// assert!(event.is_set().await?);
    /// event.clear().await?; // event.clear()
    /// assert!(!event.wait_timeout(Duration::from_millis(10)).await?); // event.wait(0.01)
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// Without an async runtime: [`blocking::EventProxy`](crate::blocking::EventProxy),
    /// the same methods without `.await`.
    EventProxy, BlockingEventProxy, [], manager_proto::builtin::EVENT
);

proxy_methods! {
    impl[] EventProxy<>, BlockingEventProxy {
        /// `is_set()`.
        async fn is_set(&self) -> bool {
            call::<e::IsSet, _>(&self.handle, &()).await
        }

        /// `set()`: wakes every waiter.
        async fn set(&self) -> () {
            call::<e::Set, _>(&self.handle, &()).await
        }

        /// `clear()`.
        async fn clear(&self) -> () {
            call::<e::Clear, _>(&self.handle, &()).await
        }

        /// `wait()`: until set; returns `true`.
        async fn wait(&self) -> bool {
            call::<e::Wait, _>(&self.handle, &(None::<f64>,)).await
        }

        /// `wait(timeout)`: whether it is set when the wait ends.
        async fn wait_timeout(&self, t: Duration) -> bool {
            call::<e::Wait, _>(&self.handle, &(Some(t.as_secs_f64()),)).await
        }
    }
}

proxy_types!(
    /// A shared `Barrier`. A timed-out wait, `abort` or `reset` fails the waiters with
    /// `BrokenBarrier`; a waiter whose call is cancelled or whose connection dies leaves
    /// without counting. Create with `client.barrier(parties)`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let (address, key) = (server.address().clone(), server.authkey().clone());
    /// # let client = manager_client::Client::connect(&address, key.as_bytes()).await?;
    /// use manager_client::RemoteErrorKind;
    /// use std::time::Duration;
    /// let barrier = client.barrier(2).await?; // barrier = manager.Barrier(2)
    /// let other = tokio::spawn({
    ///     let barrier = barrier.clone();
    ///     async move { barrier.wait().await } // barrier.wait(), in another task
    /// });
    /// let mine = barrier.wait().await?; // returns once both are waiting
    /// assert_eq!(mine + other.await??, 1); // each has its own index: 0 and 1
    /// // Alone, a wait times out and breaks the barrier (Python's BrokenBarrierError).
    /// let err = barrier.wait_timeout(Duration::from_millis(10)).await.unwrap_err();
    /// assert_eq!(err.remote_kind(), Some(RemoteErrorKind::BrokenBarrier));
    /// assert!(barrier.broken().await?);
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// Without an async runtime: [`blocking::BarrierProxy`](crate::blocking::BarrierProxy),
    /// the same methods without `.await`.
    BarrierProxy, BlockingBarrierProxy, [], manager_proto::builtin::BARRIER
);

proxy_methods! {
    impl[] BarrierProxy<>, BlockingBarrierProxy {
        /// `wait()`: until `parties` callers are waiting; returns this caller's arrival
        /// index (0 to parties - 1).
        async fn wait(&self) -> u64 {
            call::<ba::Wait, _>(&self.handle, &(None::<f64>,)).await
        }

        /// `wait(timeout)`: a timeout breaks the barrier for everyone.
        async fn wait_timeout(&self, t: Duration) -> u64 {
            call::<ba::Wait, _>(&self.handle, &(Some(t.as_secs_f64()),)).await
        }

        /// `abort()`: breaks the barrier.
        async fn abort(&self) -> () {
            call::<ba::Abort, _>(&self.handle, &()).await
        }

        /// `reset()`: fails the current waiters, then starts afresh.
        async fn reset(&self) -> () {
            call::<ba::Reset, _>(&self.handle, &()).await
        }

        /// `parties`.
        async fn parties(&self) -> u64 {
            call::<ba::Parties, _>(&self.handle, &()).await
        }

        /// `n_waiting`.
        async fn n_waiting(&self) -> u64 {
            call::<ba::NWaiting, _>(&self.handle, &()).await
        }

        /// `broken`.
        async fn broken(&self) -> bool {
            call::<ba::Broken, _>(&self.handle, &()).await
        }
    }
}

constructors! {
    /// A new shared `Lock`.
    fn lock[](&self) -> LockProxy | BlockingLockProxy {
        self.create_builtin::<_, lk::New>(&()).await
    }

    /// A new shared `RLock`.
    fn rlock[](&self) -> RLockProxy | BlockingRLockProxy {
        self.create_builtin::<_, lk::New>(&()).await
    }

    /// A new shared `Semaphore` with `value` permits.
    fn semaphore[](&self, value: u64) -> SemaphoreProxy | BlockingSemaphoreProxy {
        self.create_builtin::<_, s::New>(&(value,)).await
    }

    /// A new shared `BoundedSemaphore` with `value` permits.
    fn bounded_semaphore[](&self, value: u64) -> BoundedSemaphoreProxy | BlockingBoundedSemaphoreProxy {
        self.create_builtin::<_, s::New>(&(value,)).await
    }

    /// A new shared `Condition` over its own `RLock`.
    fn condition[](&self) -> ConditionProxy | BlockingConditionProxy {
        self.create_builtin::<_, c::New>(&(None::<manager_proto::Item>,)).await
    }

    /// A new shared `Event`.
    fn event[](&self) -> EventProxy | BlockingEventProxy {
        self.create_builtin::<_, e::New>(&()).await
    }

    /// A new shared `Barrier` for `parties` callers.
    fn barrier[](&self, parties: u64) -> BarrierProxy | BlockingBarrierProxy {
        self.create_builtin::<_, ba::New>(&(parties, None::<f64>)).await
    }

    /// A new shared `Barrier` whose waits time out after `timeout` by default.
    fn barrier_with_timeout[](&self, parties: u64, timeout: Duration) -> BarrierProxy | BlockingBarrierProxy {
        self.create_builtin::<_, ba::New>(&(parties, Some(timeout.as_secs_f64()))).await
    }
}

impl crate::Client {
    /// A new shared `Condition` over `lock` (a [`LockProxy`] or [`RLockProxy`]); the
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
