//! `Semaphore` and `BoundedSemaphore` proxies, and the guard that gives a permit back on
//! drop. A permit taken by a connection that ends goes back to the pool.

use manager_proto::builtin::semaphore as s;
use std::time::Duration;

use super::{call, constructors, proxy_methods, proxy_types, release_unanswered, secs};

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

constructors! {
    /// A new shared `Semaphore` with `value` permits.
    fn semaphore[](&self, value: u64) -> SemaphoreProxy | BlockingSemaphoreProxy {
        self.create_builtin::<_, s::New>(&(value,)).await
    }

    /// A new shared `BoundedSemaphore` with `value` permits.
    fn bounded_semaphore[](&self, value: u64) -> BoundedSemaphoreProxy | BlockingBoundedSemaphoreProxy {
        self.create_builtin::<_, s::New>(&(value,)).await
    }
}
