//! A `#[shared]` type with stream methods (`tests/it/streams_shared.rs`, the worker's
//! `squares` role, the `squares` example).

use manager_client::{Stream, shared};
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use tokio::sync::{Notify, mpsc};

/// Numbers, streamed: CPython's generator of squares, an endless count, one that
/// panics midway, a drain, and published values as an async stream.
#[derive(Debug, Default)]
pub struct Numbers {
    /// What `drain` hands out.
    words: Vec<String>,
    /// One sender per `subscribe`d stream.
    subscribers: Mutex<Vec<mpsc::UnboundedSender<u64>>>,
    /// Whether `hold` is running.
    holding: AtomicBool,
}

/// What ends `hold`: any object's `release`, so that a call on another object ends it
/// (on the held one it would queue behind the `&mut self` calls waiting for the lock,
/// which wait for `hold`: the lock is fair).
static RELEASE: Notify = Notify::const_new();

#[shared(id = "tests::Numbers")]
impl Numbers {
    /// `i * i` for `i` in `0..n` (CPython's `def squares(n): for i in range(n): yield i*i`).
    pub fn squares(&self, n: u64) -> impl Iterator<Item = u64> {
        (0..n).map(|i| i * i)
    }

    /// `start`, `start + 1`, ... without end.
    pub fn count_from(&self, start: u64) -> impl Iterator<Item = u64> {
        start..
    }

    /// `0..n`, panicking when it reaches `at`.
    pub fn until_panic(&self, n: u64, at: u64) -> impl Iterator<Item = u64> {
        (0..n).inspect(move |&i| assert!(i != at, "the iterator panics at {at}"))
    }

    /// Adds a word for `drain`.
    pub fn push(&mut self, word: String) {
        self.words.push(word);
    }

    /// Takes every word pushed so far (a `&mut self` stream method).
    pub fn drain(&mut self) -> impl Iterator<Item = String> {
        std::mem::take(&mut self.words).into_iter()
    }

    /// Every value `publish`ed from now on, until `close`.
    pub fn subscribe(&self) -> impl Stream<Item = u64> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.subscribers.lock().unwrap().push(tx);
        Received(rx)
    }

    /// Sends `value` to every subscriber; returns how many there are.
    pub fn publish(&self, value: u64) -> u64 {
        let mut subscribers = self.subscribers.lock().unwrap();
        subscribers.retain(|tx| tx.send(value).is_ok());
        subscribers.len() as u64
    }

    /// Holds the object's read lock until some `Numbers`' `release` (so `&mut self`
    /// methods wait).
    pub async fn hold(&self) {
        self.holding.store(true, Ordering::SeqCst);
        RELEASE.notified().await;
        self.holding.store(false, Ordering::SeqCst);
    }

    /// Whether `hold` is running.
    pub fn holding(&self) -> bool {
        self.holding.load(Ordering::SeqCst)
    }

    /// Ends a `hold` of this server's.
    pub fn release(&self) {
        RELEASE.notify_one();
    }

    /// Ends every subscriber's stream.
    pub fn close(&self) {
        self.subscribers.lock().unwrap().clear();
    }
}

/// A channel's receiving end as a `Stream`.
struct Received(mpsc::UnboundedReceiver<u64>);

impl Stream for Received {
    type Item = u64;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<u64>> {
        self.0.poll_recv(cx)
    }
}

/// `Numbers` as another program builds it, whose `squares` returns all the squares at
/// once: the same id and item type, but not a stream, so the fingerprints differ.
pub mod plain {
    use manager_client::shared;

    /// Squares in one reply.
    #[derive(Debug, Default)]
    pub struct Numbers;

    #[shared(id = "tests::Numbers")]
    impl Numbers {
        /// The squares of `0..n`, in one reply.
        pub fn squares(&self, n: u64) -> u64 {
            n
        }
    }
}

/// A tally whose watchers hear of every change: `#[shared(watch)]` makes each
/// `&mut self` call one, and gives its proxies `watch()`.
#[derive(Debug, Default)]
pub struct Tally {
    n: u64,
}

#[shared(id = "tests::Tally", watch)]
impl Tally {
    /// Adds `k`; the new total.
    pub fn add(&mut self, k: u64) -> u64 {
        self.n += k;
        self.n
    }

    /// Starts over.
    pub fn reset(&mut self) {
        self.n = 0;
    }

    /// The total (not a change).
    pub fn total(&self) -> u64 {
        self.n
    }
}
