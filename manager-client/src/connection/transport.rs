//! Calls as proxies make them: opening a connection, sending requests under fresh ids,
//! polling for their responses, cancelling the abandoned ones; the protocol's
//! `Transport` and `ReplySource` for generated and built-in proxies.

use manager_proto::frame::{FrameDecoder, FrameError};
use manager_proto::outq::OutQueue;
use manager_proto::proxy::{CallArgs, SplitArgs};
use manager_proto::session::SessionRequest;
use manager_proto::stream::{self, BatchSource, ItemBatch, RawStream};
use manager_proto::{
    Address, AuthKey, Error, MethodRef, ObjectId, PendingReply, Reply, ReplySource, Request, RequestId, Response,
    ServerId, Transport,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::reader::reader;
use super::writer::writer;
use super::{Conn, ConnState, Output, lock};
use crate::ClientOptions;
use crate::handshake::open;
use crate::in_flight::{Forgotten, InFlight, Outcome};
use crate::session;

impl Conn {
    /// Opens, authenticates and starts a connection.
    pub(crate) async fn open(address: Address, authkey: AuthKey, options: &ClientOptions) -> Result<Arc<Conn>, Error> {
        let (stream, mut decoder, server, session) = match options.reconnect {
            None => {
                let ask = options.shared_memory.then_some(SessionRequest::SharedMemory);
                let opened = open(&address, &authkey, options.tls.as_ref(), options.connect_timeout, ask, &[]).await?;
                (opened.stream, opened.decoder, opened.server, None)
            }
            Some(_) if options.shared_memory => {
                return Err(Error::Config(
                    "ClientOptions::shared_memory and ClientOptions::reconnect cannot be combined: a session's \
                     relay speaks over a socket"
                        .into(),
                ));
            }
            Some(policy) => {
                let params = session::Params {
                    address: address.clone(),
                    authkey: authkey.clone(),
                    tls: options.tls.clone(),
                    policy,
                    keepalive: options.keepalive,
                    connect_timeout: options.connect_timeout,
                };
                let started = session::start(params).await?;
                let decoder = FrameDecoder::new(options.max_frame);
                (started.inner, decoder, started.server, Some(started.status))
            }
        };
        decoder.set_limit(options.max_frame);
        let over_rings = stream.over_rings();
        let state = Arc::new(ConnState {
            address,
            server,
            stream,
            out: Mutex::new(Output::default()),
            wake_writer: Notify::new(),
            in_flight: Mutex::new(InFlight::default()),
            next_id: AtomicU64::new(1),
            max_frame: options.max_frame,
            closing: CancellationToken::new(),
            heard: AtomicBool::new(false),
            liveness: super::liveness::Liveness::new(options.keepalive),
            sent: AtomicBool::new(false),
            decoder: Mutex::new(decoder),
            read_released: Notify::new(),
            spin: options.spin,
            // Over rings the ring link polls by itself (see `rings.rs`).
            poll: (options.spin.is_zero() && !options.adaptive_poll.is_zero() && !over_rings && several_cores())
                .then(|| Mutex::new(manager_proto::ring::AdaptiveSpin::new(options.adaptive_poll))),
            server_shut_down: AtomicBool::new(false),
            session,
        });
        tokio::spawn(reader(Arc::clone(&state)));
        tokio::spawn(writer(Arc::clone(&state)));
        Ok(Arc::new_cyclic(|me| Conn { state, me: me.clone() }))
    }

    /// Whether the connection ended (lost, or the server shut down).
    pub(crate) fn is_over(&self) -> bool {
        self.state.closed().is_some()
    }

    /// Why the connection ended, if it did.
    pub(crate) fn ended(&self) -> Option<Error> {
        self.state.closed()
    }

    pub(crate) fn address(&self) -> &Address {
        &self.state.address
    }

    pub(crate) fn server(&self) -> ServerId {
        self.state.server
    }

    /// The shared state, for a keepalive thread that must not keep the connection
    /// open by itself.
    pub(crate) fn state(&self) -> std::sync::Weak<ConnState> {
        Arc::downgrade(&self.state)
    }

    pub(super) fn arc(&self) -> Arc<Conn> {
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
    pub(super) fn send_queued(
        &self,
        queue: impl FnOnce(&mut OutQueue, usize, RequestId) -> Result<(), FrameError>,
    ) -> Result<RequestId, Error> {
        self.send_registered(InFlight::register, queue)
    }

    /// [`send_queued`](Self::send_queued), registering the id with `register`.
    fn send_registered(
        &self,
        register: impl FnOnce(&mut InFlight, RequestId) -> Result<(), Error>,
        queue: impl FnOnce(&mut OutQueue, usize, RequestId) -> Result<(), FrameError>,
    ) -> Result<RequestId, Error> {
        let id = self.state.next_id();
        register(&mut lock(&self.state.in_flight), id)?;
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
                self.state.note_awaited();
                return Poll::Pending;
            }
            Some(Poll::Ready(result)) => result,
            None => Err(self.state.closed().unwrap_or_else(|| {
                Error::Protocol(format!("the response to request {id} was lost: no call waits for it"))
            })),
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
    fn call(&self, object: ObjectId, method: MethodRef<'_>, args: CallArgs<'_>) -> PendingReply {
        match args {
            CallArgs::Borrowed(args) => self.call_request(&Request::Call { object, method, args }),
            CallArgs::Split(args) => self.call_split_args(object, method, args),
        }
    }

    fn call_unanswered(&self, object: ObjectId, method: MethodRef<'_>, args: Vec<u8>) {
        self.state.send_unanswered(Request::Call { object, method, args: &args });
    }

    fn open(&self, object: ObjectId, method: MethodRef<'_>, args: CallArgs<'_>) -> RawStream {
        let joined;
        let args = match args {
            CallArgs::Borrowed(args) => args,
            CallArgs::Split(split) => {
                joined = split.join();
                &joined[..]
            }
        };
        let request = Request::Open { object, method, credit: stream::FIRST_WINDOW, args };
        match self
            .send_registered(InFlight::register_stream, |q, limit, id| q.frame(limit, |buf| request.encode(id, buf)))
        {
            Ok(id) => RawStream::open(self.arc(), id),
            Err(e) => RawStream::failed(e),
        }
    }

    fn value_copy(&self, object: ObjectId) -> PendingReply {
        self.call_request(&Request::ValueCopy { object })
    }

    fn release(&self, object: ObjectId) {
        Conn::release(self, object);
    }

    fn lease(&self, object: ObjectId) {
        // The same output queue as releases: a Decref queued after it goes after it.
        self.state.send_unanswered(Request::Lease { object });
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

impl BatchSource for Conn {
    fn poll_batch(&self, id: RequestId, cx: &mut Context<'_>) -> Poll<Option<Result<ItemBatch, Error>>> {
        let polled = lock(&self.state.in_flight).poll_stream(id, cx);
        match polled {
            Poll::Pending => {
                self.state.note_awaited();
                Poll::Pending
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(outcome)) => Poll::Ready(outcome.and_then(|p| p.into_batch()).transpose()),
        }
    }

    fn credit(&self, id: RequestId, bytes: u32) {
        self.state.send_unanswered(Request::Credit { target: id, bytes });
    }

    fn close(&self, id: RequestId) {
        if lock(&self.state.in_flight).forget_stream(id) {
            self.state.send_unanswered(Request::Cancel { target: id });
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

/// Whether this process may run on more than one core (its affinity mask and the
/// machine), asked once: polling for the server pays only when it runs meanwhile.
fn several_cores() -> bool {
    static SEVERAL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SEVERAL.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1))
}
