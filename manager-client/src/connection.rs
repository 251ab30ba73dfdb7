//! One multiplexed connection: requests go out tagged with ids, responses come back in
//! any order and are matched to their waiters.
//!
//! A caller encodes its request into the shared output buffer and, if nothing else is
//! pending, writes it to the socket itself (no hand-off to another task on the common
//! path); whatever the socket does not take at once, the writer task finishes. The
//! reader task routes each response to its waiter by id and, when the stream ends,
//! fails every waiter — and every later call — with the reason.

use manager_proto::frame::{self, FrameDecoder, FrameError};
use manager_proto::handshake::{ClientHandshake, HandshakeError, NONCE_LEN, VersionRange};
use manager_proto::outq::OutQueue;
use manager_proto::proxy::SplitArgs;
use manager_proto::{
    Address, AuthKey, Error, MethodRef, NO_RESPONSE, ObjectId, PendingReply, Reply, ReplySource, Request, RequestId,
    Response, ServerId, Transport,
};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::ClientOptions;
use crate::in_flight::{Forgotten, InFlight, Outcome, Payload};
use crate::stream::Stream;

/// Bytes waiting to be written.
#[derive(Debug, Default)]
struct Output {
    q: OutQueue,
    /// Set by the reader while the callers it just woke run: their requests are
    /// appended, and the reader writes them all at once when it resumes.
    coalescing: bool,
    /// What is pending may wait for the next request to go along with it (grant
    /// acknowledgements): nobody is writing it.
    deferred: bool,
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
    /// Kept to hand to child processes (`configure_child`); never logged.
    authkey: AuthKey,
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
}

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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while these locks are held; recover rather than spread a poison.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn try_lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(guard) => Some(guard),
        Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

impl ConnState {
    fn lost(&self, reason: impl Into<String>) -> Error {
        Error::ConnectionLost { address: self.address.to_string(), reason: reason.into() }
    }

    /// Ends the connection for every waiter and every later call.
    fn fail(&self, reason: impl Into<String>) {
        let error = self.lost(reason);
        tracing::debug!(address = %self.address, "{error}");
        let wakers = lock(&self.in_flight).close(error);
        wakers.into_iter().for_each(Waker::wake);
        self.wake_writer.notify_one();
    }

    fn closed(&self) -> Option<Error> {
        lock(&self.in_flight).closed().cloned()
    }

    /// Appends one frame (built by `encode`) to the output, and writes it right away
    /// if nothing was pending before it.
    fn send(&self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<(), Error> {
        self.send_queued(|q, limit| q.frame(limit, encode))
    }

    /// Appends one frame with `queue`, and writes it right away if nothing was pending
    /// before it.
    fn send_queued(&self, queue: impl FnOnce(&mut OutQueue, usize) -> Result<(), FrameError>) -> Result<(), Error> {
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
    fn write_out(&self, mut out: MutexGuard<'_, Output>) -> Result<(), Error> {
        match self.stream.write_queued(&out.q) {
            Ok(n) => out.q.advance(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                drop(out);
                let reason = format!("write failed: {e}");
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
    fn send_unanswered(&self, request: Request<'_>) {
        if self.closed().is_none() {
            let _ = self.send(|buf| request.encode(NO_RESPONSE, buf));
        }
    }

    /// Queues a request nobody waits an answer for to go out with the next one (or the
    /// next keepalive ping), not on its own: a grant's acknowledgement, which only
    /// frees the server's memory of how to undo it.
    fn defer_unanswered(&self, request: Request<'_>) {
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

    /// Whether the connection is gone or no longer used.
    pub(crate) fn is_finished(&self) -> bool {
        self.closing.is_cancelled() || self.closed().is_some()
    }

    fn next_id(&self) -> RequestId {
        // Id 0 is reserved for "no response".
        self.next_id.fetch_add(1, Ordering::Relaxed)
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
                Ok(false) => break Ok(false),
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

    /// One read on a calling thread: low-latency mode spins first; then (or at once) it
    /// sleeps in the kernel, for at most the receive timeout (then `WouldBlock`).
    fn read_more(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        if !self.spin.is_zero() {
            match self.stream.spin_read(buf, self.spin) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return other,
            }
        }
        self.stream.recv_blocking(buf)
    }

    /// Acknowledges what the response to request `id` hands over, if anything.
    fn acknowledge(&self, id: RequestId, payload: &Payload) {
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

/// How a call that reads its own reply ([`Conn::exchange`]) came out.
enum Here {
    /// Its response came.
    Answered(Payload),
    /// It must wait for whoever reads next to route its response.
    Wait,
    /// The connection is over, for this reason.
    Failed(String),
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

impl Conn {
    /// Opens, authenticates and starts a connection.
    pub(crate) async fn open(address: Address, authkey: AuthKey, options: &ClientOptions) -> Result<Arc<Conn>, Error> {
        let stream = Stream::connect(&address, options.connect_timeout).await?;
        let mut decoder = FrameDecoder::new(frame::HANDSHAKE_MAX_FRAME);
        let server = match tokio::time::timeout(
            options.connect_timeout,
            authenticate(&stream, &address, &authkey, &mut decoder),
        )
        .await
        {
            Ok(r) => r?,
            Err(_) => {
                return Err(Error::Timeout(format!(
                    "the manager at {address} did not complete the handshake within {:?}",
                    options.connect_timeout
                )));
            }
        };
        decoder.set_limit(options.max_frame);
        let state = Arc::new(ConnState {
            address,
            server,
            authkey,
            stream,
            out: Mutex::new(Output::default()),
            wake_writer: Notify::new(),
            in_flight: Mutex::new(InFlight::default()),
            next_id: AtomicU64::new(1),
            max_frame: options.max_frame,
            closing: CancellationToken::new(),
            heard: AtomicBool::new(false),
            sent: AtomicBool::new(false),
            decoder: Mutex::new(decoder),
            read_released: Notify::new(),
            spin: options.spin,
        });
        tokio::spawn(reader(Arc::clone(&state), options.keepalive));
        tokio::spawn(writer(Arc::clone(&state)));
        Ok(Arc::new_cyclic(|me| Conn { state, me: me.clone() }))
    }

    pub(crate) fn address(&self) -> &Address {
        &self.state.address
    }

    pub(crate) fn server(&self) -> ServerId {
        self.state.server
    }

    pub(crate) fn authkey(&self) -> &AuthKey {
        &self.state.authkey
    }

    /// The shared state, for a keepalive thread that must not keep the connection
    /// open by itself.
    pub(crate) fn state(&self) -> std::sync::Weak<ConnState> {
        Arc::downgrade(&self.state)
    }

    fn arc(&self) -> Arc<Conn> {
        // `self` is borrowed from an `Arc<Conn>`, so the upgrade cannot fail.
        self.me.upgrade().unwrap_or_else(|| unreachable!("a live Conn is always in an Arc"))
    }

    /// Sends a request and returns the future of its response payload. The request is
    /// encoded and sent before this returns.
    pub(crate) fn start(&self, request: &Request<'_>) -> Result<PendingCall, Error> {
        let id = self.send(request)?;
        Ok(PendingCall { conn: self.arc(), id, finished: false })
    }

    /// Sends a request that expects a response; returns its id.
    fn send(&self, request: &Request<'_>) -> Result<RequestId, Error> {
        self.send_queued(|q, limit, id| q.frame(limit, |buf| request.encode(id, buf)))
    }

    /// Sends a request that expects a response, queued by `queue` under a fresh id, and
    /// returns its reply to come.
    ///
    /// On a blocking client's calling thread ([`DirectCalls`]) the reply is read right
    /// here when nobody else is reading: the request never enters the in-flight map and
    /// its future is ready at its first poll. Responses to other threads' calls that
    /// arrive first are routed to them on the way, as [`ConnState::read_until`] does.
    fn exchange(&self, queue: impl FnOnce(&mut OutQueue, usize, RequestId) -> Result<(), FrameError>) -> PendingReply {
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
    fn exchange_here(
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
            return PendingReply::failed(e);
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
                    Ok(false) => break Here::Wait,
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
                state.fail(reason);
                PendingReply::failed(state.closed().unwrap_or_else(|| state.lost("the connection failed")))
            }
        }
    }

    /// Sends a call; large arguments go to the socket as they are, not copied into the
    /// output buffer first.
    fn call_split_args(&self, object: ObjectId, method: MethodRef<'_>, args: SplitArgs) -> PendingReply {
        let request = Request::Call { object, method, args: &[] };
        let SplitArgs { head, body, trailer } = args;
        self.exchange(|q, limit, id| {
            let head = |buf: &mut Vec<u8>| {
                request.encode(id, buf);
                buf.extend_from_slice(&head);
            };
            q.frame_with_body(limit, head, body, &trailer)
        })
    }

    /// Sends `request` and returns its reply to come.
    fn call_request(&self, request: &Request<'_>) -> PendingReply {
        self.exchange(|q, limit, id| q.frame(limit, |buf| request.encode(id, buf)))
    }

    /// Registers a new request id and queues what `queue` writes for it.
    fn send_queued(
        &self,
        queue: impl FnOnce(&mut OutQueue, usize, RequestId) -> Result<(), FrameError>,
    ) -> Result<RequestId, Error> {
        let id = self.state.next_id();
        lock(&self.state.in_flight).register(id)?;
        if let Err(e) = self.state.send_queued(|q, limit| queue(q, limit, id)) {
            lock(&self.state.in_flight).forget(id);
            return Err(e);
        }
        Ok(id)
    }

    /// Polls for the response to request `id`: what both [`PendingCall`] and
    /// [`PendingReply`] wait with.
    fn poll_call(&self, id: RequestId, cx: &mut Context<'_>) -> Poll<Outcome> {
        let result = match lock(&self.state.in_flight).poll(id, cx) {
            Some(Poll::Pending) => {
                let state = Arc::as_ptr(&self.state) as usize;
                WAITING_ON.with(|w| w.set(state));
                return Poll::Pending;
            }
            Some(Poll::Ready(result)) => result,
            None => Err(self.state.closed().unwrap_or_else(|| self.state.lost("the response was lost"))),
        };
        if let Ok(payload) = &result {
            self.state.acknowledge(id, payload);
        }
        Poll::Ready(result)
    }

    /// Its caller stopped waiting for request `id` before the response came.
    fn abandon_call(&self, id: RequestId) {
        let forgotten = lock(&self.state.in_flight).forget(id);
        // Still on the server: cancel the work. Already answered with a transfer nobody
        // will receive: cancel makes the server put back what it took.
        let cancel = match forgotten {
            Forgotten::Waiting => true,
            Forgotten::Answered(payload) => payload.is_transfer(),
            Forgotten::Gone => false,
        };
        if cancel {
            self.state.send_unanswered(Request::Cancel { target: id });
        }
    }

    /// Sends a request and decodes its response, which must be of a non-error kind.
    pub(crate) async fn request<T>(
        &self,
        request: &Request<'_>,
        accept: impl FnOnce(Response<'_>) -> Option<T>,
    ) -> Result<T, Error> {
        let payload = self.start(request)?.await?;
        let (_, response) = Response::decode(payload.bytes()).map_err(|e| Error::Protocol(e.to_string()))?;
        let kind = response.kind();
        if let Response::Error(e) = response {
            return Err(Error::Remote(e));
        }
        accept(response).ok_or_else(|| Error::Protocol(format!("unexpected response kind {kind}")))
    }

    /// Releases a reference without waiting.
    pub(crate) fn release(&self, object: ObjectId) {
        self.state.send_unanswered(Request::Decref { object });
    }
}

impl Transport for Conn {
    fn call(&self, object: ObjectId, method: MethodRef<'_>, args: Vec<u8>) -> PendingReply {
        self.call_split(object, method, SplitArgs { body: args, ..SplitArgs::default() })
    }

    fn call_split(&self, object: ObjectId, method: MethodRef<'_>, args: SplitArgs) -> PendingReply {
        self.call_split_args(object, method, args)
    }

    fn call_bytes(&self, object: ObjectId, method: MethodRef<'_>, args: &[u8]) -> PendingReply {
        self.call_request(&Request::Call { object, method, args })
    }

    fn call_unanswered(&self, object: ObjectId, method: MethodRef<'_>, args: Vec<u8>) {
        self.state.send_unanswered(Request::Call { object, method, args: &args });
    }

    fn value_copy(&self, object: ObjectId) -> PendingReply {
        self.call_request(&Request::ValueCopy { object })
    }

    fn release(&self, object: ObjectId) {
        Conn::release(self, object);
    }

    fn address(&self) -> &Address {
        &self.state.address
    }

    fn server(&self) -> ServerId {
        self.state.server
    }
}

/// A request waiting for its response. Dropping it before the response arrives tells
/// the server to cancel the work (a blocked `get` takes nothing, a pending `acquire` is
/// withdrawn).
#[derive(Debug)]
pub(crate) struct PendingCall {
    conn: Arc<Conn>,
    id: RequestId,
    finished: bool,
}

impl Future for PendingCall {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        let result = std::task::ready!(self.conn.poll_call(self.id, cx));
        self.finished = true;
        Poll::Ready(result)
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        if !self.finished {
            self.conn.abandon_call(self.id);
        }
    }
}

impl ReplySource for Conn {
    fn poll_reply(&self, id: RequestId, cx: &mut Context<'_>) -> Poll<Result<Reply, Error>> {
        self.poll_call(id, cx).map(|outcome| outcome?.into_reply())
    }

    fn abandon(&self, id: RequestId) {
        self.abandon_call(id);
    }
}

/// Reads responses and hands them to their waiters; watches liveness.
async fn reader(state: Arc<ConnState>, keepalive: Duration) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + keepalive, keepalive);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ping_sent = false;
    let reason = loop {
        if !state.spin.is_zero() && !lock(&state.in_flight).is_empty() {
            // Low-latency mode: calls are waiting; read without sleeping for a while.
            match read_and_route(&state, |stream, buf| stream.spin_read(buf, state.spin)) {
                Read::Routed(woken) => {
                    ping_sent = false;
                    coalesce(&state, woken).await;
                    continue;
                }
                Read::Nothing | Read::Taken => {}
                Read::Failed(reason) => break reason,
            }
        }
        tokio::select! {
            () = state.closing.cancelled() => return,
            ready = std::future::poll_fn(|cx| state.stream.poll_readable(cx)) => {
                if let Err(e) = ready {
                    break format!("read failed: {e}");
                }
                match read_and_route(&state, |stream, buf| stream.try_read_buf(buf)) {
                    Read::Routed(woken) => {
                        ping_sent = false;
                        coalesce(&state, woken).await;
                    }
                    Read::Nothing => {}
                    Read::Taken => {
                        // A blocking client's calling thread is reading and routes what
                        // comes; wait until it lets go.
                        tokio::select! {
                            () = state.closing.cancelled() => return,
                            () = state.read_released.notified() => {}
                        }
                    }
                    Read::Failed(reason) => break reason,
                }
            }
            _ = ticker.tick() => {
                state.keep_alive();
                if state.heard.swap(false, Ordering::Relaxed) {
                    // Whoever read it (this task, or a calling thread reading for
                    // itself), the server spoke: a ping we sent was answered or is moot.
                    ping_sent = false;
                    continue;
                }
                if ping_sent {
                    break format!("no answer from the server for {:?}", keepalive * 2);
                }
                if !lock(&state.in_flight).is_empty() {
                    // Calls are waiting and the server has been quiet: make sure it is alive.
                    // A real id, so the server answers; nobody waits for it, but
                    // its arrival counts as hearing from the server.
                    let id = state.next_id();
                    let _ = state.send(|buf| Request::Ping.encode(id, buf));
                    ping_sent = true;
                }
            }
        }
    };
    state.fail(reason);
}

/// What one read by the reader task came to.
enum Read {
    /// Bytes came; this many responses went to their waiters.
    Routed(usize),
    /// No bytes now.
    Nothing,
    /// A calling thread holds the decoder (and reads the socket).
    Taken,
    /// The connection is over, for this reason.
    Failed(String),
}

/// Reads once with `read` (bytes read, 0 at the end of the stream) into the decoder and
/// routes what completed — unless a calling thread is reading.
fn read_and_route(state: &ConnState, read: impl FnOnce(&Stream, &mut Vec<u8>) -> io::Result<usize>) -> Read {
    let Some(mut decoder) = try_lock(&state.decoder) else {
        return Read::Taken;
    };
    match read_into(state, &mut decoder, read) {
        Ok(true) => route(state, &mut decoder).map_or_else(Read::Failed, Read::Routed),
        Ok(false) => Read::Nothing,
        Err(reason) => Read::Failed(reason),
    }
}

/// One read with `read` into `decoder`: `Ok(true)` when bytes came (the server was
/// heard), `Ok(false)` when none came (`WouldBlock`), `Err` with why the connection is
/// over. What every reader of the socket does with a read's answer.
fn read_into(
    state: &ConnState,
    decoder: &mut FrameDecoder,
    read: impl FnOnce(&Stream, &mut Vec<u8>) -> io::Result<usize>,
) -> Result<bool, String> {
    match read(&state.stream, decoder.buffer_mut()) {
        Ok(0) => Err("the server closed the connection".to_owned()),
        Ok(_) => {
            state.heard.store(true, Ordering::Relaxed);
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(format!("read failed: {e}")),
    }
}

/// Hands every complete response in `decoder` to its waiter; returns how many there
/// were.
fn route(state: &ConnState, decoder: &mut FrameDecoder) -> Result<usize, String> {
    route_except(state, decoder, None).map(|(routed, _)| routed)
}

/// [`route`], except that the response to `mine` (a call whose thread reads for itself,
/// not in the in-flight map) is returned instead.
fn route_except(
    state: &ConnState,
    decoder: &mut FrameDecoder,
    mine: Option<RequestId>,
) -> Result<(usize, Option<Payload>), String> {
    let mut routed = 0;
    let mut own = None;
    loop {
        let range = match decoder.next_range() {
            Ok(Some(range)) => range,
            Ok(None) => return Ok((routed, own)),
            Err(e) => return Err(format!("the server sent a bad frame: {e}")),
        };
        let (id, kind, body) = Response::peek_header(&decoder.bytes()[range.clone()])
            .map_err(|e| format!("the server sent a bad response: {e}"))?;
        // A large payload that ends the buffer takes the buffer along instead of being
        // copied out of it (a 1 MiB value is copied once less).
        let taken = if range.len() >= LARGE_PAYLOAD { decoder.take_buffer_if_last(&range) } else { None };
        let payload = match taken {
            Some(buf) => Payload::taken(buf, range.start, kind, body),
            None => Payload::copied(&decoder.bytes()[range], kind, body),
        };
        if Some(id) == mine {
            own = Some(payload);
            continue;
        }
        let waker = lock(&state.in_flight).complete(id, payload);
        if let Some(waker) = waker {
            waker.wake();
        }
        routed += 1;
    }
}

/// From this size on, a response payload that ends the receive buffer takes the buffer.
const LARGE_PAYLOAD: usize = 64 * 1024;

/// After the reader woke several callers at once (calls in flight), lets them run
/// first and writes the requests they send in one go: one write for a batch instead
/// of one per call. A single response is left alone: its caller writes at once, as a
/// sequential caller must.
async fn coalesce(state: &ConnState, woken: usize) {
    if woken < 2 {
        return;
    }
    lock(&state.out).coalescing = true;
    // The woken callers are queued ahead of us: they run, and append, now.
    tokio::task::yield_now().await;
    let mut out = lock(&state.out);
    out.coalescing = false;
    if out.queued() {
        // A failure is recorded in the state and reaches every caller.
        let _ = state.write_out(out);
    }
}

/// Finishes writes the callers could not complete.
async fn writer(state: Arc<ConnState>) {
    loop {
        tokio::select! {
            () = state.closing.cancelled() => return,
            () = state.wake_writer.notified() => {}
        }
        loop {
            if state.closed().is_some() {
                return;
            }
            let result = {
                let mut out = lock(&state.out);
                if out.pending() == 0 {
                    break;
                }
                state.stream.write_queued(&out.q).map(|n| out.q.advance(n))
            };
            match result {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(e) = state.stream.writable().await {
                        state.fail(format!("write failed: {e}"));
                        return;
                    }
                }
                Err(e) => {
                    state.fail(format!("write failed: {e}"));
                    return;
                }
            }
        }
    }
}

/// How long the client polls for each handshake message before it sleeps, giving the
/// CPU to any other runnable thread between tries. A sleeping thread woken from another
/// core costs tens of microseconds on a VM, and a handshake waits twice: polling cut
/// unpinned connects over unix by about a third here (95–115 to 53–81 µs). A
/// connection does this once, so the price is at most twice this much CPU per connect;
/// on a shared core the yields let the server run, and pinned connects were unchanged.
const HANDSHAKE_SPIN: Duration = Duration::from_micros(200);

async fn authenticate(
    stream: &Stream,
    address: &Address,
    authkey: &AuthKey,
    decoder: &mut FrameDecoder,
) -> Result<ServerId, Error> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| Error::Io(Arc::new(io::Error::other(e.to_string()))))?;
    let (mut hs, hello) = ClientHandshake::new(authkey, nonce, VersionRange::CURRENT);
    let lost = |e: io::Error| Error::ConnectionLost {
        address: address.to_string(),
        reason: format!("during the handshake: {e}"),
    };
    // A server that refuses us (at its connection limit, say) may close before our hello
    // arrives: the write then fails, but its refusal can still be waiting to be read.
    let mut write_failed = write_frame(stream, &hello).await.err();
    loop {
        let msg = loop {
            if let Some(f) = decoder.next_frame().map_err(|e| Error::Handshake {
                address: address.to_string(),
                source: HandshakeError::NotAManager(e.to_string()),
            })? {
                break f.to_vec();
            }
            let read = match stream.yielding_read(decoder.buffer_mut(), HANDSHAKE_SPIN) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.read_some(decoder.buffer_mut()).await,
                other => other,
            };
            match read {
                Ok(0) => return Err(lost(write_failed.take().unwrap_or(io::ErrorKind::UnexpectedEof.into()))),
                Ok(_) => {}
                Err(e) => return Err(lost(write_failed.take().unwrap_or(e))),
            }
        };
        match hs.receive(&msg) {
            Ok(step) => {
                if let Some(reply) = step.reply {
                    write_frame(stream, &reply).await.map_err(lost)?;
                }
                if let Some(established) = step.established {
                    return Ok(established.server);
                }
            }
            Err(failure) => {
                return Err(match failure.error {
                    HandshakeError::Authentication => Error::Authentication { address: address.to_string() },
                    source => Error::Handshake { address: address.to_string(), source },
                });
            }
        }
    }
}

async fn write_frame(stream: &Stream, payload: &[u8]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(payload.len() + frame::HEADER_LEN);
    frame::encode_frame(payload, &mut buf, usize::MAX).map_err(io::Error::other)?;
    stream.write_all(&buf).await
}
