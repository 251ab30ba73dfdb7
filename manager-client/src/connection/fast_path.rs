//! A blocking client's fast path: a call made on a thread that may block reads its own
//! reply, sleeping in `recv` on that thread, instead of waking the runtime's reader task
//! and being woken by it (two cross-thread hand-offs per call). It may do so only while
//! it holds the decoder's lock; the responses of other calls it meets are routed to
//! their waiters on the way, and the reader task is told when the lock is let go.

use manager_proto::frame::{FrameDecoder, FrameError};
use manager_proto::outq::OutQueue;
use manager_proto::{Lost, PendingReply, RequestId};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use super::liveness::Verdict;
use super::routing::{read_into, route, route_except};
use super::{Conn, ConnState, lock, try_lock};
use crate::in_flight::Payload;

thread_local! {
    /// The connection whose response the last polled call on this thread waits for
    /// (its `ConnState`'s address), so a blocking client reads its socket on this thread
    /// only when that is what the call waits on.
    static WAITING_ON: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Forgets which connection this thread's call waited on (before polling it again).
pub(crate) fn clear_waiting() {
    WAITING_ON.with(|w| w.set(0));
}

thread_local! {
    /// The connection (its `ConnState`'s address) whose calls made on this thread may
    /// read their own replies, sleeping in `recv` until they come: set by a blocking
    /// client's fast path while it polls, outside any async runtime.
    static DIRECT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// While alive, calls on one connection made on this thread are answered on it
/// ([`Conn::exchange`]); dropping it restores what was set before.
#[derive(Debug)]
pub(crate) struct DirectCalls(usize);

impl DirectCalls {
    /// Lets calls on `state` made on this thread read their own replies. Only for a
    /// thread that may block: a blocking client's calling thread, outside any runtime.
    pub(crate) fn enable(state: &ConnState) -> DirectCalls {
        DirectCalls(DIRECT.with(|d| d.replace(std::ptr::from_ref(state) as usize)))
    }
}

impl Drop for DirectCalls {
    fn drop(&mut self) {
        DIRECT.with(|d| d.set(self.0));
    }
}

impl ConnState {
    /// Notes that the call this thread polls waits for a response on this connection.
    pub(super) fn note_awaited(&self) {
        WAITING_ON.with(|w| w.set(std::ptr::from_ref(self) as usize));
    }

    /// Whether the call last polled on this thread waits for a response on this
    /// connection (and nothing else is known to hold it up).
    pub(crate) fn is_awaited_here(&self) -> bool {
        WAITING_ON.with(|w| w.get()) == std::ptr::from_ref(self) as usize
    }

    /// Makes the socket's reads able to sleep on a blocking client's calling thread
    /// (see [`ConnState::read_until`]); `timeout` bounds each sleep.
    pub(crate) fn allow_blocking_reads(&self, timeout: Duration) -> io::Result<()> {
        self.stream.allow_blocking_reads(timeout)
    }

    /// A blocking client's fast path: reads and routes responses on the calling thread
    /// until `done` is set (by the waker of the call this thread waits on) — one
    /// `recv` that sleeps in the kernel, instead of a runtime's `epoll_wait`s and task
    /// hand-offs. Responses for other threads' calls are routed on the way.
    ///
    /// Returns `true` when the call should be polled again (its response came, or the
    /// connection failed), `false` when it must wait on the runtime instead: another
    /// thread is reading, output is still queued for the writer task, or the receive
    /// timeout (a keepalive period) passed, so the reader task's liveness watch takes
    /// over.
    pub(crate) fn read_until(&self, done: &AtomicBool) -> bool {
        if lock(&self.out).queued() {
            return false;
        }
        let Some(mut decoder) = try_lock(&self.decoder) else {
            return false;
        };
        let outcome = loop {
            // Checked under the decoder lock: a response routed by another reader before
            // we took it has set the flag by now.
            if done.load(Ordering::Acquire) {
                break Ok(true);
            }
            match read_into(self, &mut decoder, |_, buf| self.read_more(buf)) {
                Ok(true) => {
                    if let Err(reason) = route(self, &mut decoder) {
                        break Err(reason);
                    }
                }
                Ok(false) => match self.read_timed_out() {
                    Ok(()) => break Ok(false),
                    Err(reason) => break Err(reason),
                },
                Err(reason) => break Err(reason),
            }
        };
        drop(decoder);
        self.read_released.notify_one();
        outcome.unwrap_or_else(|reason| {
            self.fail(reason);
            true
        })
    }

    /// A calling thread's read heard nothing for its receive timeout (a keepalive
    /// period) while its call waits. The reader task, which does not run meanwhile,
    /// would have pinged by now: ping, or, if an earlier ping went unanswered that
    /// long, the server is lost (`liveness.rs`).
    fn read_timed_out(&self) -> Result<(), Lost> {
        // What was heard since the last check came before this silent period (this
        // thread held the socket throughout): an answered ping, say.
        let heard = self.heard.swap(false, Ordering::Relaxed);
        match self.liveness.check(heard, true, self.liveness.keepalive) {
            Verdict::Fine => Ok(()),
            Verdict::Ping => {
                self.ping();
                Ok(())
            }
            Verdict::Lost if self.silence_is_fatal() => Err(self.silent()),
            Verdict::Lost => Ok(()),
        }
    }

    /// One read on a calling thread: low-latency mode spins first, or the default path
    /// polls for its learned budget; then (or at once) it sleeps in the kernel, for at
    /// most the receive timeout (then `WouldBlock`).
    fn read_more(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        if !self.spin.is_zero() {
            match self.stream.spin_read(buf, self.spin) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return other,
            }
        }
        let Some(poll) = &self.poll else { return self.stream.recv_blocking(buf) };
        // Only the holder of the decoder reads here, so this lock is never contended.
        let mut poll = lock(poll);
        let budget = poll.begin_wait(Instant::now());
        if !budget.is_zero() {
            match self.stream.spin_read(buf, budget) {
                // A poll that missed did not pay (see `AdaptiveSpin::missed`).
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => poll.missed(),
                other => {
                    poll.end_wait(Instant::now());
                    return other;
                }
            }
        }
        drop(poll);
        let read = self.stream.recv_blocking(buf);
        // A receive timeout counts as a long wait (it leaves a zero budget at zero).
        if let Some(poll) = &self.poll {
            lock(poll).end_wait(Instant::now());
        }
        read
    }
}

/// How a call that reads its own reply ([`Conn::exchange`]) came out.
enum Here {
    /// Its response came.
    Answered(Payload),
    /// It must wait for whoever reads next to route its response.
    Wait,
    /// The connection is over, for this reason.
    Failed(Lost),
}

impl Conn {
    /// Sends a request that expects a response, queued by `queue` under a fresh id, and
    /// returns its reply to come.
    ///
    /// On a blocking client's calling thread ([`DirectCalls`]) the reply is read right
    /// here when nobody else is reading: the request never enters the in-flight map and
    /// its future is ready at its first poll. Responses to other threads' calls that
    /// arrive first are routed to them on the way, as [`ConnState::read_until`] does.
    pub(super) fn exchange(
        &self,
        queue: impl FnOnce(&mut OutQueue, usize, RequestId) -> Result<(), FrameError>,
    ) -> PendingReply {
        if DIRECT.with(std::cell::Cell::get) == Arc::as_ptr(&self.state) as usize
            && let Some(decoder) = try_lock(&self.state.decoder)
        {
            return self.exchange_here(decoder, queue);
        }
        match self.send_queued(queue) {
            Ok(id) => PendingReply::waiting(self.arc(), id),
            Err(e) => PendingReply::failed(e),
        }
    }

    /// [`exchange`](Self::exchange) on the calling thread, which holds the decoder (so
    /// nobody else reads the socket) from before the request goes out until its
    /// response is found. When the response cannot come here — output is left for the
    /// writer task, or the receive timeout passed — the request is registered before
    /// the decoder is let go, so whoever reads next routes it.
    pub(super) fn exchange_here(
        &self,
        mut decoder: MutexGuard<'_, FrameDecoder>,
        queue: impl FnOnce(&mut OutQueue, usize, RequestId) -> Result<(), FrameError>,
    ) -> PendingReply {
        let state = &*self.state;
        if let Some(e) = state.closed() {
            return PendingReply::failed(e);
        }
        let id = state.next_id();
        if let Err(e) = state.send_queued(|q, limit| queue(q, limit, id)) {
            state.hear_last_words_with(&mut decoder);
            return PendingReply::failed(state.closed().unwrap_or(e));
        }
        let outcome = if lock(&state.out).queued() {
            Here::Wait
        } else {
            loop {
                match route_except(state, &mut decoder, Some(id)) {
                    Ok((_, Some(payload))) => break Here::Answered(payload),
                    Ok((_, None)) => {}
                    Err(reason) => break Here::Failed(reason),
                }
                match read_into(state, &mut decoder, |_, buf| state.read_more(buf)) {
                    Ok(true) => {}
                    Ok(false) => match state.read_timed_out() {
                        Ok(()) => break Here::Wait,
                        Err(reason) => break Here::Failed(reason),
                    },
                    Err(reason) => break Here::Failed(reason),
                }
            }
        };
        let registered = match outcome {
            Here::Wait => lock(&state.in_flight).register(id),
            _ => Ok(()),
        };
        drop(decoder);
        state.read_released.notify_one();
        match outcome {
            Here::Answered(payload) => {
                state.acknowledge(id, &payload);
                PendingReply::ready(payload.into_reply())
            }
            Here::Wait => match registered {
                Ok(()) => PendingReply::waiting(self.arc(), id),
                Err(e) => PendingReply::failed(e),
            },
            Here::Failed(reason) => {
                state.fail(reason.clone());
                PendingReply::failed(state.closed().unwrap_or_else(|| state.lost(reason)))
            }
        }
    }
}
