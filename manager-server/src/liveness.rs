//! What stops a connection from outside: the server shutting down, or its peer staying
//! silent for the idle timeout; and what asks it from outside, for `Inspect` (a
//! [`Census`]: the same flag carries the question, so asking costs a connection nothing
//! until it is asked).
//!
//! One sweeper task per server does the timing for every connection. A connection
//! only marks that it heard its peer and, on each turn of its loop, reads one flag:
//! a timer and a shutdown future per connection cost a timer-wheel entry, a clock read
//! and a waiter registration on every request (about 550 of the server's 5,600
//! instructions per sequential call, measured with callgrind).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::census::Census;

/// Why a connection must stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The server is shutting down.
    Shutdown,
    /// Nothing came from the peer for the idle timeout.
    Idle,
}

/// What a connection's loop finds when it reads its flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// It must stop.
    Stop(Stop),
    /// A census asks it to describe itself ([`Watch::take_asks`]).
    Asked,
}

const RUNNING: u8 = 0;
const SHUTDOWN: u8 = 1;
const IDLE: u8 = 2;
/// The bits of the flag that say why to stop.
const STOP_MASK: u8 = 3;
/// The bit that says a census asked.
const ASKED: u8 = 4;

/// The censuses waiting for a connection's answer.
#[derive(Debug, Default)]
struct Asks {
    pending: Vec<Arc<Census>>,
    /// The connection stopped serving: it answers no more (askers count it gone).
    closed: bool,
}

/// One connection's side: set by the sweeper, read by the connection's task.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    /// Something came from the peer since the last sweep.
    heard: AtomicBool,
    /// Why to stop (`STOP_MASK`), and whether a census asked (`ASKED`).
    stop: AtomicU8,
    /// The connection task's waker, registered once (see [`Watches::watch`]).
    waker: Mutex<Option<Waker>>,
    /// Censuses waiting for this connection's answer.
    asks: Mutex<Asks>,
}

impl Watch {
    /// Notes that the peer was heard from.
    pub(crate) fn heard(&self) {
        self.heard.store(true, Ordering::Relaxed);
    }

    /// Whether the connection must stop, and why (the tests' view of [`event`](Self::event)).
    #[cfg(test)]
    pub(crate) fn stopped(&self) -> Option<Stop> {
        self.event().and_then(|e| match e {
            Event::Stop(stop) => Some(stop),
            Event::Asked => None,
        })
    }

    /// Whether the connection must stop, and why, or else whether a census asked: one
    /// atomic load. The connection
    /// polls it as a future without registering a waker each time; the sweeper wakes
    /// the one registered by [`Watches::watch`].
    pub(crate) fn event(&self) -> Option<Event> {
        let flag = self.stop.load(Ordering::Acquire);
        match flag & STOP_MASK {
            SHUTDOWN => Some(Event::Stop(Stop::Shutdown)),
            IDLE => Some(Event::Stop(Stop::Idle)),
            _ if flag & ASKED != 0 => Some(Event::Asked),
            _ => None,
        }
    }

    /// The censuses that asked since the last time, each to be answered once. Clears
    /// the flag first, so a census asking meanwhile is taken now or sets it again.
    pub(crate) fn take_asks(&self) -> Vec<Arc<Census>> {
        self.stop.fetch_and(!ASKED, Ordering::AcqRel);
        std::mem::take(&mut self.asks.lock().unwrap_or_else(PoisonError::into_inner).pending)
    }

    fn wake(&self) {
        let waker = self.waker.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn stop(&self, why: u8) {
        // The first reason stands.
        let set = self.stop.fetch_update(Ordering::AcqRel, Ordering::Acquire, |flag| {
            (flag & STOP_MASK == RUNNING).then_some(flag | why)
        });
        if set.is_ok() {
            self.wake();
        }
    }

    /// Asks the connection for its report, unless it stopped serving.
    fn ask(&self, census: &Arc<Census>) {
        {
            let mut asks = self.asks.lock().unwrap_or_else(PoisonError::into_inner);
            if asks.closed {
                return;
            }
            census.expect();
            asks.pending.push(Arc::clone(census));
        }
        self.stop.fetch_or(ASKED, Ordering::AcqRel);
        self.wake();
    }
}

/// Every connection being served, with its count of quiet sweeps.
#[derive(Debug, Default)]
pub(crate) struct Watches {
    conns: Mutex<HashMap<u64, (Arc<Watch>, u32)>>,
}

impl Watches {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (Arc<Watch>, u32)>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts watching connection `id`, from the task that serves it (whose waker the
    /// sweeper wakes). Stops watching when the returned guard drops.
    pub(crate) async fn watch(self: &Arc<Self>, id: u64, shutdown: &CancellationToken) -> Watched {
        // Counts as heard: the handshake just came, and a new connection gets its full
        // timeout however soon the next sweep is.
        let watch = Arc::new(Watch { heard: AtomicBool::new(true), ..Watch::default() });
        // The connection's task polls its loop and nothing else polls it, so its waker
        // stays the same for the connection's life.
        std::future::poll_fn(|cx| {
            *watch.waker.lock().unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone());
            Poll::Ready(())
        })
        .await;
        self.lock().insert(id, (Arc::clone(&watch), 0));
        // A shutdown that began before the insert found nothing to stop here.
        if shutdown.is_cancelled() {
            watch.stop(SHUTDOWN);
        }
        Watched { watches: Arc::clone(self), id, watch }
    }

    /// One sweep, a quarter of the idle timeout after the last: stops the connections
    /// not heard from for four sweeps in a row (silence of one to one and a quarter
    /// timeouts).
    fn sweep(&self) {
        for (watch, quiet) in self.lock().values_mut() {
            *quiet = if watch.heard.swap(false, Ordering::Relaxed) { 0 } else { *quiet + 1 };
            if *quiet >= 4 {
                watch.stop(IDLE);
            }
        }
    }

    /// Asks every connection being served to answer `census`.
    pub(crate) fn ask(&self, census: &Arc<Census>) {
        for (watch, _) in self.lock().values() {
            watch.ask(census);
        }
    }

    fn stop_all(&self) {
        for (watch, _) in self.lock().values() {
            watch.stop(SHUTDOWN);
        }
    }
}

/// A connection's registration; dropping it ends the watch.
#[derive(Debug)]
pub(crate) struct Watched {
    watches: Arc<Watches>,
    id: u64,
    watch: Arc<Watch>,
}

impl std::ops::Deref for Watched {
    type Target = Watch;

    fn deref(&self) -> &Watch {
        &self.watch
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.watches.lock().remove(&self.id);
        let unanswered = {
            let mut asks = self.watch.asks.lock().unwrap_or_else(PoisonError::into_inner);
            asks.closed = true;
            std::mem::take(&mut asks.pending)
        };
        for census in unanswered {
            census.gone();
        }
    }
}

/// The sweeper: sweeps every quarter of `idle_timeout` until shutdown, then tells every
/// connection to stop.
pub(crate) async fn sweeper(watches: Arc<Watches>, idle_timeout: Duration, shutdown: CancellationToken) {
    // A zero timeout would spin; a millisecond is as good as none.
    let quarter = (idle_timeout / 4).max(Duration::from_millis(1));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(quarter) => watches.sweep(),
        }
    }
    watches.stop_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_silent_connection_is_stopped_after_four_sweeps_and_a_heard_one_is_not() {
        let watches = Arc::new(Watches::default());
        let shutdown = CancellationToken::new();
        let silent = watches.watch(1, &shutdown).await;
        let talking = watches.watch(2, &shutdown).await;
        watches.sweep();
        assert_eq!(silent.stopped(), None, "a new connection counts as heard");
        for _ in 0..3 {
            talking.heard();
            watches.sweep();
        }
        assert_eq!(silent.stopped(), None, "three quiet sweeps are not yet the timeout");
        talking.heard();
        watches.sweep();
        assert_eq!(silent.stopped(), Some(Stop::Idle));
        assert_eq!(talking.stopped(), None);
        watches.stop_all();
        assert_eq!(talking.stopped(), Some(Stop::Shutdown));
        assert_eq!(silent.stopped(), Some(Stop::Idle), "the first reason stands");
        drop(silent);
        assert_eq!(watches.lock().len(), 1, "a dropped watch leaves the sweep");
    }

    #[tokio::test]
    async fn a_census_hears_from_each_connection_once_or_learns_it_is_gone() {
        let watches = Arc::new(Watches::default());
        let shutdown = CancellationToken::new();
        let answering = watches.watch(1, &shutdown).await;
        let leaving = watches.watch(2, &shutdown).await;
        let census = Arc::new(Census::default());
        watches.ask(&census);
        assert_eq!(answering.event(), Some(Event::Asked));
        for asked in answering.take_asks() {
            asked.answer(manager_proto::inspect::ConnectionReport {
                id: 1,
                peer: String::new(),
                age_ms: 0,
                calls_in_flight: 0,
                parked_calls: 0,
                streams: 0,
                watches: 0,
                locks_held: Vec::new(),
                refs_held: Vec::new(),
            });
        }
        assert_eq!(answering.event(), None, "answered: the flag is clear");
        drop(leaving);
        let reports = tokio::time::timeout(Duration::from_millis(500), Arc::clone(&census).reports()).await.unwrap();
        assert_eq!(reports.iter().map(|r| r.id).collect::<Vec<_>>(), [1]);
        // A stop still stands over a question.
        watches.ask(&Arc::new(Census::default()));
        watches.stop_all();
        assert_eq!(answering.event(), Some(Event::Stop(Stop::Shutdown)));
    }

    #[tokio::test]
    async fn a_connection_watched_after_shutdown_began_is_stopped_at_once() {
        let watches = Arc::new(Watches::default());
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let late = watches.watch(1, &shutdown).await;
        assert_eq!(late.stopped(), Some(Stop::Shutdown));
    }
}
