//! One multiplexed connection: requests go out tagged with ids, responses come back in
//! any order and are matched to their waiters.
//!
//! A caller encodes its request into the shared output buffer and, if nothing else is
//! pending, writes it to the socket itself (no hand-off to another task on the common
//! path); whatever the socket does not take at once, the writer task finishes. The
//! reader task routes each response to its waiter by id and, when the stream ends,
//! fails every waiter — and every later call — with the reason.
//!
//! Who may read the socket, and when (the rule every file here relies on): whoever
//! holds the decoder's lock. That is the reader task, or — on a blocking client's
//! calling thread ([`fast_path`]) — the caller itself, which then routes the responses
//! of everyone else's calls too and wakes the reader task when it lets go. Writing: a
//! caller writes its own request when nothing is queued; the [`writer`] task finishes
//! what the socket did not take.
//!
//! The files: this one, the shared state and the user-side handle; [`transport`], calls
//! as proxies make them; [`fast_path`], a blocking caller reading its own reply;
//! [`routing`], a read's responses to their waiters; [`reader`] and [`writer`], the
//! connection's two tasks; [`handshake`], authenticating.

pub(crate) mod fast_path;
mod liveness;
mod reader;
mod routing;
mod transport;
mod writer;

use manager_proto::frame::{FrameDecoder, FrameError};
use manager_proto::outq::OutQueue;
use manager_proto::{Address, Error, Lost, NO_RESPONSE, Request, RequestId, ServerId};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::Waker;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::in_flight::{InFlight, Payload};
use crate::stream::Stream;

/// Bytes waiting to be written.
#[derive(Debug, Default)]
pub(super) struct Output {
    pub(super) q: OutQueue,
    /// Set by the reader while the callers it just woke run: their requests are
    /// appended, and the reader writes them all at once when it resumes.
    pub(super) coalescing: bool,
    /// What is pending may wait for the next request to go along with it (grant
    /// acknowledgements): nobody is writing it.
    pub(super) deferred: bool,
}

impl Output {
    fn pending(&self) -> usize {
        self.q.pending()
    }

    /// Whether bytes are queued that must go out now (not merely deferred ones).
    fn queued(&self) -> bool {
        self.pending() > 0 && !self.deferred
    }
}

/// What the connection's tasks and its users share.
#[derive(Debug)]
pub(crate) struct ConnState {
    address: Address,
    server: ServerId,
    stream: Stream,
    out: Mutex<Output>,
    /// Wakes the writer task when a caller left bytes in `out`.
    wake_writer: Notify,
    in_flight: Mutex<InFlight>,
    next_id: AtomicU64,
    max_frame: usize,
    /// Cancelled when the last user of the connection lets go: the tasks stop.
    closing: CancellationToken,
    /// Set by the reader on every read; the keepalive watches it.
    heard: AtomicBool,
    /// The server's liveness, watched by the reader task and by a blocking client's
    /// calling thread while it reads (`liveness.rs`).
    liveness: liveness::Liveness,
    /// Set on every send; when a keepalive period passes without one, a ping goes out
    /// so the server's idle timeout knows we are alive.
    sent: AtomicBool,
    /// Frames read but not yet routed. Whoever reads the socket holds it: the reader
    /// task, or a blocking client's calling thread (`read_until`).
    decoder: Mutex<FrameDecoder>,
    /// Signalled when a calling thread stops reading, for a reader task that found the
    /// socket taken.
    read_released: Notify,
    /// Low-latency mode: how long a reader polls before sleeping.
    spin: Duration,
    /// The default path's brief poll on a blocking client's calling thread, learned from
    /// how soon replies came (`ClientOptions::adaptive_poll`); `None`: never.
    poll: Option<Mutex<manager_proto::ring::AdaptiveSpin>>,
    /// Set when the server said it is shutting down: the connection's end is then
    /// `ServerShutDown`, not `ConnectionLost`.
    server_shut_down: AtomicBool,
    /// A reconnecting client's session: its relay watches the link and says why the
    /// session ended. The connection then never declares a silent server lost itself.
    session: Option<Arc<crate::session::Status>>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while these locks are held; recover rather than spread a poison.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) fn try_lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(guard) => Some(guard),
        Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

impl ConnState {
    pub(super) fn lost(&self, reason: Lost) -> Error {
        if let Some(ended) = self.session.as_ref().and_then(|s| s.ended()) {
            return ended;
        }
        if self.server_shut_down.load(Ordering::Acquire) {
            return Error::ServerShutDown { address: self.address.to_string() };
        }
        Error::ConnectionLost { address: self.address.to_string(), reason }
    }

    /// Ends the connection for every waiter and every later call.
    pub(super) fn fail(&self, reason: Lost) {
        let error = self.lost(reason);
        tracing::debug!(address = %self.address, "{error}");
        let wakers = lock(&self.in_flight).close(error);
        wakers.into_iter().for_each(Waker::wake);
        self.wake_writer.notify_one();
    }

    /// Why the connection is over, if it is: `ServerShutDown` once the server's notice
    /// was heard, even if a failed write ended it first.
    pub(super) fn closed(&self) -> Option<Error> {
        let error = lock(&self.in_flight).closed().cloned()?;
        Some(match error {
            Error::ConnectionLost { address, .. } if self.server_shut_down.load(Ordering::Acquire) => {
                Error::ServerShutDown { address }
            }
            error => error,
        })
    }

    /// Appends one frame (built by `encode`) to the output, and writes it right away
    /// if nothing was pending before it.
    pub(super) fn send(&self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<(), Error> {
        self.send_queued(|q, limit| q.frame(limit, encode))
    }

    /// Appends one frame with `queue`, and writes it right away if nothing was pending
    /// before it.
    pub(super) fn send_queued(
        &self,
        queue: impl FnOnce(&mut OutQueue, usize) -> Result<(), FrameError>,
    ) -> Result<(), Error> {
        self.sent.store(true, Ordering::Relaxed);
        let mut out = lock(&self.out);
        // Deferred acknowledgements leave with this frame, in the same write.
        let was_idle = !out.queued();
        queue(&mut out.q, self.max_frame)?;
        out.deferred = false;
        if !was_idle || out.coalescing {
            // The writer task is already draining the buffer, or the reader will write
            // this together with the requests of the other callers it woke.
            return Ok(());
        }
        self.write_out(out)
    }

    /// Writes what `out` holds, as far as the socket takes it now; the writer task
    /// finishes the rest.
    pub(super) fn write_out(&self, mut out: MutexGuard<'_, Output>) -> Result<(), Error> {
        match self.stream.write_queued(&out.q) {
            Ok(n) => out.q.advance(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                drop(out);
                self.hear_last_words();
                let reason = Lost::write(e);
                self.fail(reason.clone());
                return Err(self.lost(reason));
            }
        }
        if out.pending() > 0 {
            self.wake_writer.notify_one();
        }
        Ok(())
    }

    /// Sends a request nobody waits an answer for.
    pub(super) fn send_unanswered(&self, request: Request<'_>) {
        if self.closed().is_none() {
            let _ = self.send(|buf| request.encode(NO_RESPONSE, buf));
        }
    }

    /// Queues a request nobody waits an answer for to go out with the next one (or the
    /// next keepalive ping), not on its own: a grant's acknowledgement, which only
    /// frees the server's memory of how to undo it.
    pub(super) fn defer_unanswered(&self, request: Request<'_>) {
        let mut out = lock(&self.out);
        if out.pending() == 0 {
            out.deferred = true;
        }
        // A fixed-size request always fits a frame.
        let _ = out.q.frame(self.max_frame, |buf| request.encode(NO_RESPONSE, buf));
    }

    /// Pings the server if nothing was sent for a keepalive period, so its idle timeout
    /// does not take a quiet client for a dead one.
    pub(crate) fn keep_alive(&self) {
        if !self.sent.swap(false, Ordering::Relaxed) {
            self.send_unanswered(Request::Ping);
        }
    }

    /// Pings the server with a real id, so that it answers: nobody waits for the
    /// answer, but its arrival counts as hearing from the server.
    pub(super) fn ping(&self) {
        let id = self.next_id();
        let _ = self.send(|buf| Request::Ping.encode(id, buf));
    }

    /// Why the connection ends when the server stays silent.
    pub(super) fn silent(&self) -> Lost {
        Lost::Silent(self.liveness.keepalive * 2)
    }

    /// Whether silence ends the connection: not in a session, whose relay watches the
    /// link, reconnects, and ends the session itself when it cannot.
    pub(super) fn silence_is_fatal(&self) -> bool {
        self.session.is_none()
    }

    /// Whether the connection is gone or no longer used.
    pub(crate) fn is_finished(&self) -> bool {
        self.closing.is_cancelled() || self.closed().is_some()
    }

    pub(super) fn next_id(&self) -> RequestId {
        // Id 0 is reserved for "no response".
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Acknowledges what the response to request `id` hands over, if anything.
    pub(super) fn acknowledge(&self, id: RequestId, payload: &Payload) {
        if payload.is_grant() {
            // The connection holds it now, and the server releases it when the
            // connection ends: the acknowledgement can wait for the next request.
            self.defer_unanswered(Request::Ack { target: id });
        } else if payload.is_transfer() {
            // The value reaches its caller now: the server may forget how to undo it.
            self.send_unanswered(Request::Ack { target: id });
        }
    }
}

/// The user side of a connection. Dropping the last reference (every `Client` clone,
/// proxy and pending call) closes the connection; the server then releases everything
/// it held for us.
#[derive(Debug)]
pub(crate) struct Conn {
    state: Arc<ConnState>,
    /// Ourselves, for futures that must keep the connection alive.
    me: Weak<Conn>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.state.closing.cancel();
    }
}
