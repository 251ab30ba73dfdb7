//! Results still to come: [`AsyncResult`] (one task's, Python's `AsyncResult`) and
//! [`Imap`] (a sequence's, in order or as they complete).

use manager_proto::Error;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};

/// A callback run with a task's output, or with its error.
pub(crate) type Callback<T> = Box<dyn FnOnce(&Result<T, Error>) + Send>;

/// Where a task's outcome lands.
pub(crate) struct Slot<T> {
    value: Mutex<Option<Result<T, Error>>>,
    /// Blocking waiters.
    cv: Condvar,
    /// Async waiters.
    notify: Notify,
}

impl<T> Slot<T> {
    pub(crate) fn new() -> Arc<Slot<T>> {
        Arc::new(Slot { value: Mutex::new(None), cv: Condvar::new(), notify: Notify::new() })
    }

    /// Stores the outcome, runs `callback` with it (before anyone sees it ready, as
    /// Python's pool does), then wakes the waiters.
    pub(crate) fn set(&self, outcome: Result<T, Error>, callback: Option<Callback<T>>) {
        if let Some(callback) = callback {
            // A panicking callback must not leave the result unset for ever.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback(&outcome)));
        }
        *lock(&self.value) = Some(outcome);
        self.cv.notify_all();
        self.notify.notify_waiters();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The result of [`PoolProxy::apply_async`](super::PoolProxy::apply_async): Python's
/// `AsyncResult`. The task runs whether or not anyone waits; clones share the result.
///
/// ```no_run
/// # fn f(pool: &manager_client::blocking::Pool) -> Result<(), manager_client::Error> {
/// use std::time::Duration;
/// # #[manager_client::job] fn square(x: u64) -> u64 { x * x }
/// let r = pool.apply_async::<square>(7);
/// assert!(r.wait(Some(Duration::from_secs(10))));
/// assert_eq!(r.successful(), Some(true));
/// assert_eq!(r.get(None)?, 49);
/// # Ok(()) }
/// ```
pub struct AsyncResult<T> {
    slot: Arc<Slot<T>>,
}

impl<T> Clone for AsyncResult<T> {
    fn clone(&self) -> Self {
        AsyncResult { slot: Arc::clone(&self.slot) }
    }
}

impl<T> std::fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncResult").field("ready", &self.ready()).finish()
    }
}

impl<T> AsyncResult<T> {
    pub(crate) fn new(slot: Arc<Slot<T>>) -> Self {
        AsyncResult { slot }
    }

    /// Whether the task finished (with an output or an error).
    pub fn ready(&self) -> bool {
        lock(&self.slot.value).is_some()
    }

    /// Whether it finished with an output; `None` while it runs (Python raises
    /// `ValueError` there).
    pub fn successful(&self) -> Option<bool> {
        lock(&self.slot.value).as_ref().map(Result::is_ok)
    }

    /// Blocks until the task finished, at most `timeout` (`None`: for ever); whether it
    /// did. Not for async code (use [`wait_async`](Self::wait_async)).
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut value = lock(&self.slot.value);
        while value.is_none() {
            match deadline {
                None => value = self.slot.cv.wait(value).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    value = self.slot.cv.wait_timeout(value, left).unwrap_or_else(|p| p.into_inner()).0;
                }
            }
        }
        true
    }

    /// Waits (asynchronously) until the task finished.
    pub async fn wait_async(&self) {
        loop {
            let notified = self.slot.notify.notified();
            if self.ready() {
                return;
            }
            notified.await;
        }
    }
}

impl<T: Clone> AsyncResult<T> {
    /// The output, waiting at most `timeout` (`None`: for ever): [`Error::Timeout`] if
    /// it did not come by then (the task goes on; ask again), the task's error if it
    /// failed. Blocks: from async code use [`result`](Self::result).
    pub fn get(&self, timeout: Option<Duration>) -> Result<T, Error> {
        if !self.wait(timeout) {
            let waited = timeout.unwrap_or_default();
            return Err(Error::Timeout(format!("the task's result did not come within {waited:?}")));
        }
        self.peek().unwrap_or_else(|| Err(Error::Protocol("a finished task lost its result".into())))
    }

    /// The output (asynchronously), or the task's error.
    pub async fn result(&self) -> Result<T, Error> {
        self.wait_async().await;
        self.peek().unwrap_or_else(|| Err(Error::Protocol("a finished task lost its result".into())))
    }

    fn peek(&self) -> Option<Result<T, Error>> {
        lock(&self.slot.value).clone()
    }
}

/// The outputs of [`PoolProxy::imap`](super::PoolProxy::imap) (in order) or
/// [`imap_unordered`](super::PoolProxy::imap_unordered) (as they complete), each as soon
/// as it is there. An iterator for blocking code; [`next_async`](Self::next_async) for
/// async code. Dropping it lets tasks already submitted finish, unread.
#[derive(Debug)]
pub struct Imap<T> {
    pub(crate) rx: mpsc::UnboundedReceiver<Result<T, Error>>,
}

impl<T> Imap<T> {
    /// One that yields `e` and ends.
    pub(crate) fn failed(e: Error) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(Err(e));
        Imap { rx }
    }

    /// The next output; `None` once all came.
    pub async fn next_async(&mut self) -> Option<Result<T, Error>> {
        self.rx.recv().await
    }
}

impl<T> Iterator for Imap<T> {
    type Item = Result<T, Error>;

    /// Blocks for the next output: not for async code (use
    /// [`next_async`](Imap::next_async)); tokio panics if it is called on a thread
    /// that runs async tasks.
    fn next(&mut self) -> Option<Result<T, Error>> {
        self.rx.blocking_recv()
    }
}
