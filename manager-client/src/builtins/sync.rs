//! Synchronisation proxies: `Lock`, `RLock`, `Semaphore`, `BoundedSemaphore`,
//! `Condition`, `Event`, `Barrier`.
//!
//! A lock (or permit) belongs to the task — or, outside tasks, the thread — that took it
//! on this client's connection, as Python's belong to threads; if the connection ends,
//! the server releases it and wakes the next waiter. Guards release on drop.

use manager_proto::{Error, MethodRef};
use std::future::Future;
use std::time::{Duration, Instant};

use super::{call, owner_id, proxy_methods, proxy_types};

fn secs(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64())
}

/// Sends a release that nobody waits for (from a guard's `Drop`).
fn release_unanswered(handle: &manager_proto::Handle, args: &impl serde::Serialize) {
    if let Ok(args) = manager_proto::proxy::encode(args, "release") {
        handle.transport().call_unanswered(handle.object(), MethodRef::Name("release"), args);
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
                    call(&self.handle, "acquire", &(owner_id(), blocking, secs(timeout)), "acquire").await
                }

                /// `release()`.
                async fn release(&self) -> () {
                    call(&self.handle, "release", &(owner_id(),), "release").await
                }

                /// Whether anyone holds it.
                async fn locked(&self) -> bool {
                    call(&self.handle, "locked", &(owner_id(),), "locked").await
                }

                /// Whether this task (or thread) holds it.
                async fn owned(&self) -> bool {
                    call(&self.handle, "owned", &(owner_id(),), "owned").await
                }

                /// `with lock:` — acquires, and releases when the guard drops.
                async fn lock(&self) -> LockGuard {
                    let owner = owner_id();
                    call::<_, bool>(&self.handle, "acquire", &(owner, true, None::<f64>), "acquire").await?;
                    Ok(LockGuard { handle: Some(self.handle.clone()), owner })
                }
            }
        }
    };
}

lock_proxy!(
    /// A shared `Lock`. Anyone may release it (as in Python); a holder whose connection
    /// ends releases it. Create with `client.lock()`.
    LockProxy, BlockingLockProxy, manager_proto::builtin::LOCK
);

lock_proxy!(
    /// A shared `RLock`: re-entrant for the task (or thread) that holds it; only it may
    /// release it. Create with `client.rlock()`.
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
            Some(h) => call(&h, "release", &(self.owner,), "release").await,
            None => Ok(()),
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            release_unanswered(&h, &(self.owner,));
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
                    call(&self.handle, "acquire", &(blocking, secs(timeout)), "acquire").await
                }

                /// `release()`: one permit back.
                async fn release(&self) -> () {
                    call(&self.handle, "release", &(1u64,), "release").await
                }

                /// `release(n)`.
                async fn release_n(&self, n: u64) -> () {
                    call(&self.handle, "release", &(n,), "release").await
                }

                /// The permits available now.
                async fn value(&self) -> u64 {
                    call(&self.handle, "value", &(), "value").await
                }

                /// `with sem:` — a permit held until the guard drops.
                async fn permit(&self) -> SemaphoreGuard {
                    call::<_, bool>(&self.handle, "acquire", &(true, None::<f64>), "acquire").await?;
                    Ok(SemaphoreGuard { handle: Some(self.handle.clone()) })
                }
            }
        }
    };
}

semaphore_proxy!(
    /// A shared `Semaphore`. Create with `client.semaphore(n)`.
    SemaphoreProxy, BlockingSemaphoreProxy, manager_proto::builtin::SEMAPHORE
);

semaphore_proxy!(
    /// A shared `BoundedSemaphore`: releasing above the initial value is an
    /// `InvalidValue` error. Create with `client.bounded_semaphore(n)`.
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
            release_unanswered(&h, &(1u64,));
        }
    }
}

proxy_types!(
    /// A shared `Condition`, over its own `RLock` (`client.condition()`) or over a lock
    /// you made (`client.condition_with(&lock)`). `wait` and `notify` need the lock held
    /// by the calling task; otherwise they fail with `NotOwner`.
    ConditionProxy, BlockingConditionProxy, [], manager_proto::builtin::CONDITION
);

proxy_methods! {
    impl[] ConditionProxy<>, BlockingConditionProxy {
        /// Acquires the condition's lock.
        async fn acquire(&self) -> bool {
            call(&self.handle, "acquire", &(owner_id(), true, None::<f64>), "acquire").await
        }

        /// Acquires with Python's full arguments.
        async fn acquire_with(&self, blocking: bool, timeout: Option<Duration>) -> bool {
            call(&self.handle, "acquire", &(owner_id(), blocking, secs(timeout)), "acquire").await
        }

        /// Releases the condition's lock.
        async fn release(&self) -> () {
            call(&self.handle, "release", &(owner_id(),), "release").await
        }

        /// `wait(timeout)`: releases the lock, waits for a notification (or the timeout),
        /// takes the lock back. `true` if notified.
        async fn wait(&self, timeout: Option<Duration>) -> bool {
            call(&self.handle, "wait", &(owner_id(), secs(timeout)), "wait").await
        }

        /// `notify(n)`: wakes up to `n` waiters.
        async fn notify(&self, n: u64) -> () {
            call(&self.handle, "notify", &(owner_id(), n), "notify").await
        }

        /// `notify_all()`.
        async fn notify_all(&self) -> () {
            call(&self.handle, "notify_all", &(owner_id(),), "notify_all").await
        }

        /// `with cond:` — the lock, held until the guard drops.
        async fn lock(&self) -> ConditionGuard {
            let owner = owner_id();
            call::<_, bool>(&self.handle, "acquire", &(owner, true, None::<f64>), "acquire").await?;
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
        call(self.handle()?, "wait", &(self.inner.owner, secs(timeout)), "wait").await
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
        call(self.handle()?, "notify", &(self.inner.owner, n), "notify").await
    }

    /// `cond.notify_all()`.
    pub async fn notify_all(&self) -> Result<(), Error> {
        call(self.handle()?, "notify_all", &(self.inner.owner,), "notify_all").await
    }

    /// Releases now, reporting any error.
    pub async fn unlock(self) -> Result<(), Error> {
        self.inner.unlock().await
    }
}

proxy_types!(
    /// A shared `Event`. Create with `client.event()`.
    EventProxy, BlockingEventProxy, [], manager_proto::builtin::EVENT
);

proxy_methods! {
    impl[] EventProxy<>, BlockingEventProxy {
        /// `is_set()`.
        async fn is_set(&self) -> bool {
            call(&self.handle, "is_set", &(), "is_set").await
        }

        /// `set()`: wakes every waiter.
        async fn set(&self) -> () {
            call(&self.handle, "set", &(), "set").await
        }

        /// `clear()`.
        async fn clear(&self) -> () {
            call(&self.handle, "clear", &(), "clear").await
        }

        /// `wait()`: until set; returns `true`.
        async fn wait(&self) -> bool {
            call(&self.handle, "wait", &(None::<f64>,), "wait").await
        }

        /// `wait(timeout)`: whether it is set when the wait ends.
        async fn wait_timeout(&self, t: Duration) -> bool {
            call(&self.handle, "wait", &(Some(t.as_secs_f64()),), "wait").await
        }
    }
}

proxy_types!(
    /// A shared `Barrier`. A timed-out wait, `abort` or `reset` fails the waiters with
    /// `BrokenBarrier`; a waiter whose call is cancelled or whose connection dies leaves
    /// without counting. Create with `client.barrier(parties)`.
    BarrierProxy, BlockingBarrierProxy, [], manager_proto::builtin::BARRIER
);

proxy_methods! {
    impl[] BarrierProxy<>, BlockingBarrierProxy {
        /// `wait()`: until `parties` callers are waiting; returns this caller's arrival
        /// index (0 to parties - 1).
        async fn wait(&self) -> u64 {
            call(&self.handle, "wait", &(None::<f64>,), "wait").await
        }

        /// `wait(timeout)`: a timeout breaks the barrier for everyone.
        async fn wait_timeout(&self, t: Duration) -> u64 {
            call(&self.handle, "wait", &(Some(t.as_secs_f64()),), "wait").await
        }

        /// `abort()`: breaks the barrier.
        async fn abort(&self) -> () {
            call(&self.handle, "abort", &(), "abort").await
        }

        /// `reset()`: fails the current waiters, then starts afresh.
        async fn reset(&self) -> () {
            call(&self.handle, "reset", &(), "reset").await
        }

        /// `parties`.
        async fn parties(&self) -> u64 {
            call(&self.handle, "parties", &(), "parties").await
        }

        /// `n_waiting`.
        async fn n_waiting(&self) -> u64 {
            call(&self.handle, "n_waiting", &(), "n_waiting").await
        }

        /// `broken`.
        async fn broken(&self) -> bool {
            call(&self.handle, "broken", &(), "broken").await
        }
    }
}
