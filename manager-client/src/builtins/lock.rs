//! `Lock` and `RLock` proxies, and the guard that releases on drop.
//!
//! A lock belongs to the task — or, outside tasks, the thread — that took it on this
//! client's connection, as Python's belong to threads; if the connection ends, the
//! server releases it and wakes the next waiter.

use manager_proto::Error;
use manager_proto::builtin::lock as lk;
use std::time::Duration;

use super::{call, constructors, owner_id, proxy_methods, proxy_types, release_unanswered, secs};

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
    /// The lock (or condition); `None` once released.
    pub(super) handle: Option<manager_proto::Handle>,
    /// Who holds it.
    pub(super) owner: u64,
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

constructors! {
    /// A new shared `Lock`.
    fn lock[](&self) -> LockProxy | BlockingLockProxy {
        self.create_builtin::<_, lk::New>(&()).await
    }

    /// A new shared `RLock`.
    fn rlock[](&self) -> RLockProxy | BlockingRLockProxy {
        self.create_builtin::<_, lk::New>(&()).await
    }
}
