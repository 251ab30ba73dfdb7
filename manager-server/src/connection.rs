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

use futures_util::future::{AbortHandle, Abortable};
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use manager_proto::dispatch::BoxFuture;
use manager_proto::frame::{FrameDecoder, FrameError};
use manager_proto::outq::{OWNED_BODY_MIN, OutQueue, SharedBytes};
use manager_proto::{DecodeError, NO_RESPONSE, ObjectId, RemoteError, RemoteErrorKind, Request, RequestId, Response};
use std::any::Any;
use std::collections::HashMap;
use std::io;
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::Poll;
use std::time::Duration;

use crate::limits::Limits;
use crate::liveness::Stop;
use crate::object::{ServerObject, Step, StepResult, Undo};
use crate::server::Shared;
use crate::stream::Stream;
use crate::table::Table;

/// Stop reading a connection whose unsent replies exceed this, until they drain: a
/// client that does not read cannot make the server buffer without bound.
const OUTPUT_HIGH_WATER: usize = 4 * 1024 * 1024;

/// How long a closing connection may spend flushing its last replies.
const FINAL_FLUSH: Duration = Duration::from_secs(2);

/// Who is calling, and what a call may do to the caller's connection: the context the
/// built-in types need (lock owners, references handed out with elements).
#[derive(Clone)]
pub(crate) struct CallContext {
    conn: Arc<ConnShared>,
    table: Arc<Table>,
    /// The frame of the request being handled, when it was large and taken whole from
    /// the receive buffer: a large element in its arguments is stored as its part of
    /// the frame instead of being copied out (see [`CallContext::received_part`]).
    received: Option<SharedBytes>,
    /// What one request may make the server allocate.
    limits: Limits,
}

/// The part of a connection that calls (parked ones too) reach.
struct ConnShared {
    /// The connection's id, unique within a server run.
    id: u64,
    /// Objects to tell when this connection ends.
    watched: Mutex<Watched>,
    /// References taken for this connection by calls that handed out elements holding
    /// proxies; merged into the connection's own before the reply goes out.
    adopted: Mutex<Vec<(ObjectId, Arc<dyn ServerObject>)>>,
    /// Whether `adopted` may be non-empty: every reply checks, and almost none has any,
    /// so one load spares a lock (about 60 instructions per call, callgrind).
    any_adopted: AtomicBool,
}

/// The objects a connection asked to be told about when it ends, by address (one
/// entry per object; the `Weak` keeps the address from being reused). An object dropped
/// meanwhile leaves a dead entry, and its allocation with it: dead entries are swept
/// whenever the map has doubled, so a client that creates, locks and drops locks in a
/// loop does not grow its connection.
struct Watched {
    objects: HashMap<usize, Weak<dyn ServerObject>, IdHashBuilder>,
    /// Sweep dead entries when there are this many.
    prune_at: usize,
}

impl Watched {
    const MIN_PRUNE: usize = 64;

    fn insert(&mut self, object: &Arc<dyn ServerObject>) {
        let key = Arc::as_ptr(object) as *const () as usize;
        self.objects.entry(key).or_insert_with(|| Arc::downgrade(object));
        if self.objects.len() >= self.prune_at {
            self.objects.retain(|_, w| w.strong_count() > 0);
            self.prune_at = self.objects.len().saturating_mul(2).max(Self::MIN_PRUNE);
        }
    }
}

impl ConnShared {
    fn new(id: u64) -> Arc<ConnShared> {
        Arc::new(ConnShared {
            id,
            watched: Mutex::new(Watched { objects: HashMap::default(), prune_at: Watched::MIN_PRUNE }),
            adopted: Mutex::new(Vec::new()),
            any_adopted: AtomicBool::new(false),
        })
    }
}

impl CallContext {
    /// The context of the server itself (connection 0), for objects it creates at
    /// start-up.
    pub(crate) fn internal(table: Arc<Table>, limits: Limits) -> CallContext {
        CallContext { conn: ConnShared::new(0), table, received: None, limits }
    }

    /// The calling connection's id.
    pub(crate) fn connection(&self) -> u64 {
        self.conn.id
    }

    /// What one request may make the server allocate.
    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The object table.
    pub(crate) fn table(&self) -> &Arc<Table> {
        &self.table
    }

    /// This context, handling a request whose frame was taken whole.
    #[cfg(test)]
    pub(crate) fn receiving(self, frame: SharedBytes) -> CallContext {
        CallContext { received: Some(frame), ..self }
    }

    /// `bytes` (part of the arguments being handled) as a part of the request frame they
    /// arrived in, shared instead of copied. `None` unless the frame was taken whole,
    /// and unless `bytes` are most of it: a part keeps the whole frame alive, and a
    /// second large argument (a dict's key, `compare_exchange`'s expected value) must
    /// not live on with it.
    pub(crate) fn received_part(&self, bytes: &[u8]) -> Option<SharedBytes> {
        let frame = self.received.as_ref()?;
        if bytes.len() < frame.len() - frame.len() / 8 {
            return None;
        }
        frame.part(bytes)
    }

    /// Asks for `object.disconnected(id)` when this connection ends.
    pub(crate) fn on_disconnect(&self, object: Arc<dyn ServerObject>) {
        self.conn.watched.lock().unwrap_or_else(|p| p.into_inner()).insert(&object);
    }

    /// Takes a reference to `object` for the calling connection: the reply hands the
    /// caller a proxy to it.
    pub(crate) fn adopt(&self, object: ObjectId) -> Result<(), RemoteError> {
        let target = self.table.incref(object)?;
        let mut adopted = self.conn.adopted.lock().unwrap_or_else(|p| p.into_inner());
        adopted.push((object, target));
        self.conn.any_adopted.store(true, Ordering::Release);
        Ok(())
    }
}

/// A reference this connection holds.
struct Held {
    object: Arc<dyn ServerObject>,
    /// How many times the client took it (create, incref, get-named) without
    /// releasing; the table counts the connection once.
    count: u64,
}

type Parked = BoxFuture<'static, (RequestId, Result<StepResult, Aborted>)>;

/// Why a parked call produced no result.
enum Aborted {
    Cancelled,
    Panicked(String),
}

/// Builds the hasher of a connection's maps keyed by the server's own numbers: held
/// objects (looked up on every call) and watched objects (every lock acquire). SipHash
/// cost ~120 instructions a lookup there, a tenth of the server's work for a small call.
/// Object ids are the server's counters and addresses its allocator's, so the hash need
/// not resist chosen keys outright; still, a per-map random key and a fold of the
/// product's high bits into the low bits (which pick the bucket) keep a peer from
/// gathering ids that share a bucket. Request ids are the peer's to choose: ids that
/// differ only in their top bits would all land in one bucket here, so the maps keyed
/// by them keep SipHash.
#[derive(Clone, Debug)]
struct IdHashBuilder(u64);

impl Default for IdHashBuilder {
    fn default() -> Self {
        use std::hash::BuildHasher;
        IdHashBuilder(std::collections::hash_map::RandomState::new().hash_one(0x5EED_u64))
    }
}

impl std::hash::BuildHasher for IdHashBuilder {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher { key: self.0, hash: 0 }
    }
}

#[derive(Debug)]
struct IdHasher {
    key: u64,
    hash: u64,
}

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.hash
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.hash.rotate_left(8) ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, id: u64) {
        let x = (id ^ self.key).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.hash = x ^ (x >> 29);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// A connection being served.
pub(crate) struct Connection {
    stream: Stream,
    shared: Arc<Shared>,
    ctx: CallContext,
    /// Peer address, for logs.
    peer: String,
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
}

impl Connection {
    pub(crate) fn new(stream: Stream, shared: Arc<Shared>, id: u64, peer: String) -> Self {
        let table = Arc::clone(&shared.table);
        let limits = shared.config.limits();
        Connection {
            stream,
            shared,
            ctx: CallContext { conn: ConnShared::new(id), table, received: None, limits },
            peer,
            out: OutQueue::with_capacity(8 * 1024),
            held: HashMap::default(),
            parked: HashMap::new(),
            running: FuturesUnordered::new(),
            reserved: HashMap::new(),
        }
    }

    /// Serves until the peer leaves or the server shuts down, then cleans up.
    pub(crate) async fn serve(mut self, mut decoder: FrameDecoder) {
        let reason = self.run(&mut decoder).await;
        tracing::debug!(peer = %self.peer, conn = self.ctx.conn.id, %reason, "connection closed");
        self.close().await;
    }

    async fn run(&mut self, decoder: &mut FrameDecoder) -> String {
        let max_parked = self.shared.config.max_in_flight;
        let idle_timeout = self.shared.config.idle_timeout;
        let busy_poll = self.shared.config.busy_poll;
        // Shutdown and the idle timeout come as one flag, set by the server's sweeper
        // (see `liveness`): a timer and a shutdown future polled on every turn of this
        // loop cost more than the rest of the loop's bookkeeping.
        let watch = self.shared.watches.watch(self.ctx.conn.id, &self.shared.shutdown).await;
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
                    Err(e) => return format!("bad frame: {e}"),
                }
                if self.running.len() >= max_parked {
                    break;
                }
            }
            if let Err(e) = self.flush() {
                return format!("write failed: {e}");
            }
            if !busy_poll.is_zero() && self.pending_out() == 0 && self.running.len() < max_parked {
                match self.stream.spin_read(decoder.buffer_mut(), busy_poll) {
                    Ok(0) => return "closed by peer".into(),
                    Ok(_) => {
                        watch.heard();
                        continue;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return format!("read failed: {e}"),
                }
            }
            let want_read = self.running.len() < max_parked && self.pending_out() < OUTPUT_HIGH_WATER;
            let want_write = self.pending_out() > 0;
            tokio::select! {
                biased;
                stop = std::future::poll_fn(|_| watch.stopped().map_or(Poll::Pending, Poll::Ready)) => return match stop {
                    Stop::Shutdown => "server shutting down".into(),
                    Stop::Idle => format!("nothing received for {idle_timeout:?}; the peer is gone"),
                },
                Some((id, result)) = self.running.next(), if !self.running.is_empty() => {
                    self.shared.stats.parked.fetch_sub(1, Ordering::Relaxed);
                    self.parked.remove(&id);
                    self.finish_parked(id, result);
                }
                ready = std::future::poll_fn(|cx| self.stream.poll_readable(cx)), if want_read => {
                    if let Err(e) = ready {
                        return format!("read failed: {e}");
                    }
                    match self.stream.try_read_buf(decoder.buffer_mut()) {
                        Ok(0) => return "closed by peer".into(),
                        Ok(_) => watch.heard(),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return format!("read failed: {e}"),
                    }
                }
                ready = self.stream.writable(), if want_write => {
                    if let Err(e) = ready {
                        return format!("write failed: {e}");
                    }
                }
            }
        }
    }

    fn pending_out(&self) -> usize {
        self.out.pending()
    }

    /// Writes as much of the output as the socket takes now.
    fn flush(&mut self) -> io::Result<()> {
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

    /// Queues a reply to request `id` (none for [`NO_RESPONSE`]).
    fn respond(&mut self, id: RequestId, response: Response<'_>) {
        if id == NO_RESPONSE {
            return;
        }
        let queued = self.out.frame(self.shared.config.max_frame, |out| response.encode(id, out));
        self.refuse_if_too_large(id, queued);
    }

    /// Queues a reply to request `id` made of `head` (a response with an empty tail)
    /// and then `value`, which a large reply keeps as it is instead of copying it; then,
    /// if there is one, a shared stored element and what follows it, written from where
    /// the element lies.
    fn respond_with_tail(
        &mut self,
        id: RequestId,
        head: Response<'_>,
        value: manager_proto::Reply,
        shared: Option<(SharedBytes, Vec<u8>)>,
    ) {
        if id == NO_RESPONSE {
            return;
        }
        if let Some((body, trailer)) = shared {
            return self.respond_with_shared(id, head, &value, body, &trailer);
        }
        let limit = self.shared.config.max_frame;
        let queued = if value.bytes().len() <= manager_proto::Reply::INLINE {
            self.out.frame(limit, |out| {
                head.encode(id, out);
                out.extend_from_slice(value.bytes());
            })
        } else {
            self.out.frame_with_body(limit, |out| head.encode(id, out), value.into_vec(), &[])
        };
        self.refuse_if_too_large(id, queued);
    }

    /// [`respond_with_tail`](Self::respond_with_tail) for a reply that carries a large
    /// stored element: `head`, `value`, then `body` written from where it lies, then
    /// `trailer`. Kept out of line: the small replies of the common path stay compact.
    #[inline(never)]
    fn respond_with_shared(
        &mut self,
        id: RequestId,
        head: Response<'_>,
        value: &manager_proto::Reply,
        body: SharedBytes,
        trailer: &[u8],
    ) {
        let limit = self.shared.config.max_frame;
        let encode_head = |out: &mut Vec<u8>| {
            head.encode(id, out);
            out.extend_from_slice(value.bytes());
        };
        let queued = self.out.frame_with_shared(limit, encode_head, body, trailer);
        self.refuse_if_too_large(id, queued);
    }

    /// When the reply to `id` was too large for the client to accept, says so instead.
    fn refuse_if_too_large(&mut self, id: RequestId, queued: Result<(), FrameError>) {
        if let Err(e) = queued {
            let error = RemoteError::new(RemoteErrorKind::LimitExceeded, format!("the reply is too large: {e}"));
            // An error message always fits.
            let _ = self.out.frame(usize::MAX, |out| Response::Error(error).encode(id, out));
        }
    }

    fn respond_result(&mut self, id: RequestId, result: StepResult) {
        self.merge_adopted();
        match result {
            Ok(reply) => match reply.undo {
                None => self.respond_with_tail(id, Response::Value(&[]), reply.bytes, reply.shared),
                Some(undo) if id == NO_RESPONSE => undo(),
                Some(undo) => {
                    let head = if reply.grant { Response::Grant(&[]) } else { Response::Transfer(&[]) };
                    self.respond_with_tail(id, head, reply.bytes, reply.shared);
                    if let Some((old, _)) = self.reserved.insert(id, (undo, reply.grant)) {
                        old();
                    }
                }
            },
            Err(e) => self.respond(id, Response::Error(e)),
        }
    }

    /// Folds references calls took for this connection into its own.
    fn merge_adopted(&mut self) {
        // Set under the lock after a push; cleared here under the lock before taking. A
        // call that adopted finished before its reply is built, so its store is seen.
        if !self.ctx.conn.any_adopted.load(Ordering::Acquire) {
            return;
        }
        let adopted = {
            let mut adopted = self.ctx.conn.adopted.lock().unwrap_or_else(|p| p.into_inner());
            self.ctx.conn.any_adopted.store(false, Ordering::Relaxed);
            std::mem::take(&mut *adopted)
        };
        for (id, object) in adopted {
            match self.held.get_mut(&id) {
                Some(held) => {
                    held.count += 1;
                    // The table counts a connection once.
                    self.shared.table.release(id);
                }
                None => {
                    self.held.insert(id, Held { object, count: 1 });
                }
            }
        }
    }

    fn finish_parked(&mut self, id: RequestId, result: Result<StepResult, Aborted>) {
        match result {
            Ok(r) => self.respond_result(id, r),
            Err(Aborted::Cancelled) => {}
            Err(Aborted::Panicked(what)) => {
                tracing::warn!(peer = %self.peer, "{what}");
                self.respond(id, Response::Error(RemoteError::new(RemoteErrorKind::Panicked, what)));
            }
        }
    }

    /// [`handle`](Self::handle) for a large request (at `range` in the decoder's
    /// buffer). When its frame ends what was read, the frame is taken whole, and an
    /// element the request stores keeps its part of it instead of a copy.
    #[inline(never)]
    fn handle_large(&mut self, decoder: &mut FrameDecoder, range: Range<usize>) -> Result<(), String> {
        let Some(frame) = take_large(decoder, &range) else {
            return self.handle(&decoder.bytes()[range]);
        };
        self.ctx.received = Some(frame.clone());
        let handled = self.handle(&frame[range]);
        self.ctx.received = None;
        handled
    }

    /// Handles one request. An error ends the connection.
    fn handle(&mut self, payload: &[u8]) -> Result<(), String> {
        self.shared.stats.requests.fetch_add(1, Ordering::Relaxed);
        let (id, request) = match Request::decode(payload) {
            Ok(decoded) => decoded,
            Err(e @ DecodeError::UnknownKind { id, .. }) => {
                tracing::debug!(peer = %self.peer, "{e}");
                let msg = format!("this server does not know {e}; it may be older than the client");
                self.respond(id, Response::Error(RemoteError::new(RemoteErrorKind::UnknownRequest, msg)));
                return Ok(());
            }
            Err(e @ DecodeError::Malformed { id: Some(id), .. }) => {
                self.respond(id, Response::Error(RemoteError::new(RemoteErrorKind::Protocol, e.to_string())));
                return Ok(());
            }
            Err(e) => return Err(e.to_string()),
        };
        match request {
            Request::Ping => self.respond(id, Response::Pong),
            Request::Create { type_id, args } => {
                let ctx = &self.ctx;
                let created = catch_panic(|| self.shared.registry.construct(type_id, args, ctx))
                    .unwrap_or_else(|what| Err(panicked(format!("the constructor of `{type_id}` {what}"))));
                match created {
                    Ok(object) => {
                        self.merge_adopted();
                        let oid = self.shared.table.insert(Arc::clone(&object));
                        self.held.insert(oid, Held { object, count: 1 });
                        self.respond(id, Response::Object { id: oid, type_id });
                    }
                    Err(e) => self.respond(id, Response::Error(e)),
                }
            }
            Request::Call { object, method, args } => {
                let target = match self.held(object) {
                    Ok(target) => target,
                    Err(e) => {
                        self.respond(id, Response::Error(e));
                        return Ok(());
                    }
                };
                let ctx = &self.ctx;
                let outcome = catch_panic(|| Arc::clone(&target).call(ctx, method, args));
                match outcome {
                    Ok(Step::Ready(result)) => self.respond_result(id, result),
                    Ok(Step::Pending(fut)) => {
                        let what = format!("`{}` {method}", target.shared_type_id());
                        self.park(id, fut, what);
                    }
                    Err(what) => {
                        let what = format!("`{}` {method} {what}", target.shared_type_id());
                        tracing::warn!(peer = %self.peer, "{what}");
                        self.respond(id, Response::Error(panicked(what)));
                    }
                }
            }
            Request::ValueCopy { object } => match self.held(object) {
                Ok(target) => {
                    let what = format!("the value copy of `{}` {object}", target.shared_type_id());
                    let ctx = &self.ctx;
                    match catch_panic(|| target.value_copy(ctx)) {
                        Ok(Step::Ready(result)) => self.respond_result(id, result),
                        Ok(Step::Pending(fut)) => self.park(id, fut, what),
                        Err(p) => self.respond(id, Response::Error(panicked(format!("{what} {p}")))),
                    }
                }
                Err(e) => self.respond(id, Response::Error(e)),
            },
            Request::Cancel { target } => {
                if let Some(handle) = self.parked.remove(&target) {
                    handle.abort();
                } else if let Some((undo, _)) = self.reserved.remove(&target) {
                    // Answered, but the caller had given up: put back what it took.
                    self.shared.stats.undone.fetch_add(1, Ordering::Relaxed);
                    if catch_panic(undo).is_err() {
                        tracing::error!(peer = %self.peer, "undoing a cancelled transfer panicked");
                    }
                }
            }
            Request::Ack { target } => {
                self.reserved.remove(&target);
            }
            Request::Incref { object } => {
                if let Some(held) = self.held.get_mut(&object) {
                    held.count += 1;
                    let type_id = held.object.shared_type_id().to_owned();
                    self.respond(id, Response::Object { id: object, type_id: &type_id });
                } else {
                    match self.shared.table.incref(object) {
                        Ok(target) => {
                            let type_id = target.shared_type_id().to_owned();
                            self.held.insert(object, Held { object: target, count: 1 });
                            self.respond(id, Response::Object { id: object, type_id: &type_id });
                        }
                        Err(e) => self.respond(id, Response::Error(e)),
                    }
                }
            }
            Request::Decref { object } => match self.held.get_mut(&object) {
                Some(held) if held.count > 1 => {
                    held.count -= 1;
                    self.respond(id, Response::Done);
                }
                Some(_) => {
                    self.held.remove(&object);
                    self.shared.table.release(object);
                    self.respond(id, Response::Done);
                }
                None => {
                    let e = not_held(object);
                    tracing::debug!(peer = %self.peer, "decref: {e}");
                    self.respond(id, Response::Error(e));
                }
            },
            Request::GetNamed { name } => match self.shared.table.get_named(name) {
                Ok((oid, object)) => {
                    let type_id = object.shared_type_id().to_owned();
                    match self.held.get_mut(&oid) {
                        Some(held) => {
                            held.count += 1;
                            // The connection already counted once in the table.
                            self.shared.table.release(oid);
                        }
                        None => {
                            self.held.insert(oid, Held { object, count: 1 });
                        }
                    }
                    self.respond(id, Response::Object { id: oid, type_id: &type_id });
                }
                Err(e) => self.respond(id, Response::Error(e)),
            },
            Request::BindNamed { name, object } => {
                let result = self.held(object).and_then(|_| self.shared.table.bind_name(name, object));
                match result {
                    Ok(()) => self.respond(id, Response::Done),
                    Err(e) => self.respond(id, Response::Error(e)),
                }
            }
            Request::Describe { type_id } => match self.shared.registry.describe(type_id) {
                Ok(d) => self.respond(id, Response::Description(d)),
                Err(e) => self.respond(id, Response::Error(e)),
            },
            Request::Stats => {
                let stats = self.shared.stats();
                self.respond(id, Response::Stats(stats));
            }
            Request::Shutdown => {
                if self.shared.config.allow_remote_shutdown {
                    tracing::info!(peer = %self.peer, "shutdown requested by a client");
                    self.respond(id, Response::Done);
                    // Reply first; the loop sees the signal after this batch is flushed.
                    let _ = self.flush();
                    self.shared.shutdown.cancel();
                } else {
                    let e = RemoteError::new(
                        RemoteErrorKind::Forbidden,
                        "this server does not accept shutdown requests from clients",
                    );
                    self.respond(id, Response::Error(e));
                }
            }
        }
        Ok(())
    }

    fn held(&self, object: ObjectId) -> Result<Arc<dyn ServerObject>, RemoteError> {
        self.held.get(&object).map(|h| Arc::clone(&h.object)).ok_or_else(|| not_held(object))
    }

    fn park(&mut self, id: RequestId, fut: BoxFuture<'static, StepResult>, what: String) {
        let (handle, registration) = AbortHandle::new_pair();
        let fut = Abortable::new(AssertUnwindSafe(fut).catch_unwind(), registration).map(move |r| {
            let r = match r {
                Ok(Ok(result)) => Ok(result),
                Ok(Err(payload)) => Err(Aborted::Panicked(format!("{what} {}", panic_message(&*payload)))),
                Err(_) => Err(Aborted::Cancelled),
            };
            (id, r)
        });
        if id != NO_RESPONSE
            && let Some(old) = self.parked.insert(id, handle)
        {
            // A client reusing a live id: the older call can no longer be answered.
            old.abort();
        }
        self.shared.stats.parked.fetch_add(1, Ordering::Relaxed);
        self.running.push(Box::pin(fut));
    }

    /// Ends the connection: parked calls answered (at shutdown) or dropped, watchers
    /// told, references released.
    async fn close(mut self) {
        let shutting_down = self.shared.shutdown.is_cancelled();
        let parked: Vec<RequestId> = self.parked.drain().map(|(id, _)| id).collect();
        // Dropping the futures withdraws their waits before the watchers release locks.
        let dropped = self.running.len() as u64;
        self.running = FuturesUnordered::new();
        self.shared.stats.parked.fetch_sub(dropped, Ordering::Relaxed);
        if shutting_down {
            for id in parked {
                let e = RemoteError::new(RemoteErrorKind::ShuttingDown, "the server is shutting down");
                self.respond(id, Response::Error(e));
            }
            let _ = tokio::time::timeout(FINAL_FLUSH, async {
                while self.pending_out() > 0 {
                    if self.flush().is_err() || self.stream.writable().await.is_err() {
                        break;
                    }
                }
            })
            .await;
        }
        // Transfers never acknowledged are undone: the items go back, the locks free.
        // (A grant's acknowledgement may still have been on its way: releasing what the
        // connection held is no news, so only transfers count as undone.)
        for (_, (undo, grant)) in self.reserved.drain() {
            if !grant {
                self.shared.stats.undone.fetch_add(1, Ordering::Relaxed);
            }
            if catch_panic(undo).is_err() {
                tracing::error!("undoing a transfer of a closed connection panicked");
            }
        }
        let watched: Vec<_> = {
            let mut w = self.ctx.conn.watched.lock().unwrap_or_else(|p| p.into_inner());
            w.objects.drain().map(|(_, obj)| obj).collect()
        };
        for object in watched.iter().filter_map(Weak::upgrade) {
            let conn = self.ctx.conn.id;
            if catch_panic(|| object.disconnected(conn)).is_err() {
                tracing::error!(conn, "an object panicked while releasing a closed connection's holdings");
            }
        }
        for (object, _) in self.held.drain() {
            self.shared.table.release(object);
        }
        self.shared.stats.connections.fetch_sub(1, Ordering::Relaxed);
        // Its buffers (and objects only it held) are free now.
        self.shared.table.freed.notify_one();
    }
}

fn not_held(object: ObjectId) -> RemoteError {
    RemoteError::new(
        RemoteErrorKind::NoSuchObject,
        format!("this connection holds no reference to object {object} (it was released, or never taken)"),
    )
}

fn panicked(what: String) -> RemoteError {
    RemoteError::new(RemoteErrorKind::Panicked, what)
}

/// A large request frame that ends what was read, taken from the decoder whole instead
/// of leaving its arguments to be copied out. Room the buffer had beyond the frame is
/// given back first: an element stored from the frame keeps the buffer alive.
#[inline]
fn take_large(decoder: &mut FrameDecoder, range: &Range<usize>) -> Option<SharedBytes> {
    if range.len() < OWNED_BODY_MIN {
        return None;
    }
    let mut buf = decoder.take_buffer_if_last(range)?;
    if buf.capacity() - buf.len() > buf.len() / 8 {
        buf.shrink_to_fit();
    }
    Some(SharedBytes::from(buf))
}

/// Runs `f`, turning a panic into a description of it.
fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panic_message(&*payload))
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    let msg = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    format!("panicked: {msg}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use manager_proto::frame::encode_frame;

    /// A decoder holding `frames`, each encoded as a frame, with `room` spare bytes.
    fn decoder_with(frames: &[Vec<u8>], room: usize) -> FrameDecoder {
        let mut dec = FrameDecoder::new(usize::MAX);
        let buf = dec.buffer_mut();
        for f in frames {
            encode_frame(f, buf, usize::MAX).unwrap();
        }
        buf.reserve_exact(room);
        dec
    }

    /// An object that only counts the disconnections it is told of.
    struct Told(std::sync::atomic::AtomicU64);

    impl ServerObject for Told {
        fn shared_type_id(&self) -> &str {
            "told"
        }
        fn call(self: Arc<Self>, _: &CallContext, _: manager_proto::MethodRef<'_>, _: &[u8]) -> Step {
            Step::Ready(Err(RemoteError::new(RemoteErrorKind::NotExposed, "none")))
        }
        fn value_copy(self: Arc<Self>, _: &CallContext) -> Step {
            Step::Ready(Err(RemoteError::new(RemoteErrorKind::NotExposed, "none")))
        }
        fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
            self
        }
        fn disconnected(&self, _conn: u64) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn watched_objects_that_were_dropped_are_swept() {
        let mut watched = Watched { objects: HashMap::default(), prune_at: Watched::MIN_PRUNE };
        // A client that creates, locks and drops objects in a loop.
        for _ in 0..10_000 {
            let object: Arc<dyn ServerObject> = Arc::new(Told(Default::default()));
            watched.insert(&object);
            watched.insert(&object);
        }
        assert!(watched.objects.len() < 2 * Watched::MIN_PRUNE, "{} entries kept", watched.objects.len());
        // A live object is kept and told, even at the address of a dropped one.
        let told = Arc::new(Told(Default::default()));
        let object: Arc<dyn ServerObject> = told.clone();
        watched.insert(&object);
        for _ in 0..1000 {
            watched.insert(&(Arc::new(Told(Default::default())) as Arc<dyn ServerObject>));
        }
        for w in watched.objects.values().filter_map(Weak::upgrade) {
            w.disconnected(1);
        }
        assert_eq!(told.0.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn only_a_large_frame_that_ends_the_buffer_is_taken_and_its_spare_room_is_given_back() {
        let large = vec![3u8; OWNED_BODY_MIN];
        // Small: left in place.
        let mut dec = decoder_with(&[vec![1; 100]], 0);
        let range = dec.next_range().unwrap().unwrap();
        assert!(take_large(&mut dec, &range).is_none());
        assert_eq!(&dec.bytes()[range], &[1; 100][..]);
        // Large, with another frame behind it: left in place.
        let mut dec = decoder_with(&[large.clone(), vec![2]], 0);
        let range = dec.next_range().unwrap().unwrap();
        assert!(take_large(&mut dec, &range).is_none());
        assert_eq!(dec.next_frame().unwrap(), Some(&[2][..]));
        // Large and last: taken, with no more room than it needs, and the decoder
        // starts over.
        let mut dec = decoder_with(std::slice::from_ref(&large), 4 * OWNED_BODY_MIN);
        let range = dec.next_range().unwrap().unwrap();
        let frame = take_large(&mut dec, &range).unwrap();
        assert_eq!(dec.buffered(), 0);
        // Nobody else holds it: this is the decoder's buffer itself.
        let buf = frame.into_vec();
        assert_eq!(&buf[range], &large[..]);
        assert!(buf.capacity() <= buf.len() + buf.len() / 8, "spare room given back");
    }
}
