//! `watch()`: a stream that starts with the object's state and version, then carries
//! every change in the order it was applied, one version each. This is the hub every
//! watched object shares (the built-ins, and `#[shared(watch)]` types); what a
//! built-in's changes hold (elements, and the references of the proxies in them) is
//! added by `builtins/watch.rs`.
//!
//! Each watched object keeps a [`Watchers`] next to its state. Its lock order is the
//! object's mutex first, then the watchers': a writer emits while it still holds the
//! object's mutex, so changes are numbered in the order they were applied, and a
//! subscriber's snapshot is taken (and its queue emptied) under the same mutex, so no
//! change is missed or seen twice. A change is encoded once, shared by every
//! subscriber's queue; with no subscribers a writer only reads one atomic counter.
//! A queue holds at most [`MAX_EVENTS`] events or [`MAX_BYTES`] bytes: a subscriber
//! that falls further behind is dropped from the stream of changes (its queue freed)
//! and gets `Lagged { missed }` and a fresh snapshot when it reads again. The writer
//! never waits for a watcher.

use manager_proto::stream::{Batch, BoxSource, ItemSource};
use manager_proto::watch::{CHANGE_TAG, LAGGED_TAG, SNAPSHOT_TAG};
use manager_proto::{RemoteError, RemoteErrorKind};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::object::CallContext;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn err(kind: RemoteErrorKind, message: impl Into<String>) -> RemoteError {
    RemoteError::new(kind, message)
}

/// The most events a subscriber's queue holds before it lags.
pub(crate) const MAX_EVENTS: usize = 1024;
/// The most bytes of events a subscriber's queue holds before it lags.
pub(crate) const MAX_BYTES: usize = 1 << 20;

/// One change, encoded once (tag, version, change) for every subscriber, holding the
/// references of the proxies in it until the last subscriber sent it.
pub(crate) struct Event {
    pub(crate) bytes: Box<[u8]>,
    pub(crate) refs: Option<Box<dyn HandOut>>,
}

/// What a change holds for its watchers (a built-in element's references): each
/// subscriber's connection is handed its own as the change is sent to it.
pub(crate) trait HandOut: Send + Sync {
    /// Takes, for `ctx`'s connection, what this change hands to a watcher.
    fn hand_out(&self, ctx: &CallContext) -> Result<(), RemoteError>;
}

/// Where a subscriber stands.
enum Standing {
    /// Needs a snapshot (having missed this many changes; zero: just subscribed).
    Resync(u64),
    /// Receiving changes.
    Live,
}

struct Subscriber {
    id: u64,
    sync: Standing,
    queue: VecDeque<Arc<Event>>,
    bytes: usize,
    waker: Option<Waker>,
}

#[derive(Default)]
struct Inner {
    version: u64,
    next_id: u64,
    subscribers: Vec<Subscriber>,
}

/// A watched object's subscribers. Lock the object's own mutex before calling anything here
/// but [`count`](Watchers::count).
#[derive(Default)]
pub(crate) struct Watchers {
    count: AtomicUsize,
    inner: Mutex<Inner>,
}

impl Watchers {
    /// How many watches are subscribed.
    pub(crate) fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// [`emit`](Self::emit) for a change that holds no elements.
    pub(crate) fn emit_plain<C: Serialize>(&self, change: impl FnOnce() -> C) {
        if self.count() == 0 {
            return;
        }
        self.push(|version| {
            let bytes = encode_change(version, &change())?;
            Ok(Event { bytes: bytes.into_boxed_slice(), refs: None })
        });
    }

    /// Numbers one change and queues it for every subscriber: `make` encodes it (with
    /// [`encode_change`]) for the version it is given, and says what it holds.
    pub(crate) fn push(&self, make: impl FnOnce(u64) -> Result<Event, RemoteError>) {
        let mut inner = lock(&self.inner);
        inner.version = inner.version.wrapping_add(1);
        let event = make(inner.version).map(Arc::new);
        for sub in &mut inner.subscribers {
            match (&mut sub.sync, &event) {
                (Standing::Resync(missed), _) => *missed = missed.saturating_add(1),
                (Standing::Live, Ok(event))
                    if sub.queue.len() < MAX_EVENTS && sub.bytes.saturating_add(event.bytes.len()) <= MAX_BYTES =>
                {
                    sub.bytes = sub.bytes.saturating_add(event.bytes.len());
                    sub.queue.push_back(Arc::clone(event));
                }
                (Standing::Live, _) => {
                    // Too far behind (or the change did not encode): start over later.
                    let missed = u64::try_from(sub.queue.len()).unwrap_or(u64::MAX).saturating_add(1);
                    sub.sync = Standing::Resync(missed);
                    sub.queue = VecDeque::new();
                    sub.bytes = 0;
                }
            }
            if let Some(waker) = sub.waker.take() {
                waker.wake();
            }
        }
    }

    /// Subscribes a new watch of `object`: its first poll takes the snapshot.
    pub(crate) fn subscribe<O: Watched>(object: Arc<O>, ctx: &CallContext) -> BoxSource {
        let id = {
            let mut inner = lock(&object.watchers().inner);
            inner.next_id = inner.next_id.wrapping_add(1);
            inner.next_id
        };
        Box::new(Subscription { object, id, ctx: ctx.clone() })
    }

    /// Under the object's mutex: registers subscriber `id` if it is new, writes the
    /// `Lagged` event it is owed (if any) and a snapshot's tag and version onto `out`,
    /// and marks it live with an empty queue. How many events it wrote.
    pub(crate) fn resync(&self, id: u64, out: &mut Vec<u8>) -> u32 {
        let mut inner = lock(&self.inner);
        let version = inner.version;
        let missed = match inner.subscribers.iter_mut().find(|s| s.id == id) {
            Some(sub) => {
                let missed = match sub.sync {
                    Standing::Resync(missed) => missed,
                    Standing::Live => 0,
                };
                sub.sync = Standing::Live;
                sub.queue = VecDeque::new();
                sub.bytes = 0;
                missed
            }
            None => {
                inner.subscribers.push(Subscriber {
                    id,
                    sync: Standing::Live,
                    queue: VecDeque::new(),
                    bytes: 0,
                    waker: None,
                });
                self.count.fetch_add(1, Ordering::Relaxed);
                0
            }
        };
        let mut events = 1;
        if missed > 0 {
            push_varint_event(out, LAGGED_TAG, missed);
            events = 2;
        }
        push_varint_event(out, SNAPSHOT_TAG, version);
        events
    }

    fn leave(&self, id: u64) {
        let mut inner = lock(&self.inner);
        let before = inner.subscribers.len();
        inner.subscribers.retain(|s| s.id != id);
        if inner.subscribers.len() < before {
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A change's encoding: its tag, its version, the change.
pub(crate) fn encode_change<C: Serialize>(version: u64, change: &C) -> Result<Vec<u8>, RemoteError> {
    let mut out = Vec::new();
    push_varint_event(&mut out, CHANGE_TAG, version);
    postcard::to_extend(change, out).map_err(|e| err(RemoteErrorKind::Decode, format!("a change did not encode: {e}")))
}

/// A tag and a varint, as postcard writes them.
fn push_varint_event(out: &mut Vec<u8>, tag: u8, n: u64) {
    out.push(tag);
    let mut buf = [0u8; 10];
    if let Ok(used) = postcard::to_slice(&n, &mut buf) {
        out.extend_from_slice(used);
    }
}

/// An object that can be watched.
pub(crate) trait Watched: Send + Sync + 'static {
    /// Its subscribers.
    fn watchers(&self) -> &Watchers;

    /// Takes a snapshot for subscriber `id`: locks the object's mutex, calls
    /// [`Watchers::resync`] and encodes its state onto `out` (elements handed out to
    /// `ctx`'s connection), in that order under that one lock. How many events it wrote.
    fn snapshot(&self, id: u64, ctx: &CallContext, out: &mut Vec<u8>) -> Result<u32, RemoteError>;
}

/// A watch's server end: polled by its connection's task.
struct Subscription<O: Watched> {
    object: Arc<O>,
    id: u64,
    ctx: CallContext,
}

impl<O: Watched> ItemSource for Subscription<O> {
    fn poll_batch(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<u8>,
        budget: usize,
    ) -> Poll<Result<Batch, RemoteError>> {
        let mut count = 0u32;
        while out.len() < budget {
            let watchers = self.object.watchers();
            let mut inner = lock(&watchers.inner);
            let live =
                inner.subscribers.iter_mut().find(|s| s.id == self.id).filter(|s| matches!(s.sync, Standing::Live));
            let Some(sub) = live else {
                drop(inner);
                let start = out.len();
                match self.object.snapshot(self.id, &self.ctx, out) {
                    Ok(n) => count = count.saturating_add(n),
                    Err(e) => {
                        out.truncate(start);
                        return Poll::Ready(Err(e));
                    }
                }
                continue;
            };
            let Some(event) = sub.queue.pop_front() else {
                if count == 0 {
                    sub.waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                break;
            };
            sub.bytes = sub.bytes.saturating_sub(event.bytes.len());
            drop(inner);
            if let Some(refs) = &event.refs {
                refs.hand_out(&self.ctx)?;
            }
            out.extend_from_slice(&event.bytes);
            count = count.saturating_add(1);
        }
        Poll::Ready(Ok(Batch::Items(count)))
    }
}

impl<O: Watched> Drop for Subscription<O> {
    fn drop(&mut self) {
        self.object.watchers().leave(self.id);
    }
}

/// Appends a snapshot's state (after [`Watchers::resync`] wrote its tag and version).
pub(crate) fn encode_state<S: Serialize + ?Sized>(state: &S, out: &mut Vec<u8>) -> Result<(), RemoteError> {
    manager_proto::stream::encode_item(state, out, "a watched object's state")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]

    use super::*;
    use crate::limits::Limits;
    use crate::object::Table;

    struct Counter {
        n: Mutex<u32>,
        watchers: Watchers,
    }

    impl Watched for Counter {
        fn watchers(&self) -> &Watchers {
            &self.watchers
        }

        fn snapshot(&self, id: u64, _: &CallContext, out: &mut Vec<u8>) -> Result<u32, RemoteError> {
            let n = lock(&self.n);
            let events = self.watchers.resync(id, out);
            encode_state(&*n, out)?;
            Ok(events)
        }
    }

    fn poll(source: &mut BoxSource, out: &mut Vec<u8>) -> Poll<Result<Batch, RemoteError>> {
        source.poll_batch(&mut Context::from_waker(Waker::noop()), out, usize::MAX)
    }

    /// A subscription joins the object's subscribers when its snapshot is taken and
    /// leaves when it is dropped; a lagging one is told what it missed, then resynced.
    #[test]
    fn subscribers_join_lag_and_leave() {
        let ctx = CallContext::internal(Arc::new(Table::default()), Limits::default());
        let counter = Arc::new(Counter { n: Mutex::new(0), watchers: Watchers::default() });
        let mut source = Watchers::subscribe(Arc::clone(&counter), &ctx);
        assert_eq!(counter.watchers.count(), 0);
        let mut out = Vec::new();
        assert_eq!(poll(&mut source, &mut out), Poll::Ready(Ok(Batch::Items(1))));
        assert_eq!(out, [SNAPSHOT_TAG, 0, 0]);
        assert_eq!(counter.watchers.count(), 1);
        assert!(poll(&mut source, &mut Vec::new()).is_pending());
        for _ in 0..=MAX_EVENTS {
            let mut n = lock(&counter.n);
            *n += 1;
            counter.watchers.emit_plain(|| *n);
        }
        let mut out = Vec::new();
        assert_eq!(poll(&mut source, &mut out), Poll::Ready(Ok(Batch::Items(2))));
        let missed = u64::try_from(MAX_EVENTS + 1).unwrap();
        let (lagged, rest) = postcard::take_from_bytes::<manager_proto::watch::Watch<u32, u32>>(&out).unwrap();
        assert_eq!(lagged, manager_proto::watch::Watch::Lagged { missed });
        let snapshot = postcard::from_bytes::<manager_proto::watch::Watch<u32, u32>>(rest).unwrap();
        let n = u32::try_from(MAX_EVENTS + 1).unwrap();
        assert_eq!(snapshot, manager_proto::watch::Watch::Snapshot { version: missed, state: n });
        drop(source);
        assert_eq!(counter.watchers.count(), 0);
    }
}
