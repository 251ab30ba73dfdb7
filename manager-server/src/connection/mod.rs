//! One client connection, after the handshake: read requests, run them, write replies.
//!
//! One task does all of it. A request whose work finishes at once (most calls) is
//! answered straight into the output buffer; work that must wait (an async method, a
//! lock held elsewhere, a blocked `get`) is parked as a future polled by this same
//! task, so it never holds up the connection's other requests and never costs a
//! thread. Replies go out in one write per batch of requests read.
//!
//! When the connection ends — the client closed it, died, or broke the protocol —
//! its parked calls are dropped (a parked `get` takes nothing; a parked `acquire` is
//! withdrawn), objects it asked to be told are told (so its locks are released), and
//! every reference it held is released.
//!
//! The jobs are in files of their own: this one is the event loop, the only reader and
//! writer of the client's socket; [`requests`] answers one request; [`replies`] encodes
//! answers into the output buffer; [`parked`] holds calls that wait; [`close`] is what
//! a connection's end releases; [`streams`] runs the streams it opened; [`inspect`]
//! answers `Inspect` and describes this connection when a census asks.

mod close;
mod inspect;
mod parked;
mod replies;
mod requests;
mod streams;

use futures_util::StreamExt;
use futures_util::future::AbortHandle;
use futures_util::stream::FuturesUnordered;
use manager_proto::dispatch::BoxFuture;
use manager_proto::frame::FrameDecoder;
use manager_proto::outq::{OWNED_BODY_MIN, OutQueue};
use manager_proto::ring::Pace;
use manager_proto::stream::{Batch, BoxSource};
use manager_proto::{ObjectId, RemoteError, RequestId};
use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::ended::Ended;
use crate::hash::IdHashBuilder;
use crate::liveness::{Event, Stop};
use crate::object::{CallContext, ServerObject, StepResult, Undo};
use crate::state::Shared;
use crate::stream::Stream;

const OUTPUT_HIGH_WATER: usize = 4 * 1024 * 1024;

/// How long a closing connection may spend flushing its last replies.
const FINAL_FLUSH: Duration = Duration::from_secs(2);

/// A reference this connection holds.
pub(super) struct Held {
    object: Arc<dyn ServerObject>,
    /// How many times the client took it (create, incref, get-named) without
    /// releasing; the table counts the connection once.
    count: u64,
}

type Parked = BoxFuture<'static, (RequestId, Result<StepResult, Aborted>)>;

/// A stream's pump: one batch being made, then the producer back (or `None`: it
/// panicked, and the error says so).
type Pump = BoxFuture<'static, (RequestId, Option<Pumped>)>;

/// What a pump made: the producer back, the batch's bytes, and what it appended.
pub(super) type Pumped = (Option<BoxSource>, Vec<u8>, Result<Batch, RemoteError>);

/// A stream this connection opened (see `streams.rs`).
pub(super) struct OpenStream {
    /// Its producer, while no batch is being made.
    source: Option<BoxSource>,
    /// Bytes of items the client has room for; a batch may overrun it by one item.
    credit: i64,
    /// How to stop the pump making its batch, while one does.
    pump: Option<AbortHandle>,
    /// The most bytes its next batch may hold: small for the first, so that the first
    /// item goes out at once, then doubling up to `MAX_BATCH`.
    batch: usize,
    /// Whether it is a watch (`watch()`), for `Inspect`.
    watch: bool,
}

/// Why a parked call produced no result.
pub(super) enum Aborted {
    Cancelled,
    Panicked(String),
}

/// A connection being served.
pub(crate) struct Connection {
    stream: Stream,
    shared: Arc<Shared>,
    ctx: CallContext,
    /// Peer address, for logs and `Inspect`.
    peer: String,
    /// When it was accepted, for logs and `Inspect`.
    opened: std::time::Instant,
    /// Replies not yet written.
    out: OutQueue,
    /// References this connection holds.
    held: HashMap<ObjectId, Held, IdHashBuilder>,
    /// Parked calls, and how to cancel each.
    parked: HashMap<RequestId, AbortHandle>,
    running: FuturesUnordered<Parked>,
    /// Answered calls that took something, until the client acknowledges them; a
    /// cancel (or the connection's end) undoes them instead. The flag marks grants
    /// (acknowledged late, and released by the connection's end anyway).
    reserved: HashMap<RequestId, (Undo, bool)>,
    /// Open streams, by the id of the request that opened them.
    streams: HashMap<RequestId, OpenStream>,
    /// Batches being made.
    pumps: FuturesUnordered<Pump>,
}

impl Connection {
    pub(crate) fn new(stream: Stream, shared: Arc<Shared>, id: u64, peer: String) -> Self {
        let table = Arc::clone(&shared.table);
        let limits = shared.config.limits();
        let ctx = CallContext::for_connection(id, table, limits, Arc::clone(&shared) as _);
        Connection {
            stream,
            shared,
            ctx,
            peer,
            opened: std::time::Instant::now(),
            out: OutQueue::with_capacity(8 * 1024),
            held: HashMap::default(),
            parked: HashMap::new(),
            running: FuturesUnordered::new(),
            reserved: HashMap::new(),
            streams: HashMap::new(),
            pumps: FuturesUnordered::new(),
        }
    }

    /// Serves until the peer leaves or the server shuts down, then cleans up.
    /// One log line when it opens and one when it ends, with the peer and the reason
    /// (never a key or a value).
    pub(crate) async fn serve(mut self, mut decoder: FrameDecoder) {
        tracing::info!(peer = %self.peer, conn = self.ctx.connection(), "connection opened");
        let reason = self.run(&mut decoder).await;
        let lasted = self.opened.elapsed();
        let conn = self.ctx.connection();
        match reason {
            // A limit hit (a frame over the largest) or a peer that broke the protocol:
            // worth an operator's attention.
            Ended::BadFrame(_) | Ended::BadRequest(_) => {
                tracing::warn!(peer = %self.peer, conn, ?lasted, %reason, "connection closed")
            }
            _ => tracing::info!(peer = %self.peer, conn, ?lasted, %reason, "connection closed"),
        }
        self.close().await;
    }

    async fn run(&mut self, decoder: &mut FrameDecoder) -> Ended {
        let max_parked = self.shared.config.max_in_flight;
        let idle_timeout = self.shared.config.idle_timeout;
        let busy_poll = self.shared.config.busy_poll;
        // The default path's brief poll, learned from how soon requests come (see
        // `ServerBuilder::adaptive_poll`).
        // Over shared-memory rings the poll is on by default (a look at the ring costs
        // nanoseconds, and yields let a peer on the same core run).
        let cap = if !busy_poll.is_zero() {
            Duration::ZERO
        } else if self.stream.over_rings() {
            crate::rings::POLL_CAP
        } else if several_cores() {
            self.shared.config.adaptive_poll
        } else {
            Duration::ZERO
        };
        let pace = if busy_poll.is_zero() { Pace::Yielding } else { Pace::Pure };
        let mut poll = manager_proto::ring::AdaptiveSpin::new(cap);
        // Shutdown and the idle timeout come as one flag, set by the server's sweeper
        // (see `liveness`): a timer and a shutdown future polled on every turn of this
        // loop cost more than the rest of the loop's bookkeeping.
        let watch = self.shared.watches.watch(self.ctx.connection(), &self.shared.shutdown).await;
        loop {
            // Everything already read: answer what can be answered now.
            loop {
                match decoder.next_range() {
                    Ok(Some(range)) => {
                        let handled = if range.len() < OWNED_BODY_MIN {
                            self.handle(&decoder.bytes()[range])
                        } else {
                            self.handle_large(decoder, range)
                        };
                        if let Err(reason) = handled {
                            return reason;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return Ended::BadFrame(e),
                }
                if self.running.len() >= max_parked {
                    break;
                }
            }
            if let Err(e) = self.flush() {
                return Ended::Write(e);
            }
            // With the adaptive poll on, the wait for the next request begins here (or went
            // on from an earlier turn); the read that ends it teaches the budget.
            let adaptive = !cap.is_zero();
            if self.pending_out() == 0 && self.running.len() < max_parked {
                let spin = if adaptive { poll.begin_wait(Instant::now()) } else { busy_poll };
                if !spin.is_zero() {
                    match self.stream.spin_read(decoder.buffer_mut(), spin, pace) {
                        Ok(0) => return Ended::ClosedByPeer,
                        Ok(_) => {
                            watch.heard();
                            if adaptive {
                                poll.end_wait(Instant::now());
                            }
                            continue;
                        }
                        // A poll that missed did not pay (see `AdaptiveSpin::missed`).
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            if adaptive {
                                poll.missed();
                            }
                        }
                        Err(e) => return Ended::Read(e),
                    }
                }
            }
            let want_read = self.running.len() < max_parked && self.pending_out() < OUTPUT_HIGH_WATER;
            let want_write = self.pending_out() > 0;
            tokio::select! {
                biased;
                event = std::future::poll_fn(|_| watch.event().map_or(Poll::Pending, Poll::Ready)) => match event {
                    Event::Stop(Stop::Shutdown) => return Ended::Shutdown,
                    Event::Stop(Stop::Idle) => return Ended::Idle(idle_timeout),
                    Event::Asked => self.answer_censuses(watch.take_asks()),
                },
                Some((id, result)) = self.running.next(), if !self.running.is_empty() => {
                    self.shared.stats.parked.fetch_sub(1, Ordering::Relaxed);
                    self.parked.remove(&id);
                    self.finish_parked(id, result);
                }
                ready = std::future::poll_fn(|cx| self.stream.poll_readable(cx)), if want_read => {
                    if let Err(e) = ready {
                        return Ended::Read(e);
                    }
                    match self.stream.try_read_buf(decoder.buffer_mut()) {
                        Ok(0) => return Ended::ClosedByPeer,
                        Ok(_) => {
                            watch.heard();
                            if adaptive {
                                poll.end_wait(Instant::now());
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Ended::Read(e),
                    }
                }
                // After the socket: a stream with credit is always ready to pump, and what
                // came meanwhile (a `Cancel`, other calls) must not wait for its credit
                // to run out. Polling readiness first costs no read: the socket is read
                // only when it has something.
                Some((id, pumped)) = self.pumps.next(), if !self.pumps.is_empty() && self.pending_out() < OUTPUT_HIGH_WATER => {
                    self.pumped(id, pumped);
                }
                ready = self.stream.writable(), if want_write => {
                    if let Err(e) = ready {
                        return Ended::Write(e);
                    }
                }
            }
        }
    }

    pub(super) fn pending_out(&self) -> usize {
        self.out.pending()
    }

    /// Writes as much of the output as the socket takes now.
    pub(super) fn flush(&mut self) -> io::Result<()> {
        while self.out.pending() > 0 {
            match self.stream.write_queued(&self.out) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Whether this process may run on more than one core (its affinity mask and the
/// machine), asked once: polling for a peer pays only when the peer runs meanwhile.
fn several_cores() -> bool {
    static SEVERAL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SEVERAL.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1))
}
