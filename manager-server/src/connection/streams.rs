//! The streams a connection opened: producers polled for batches by this connection's
//! task while their client has room (credit, in bytes of items), one batch at a time
//! per stream, so a stream's items go out in order and a slow reader makes the server
//! buffer nothing. A `Cancel` with a stream's id, or the connection's end, drops its
//! producer (a watch's subscription, an iteration's cursor) at once.

use futures_util::FutureExt;
use futures_util::future::{AbortHandle, Abortable};
use manager_proto::stream::{Batch, MAX_BATCH};
use manager_proto::watch::WATCH_METHOD;
use manager_proto::{MethodRef, NO_RESPONSE, ObjectId, RemoteError, RemoteErrorKind, RequestId, Response};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;

use super::parked::{catch_panic, panicked};
use super::{Connection, OpenStream, Pumped};

/// The most credit a stream may hold: more than any client asks for, and far from
/// overflowing the counter.
const MAX_CREDIT: i64 = 1 << 40;

/// The most bytes of a stream's first batch: a few dozen small items, made and read in
/// a microsecond or two, so the first item costs about one round trip even when the
/// server and the reader share one core (a 2 KiB first batch, and the second the
/// credit allowed at once, cost 2.3 round trips there); batches then double.
const FIRST_BATCH: usize = 256;

/// The most an `Items` response's header takes: its id, kind and count.
const ITEMS_HEADER: usize = 32;

impl Connection {
    /// `Open`: opens stream method `method` of `object` as stream `id`.
    pub(super) fn open_stream(
        &mut self,
        id: RequestId,
        object: ObjectId,
        method: MethodRef<'_>,
        credit: u32,
        args: &[u8],
    ) {
        if let Err(e) = self.try_open(id, object, method, credit, args) {
            self.warn_if_limit(&e);
            self.respond(id, Response::Error(e));
        }
    }

    fn try_open(
        &mut self,
        id: RequestId,
        object: ObjectId,
        method: MethodRef<'_>,
        credit: u32,
        args: &[u8],
    ) -> Result<(), RemoteError> {
        if id == NO_RESPONSE {
            return Err(RemoteError::new(RemoteErrorKind::Protocol, "a stream needs a request id to be answered with"));
        }
        let limit = self.shared.config.max_in_flight;
        if self.streams.len() >= limit && !self.streams.contains_key(&id) {
            return Err(RemoteError::new(
                RemoteErrorKind::LimitExceeded,
                format!("this connection has {limit} streams open, the most it may"),
            ));
        }
        let target = self.held(object)?;
        let ctx = &self.ctx;
        let source = catch_panic(|| Arc::clone(&target).open(ctx, method, args)).unwrap_or_else(|what| {
            let what = format!("opening {} {what}", target.describe(method));
            tracing::warn!(peer = %self.peer, "{what}");
            Err(panicked(what))
        })?;
        // A client reusing the id of a live stream: the older one can no longer be told
        // apart, so it ends.
        self.close_stream(id);
        self.shared.stats.streams.fetch_add(1, Ordering::Relaxed);
        let watch = match method {
            MethodRef::Id(mid) => mid == manager_proto::method_id(WATCH_METHOD),
            MethodRef::Name(name) => name == WATCH_METHOD,
        };
        let stream =
            OpenStream { source: Some(source), credit: i64::from(credit), pump: None, batch: FIRST_BATCH, watch };
        self.streams.insert(id, stream);
        self.pump(id);
        Ok(())
    }

    /// `Credit`: the client made room for `bytes` more of stream `id`'s items.
    pub(super) fn credit_stream(&mut self, id: RequestId, bytes: u32) {
        if let Some(stream) = self.streams.get_mut(&id) {
            stream.credit = (stream.credit + i64::from(bytes)).min(MAX_CREDIT);
            self.pump(id);
        }
    }

    /// Closes stream `id` (a `Cancel`): its producer is dropped now, or, while a batch is
    /// being made, when its pump is aborted. Whether there was such a stream.
    pub(super) fn close_stream(&mut self, id: RequestId) -> bool {
        let Some(stream) = self.streams.remove(&id) else {
            return false;
        };
        if let Some(pump) = stream.pump {
            pump.abort();
        }
        self.shared.stats.streams.fetch_sub(1, Ordering::Relaxed);
        true
    }

    /// Closes every stream (the connection's end).
    pub(super) fn close_streams(&mut self) {
        let ids: Vec<RequestId> = self.streams.keys().copied().collect();
        for id in ids {
            self.close_stream(id);
        }
        self.pumps = Default::default();
    }

    /// Starts making stream `id`'s next batch, if it has credit and none is being made.
    fn pump(&mut self, id: RequestId) {
        let Some(stream) = self.streams.get_mut(&id) else { return };
        if stream.credit <= 0 {
            return;
        }
        let Some(source) = stream.source.take() else { return };
        let mut source = Some(source);
        // At most half a frame: a batch may overrun its budget by one item, and must still
        // fit in one frame unless that item alone is too large for half of one.
        let half_frame = (self.shared.config.max_frame / 2).saturating_sub(ITEMS_HEADER).max(1);
        let budget = usize::try_from(stream.credit).unwrap_or(MAX_BATCH).min(stream.batch).min(half_frame);
        stream.batch = stream.batch.saturating_mul(2).min(MAX_BATCH);
        let (handle, registration) = AbortHandle::new_pair();
        stream.pump = Some(handle);
        let mut buf = Vec::new();
        let batch = std::future::poll_fn(move |cx| {
            let Some(producer) = source.as_mut() else {
                return Poll::Ready((
                    None,
                    Vec::new(),
                    Err(panicked("a stream's pump was polled after it finished".into())),
                ));
            };
            let polled = std::panic::catch_unwind(AssertUnwindSafe(|| producer.poll_batch(cx, &mut buf, budget)));
            match polled {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(result)) => Poll::Ready((source.take(), std::mem::take(&mut buf), result)),
                Err(payload) => {
                    let what = super::parked::panic_message(&*payload);
                    Poll::Ready((None, Vec::new(), Err(panicked(format!("a stream's producer {what}")))))
                }
            }
        });
        let pump = Abortable::new(batch, registration).map(move |r| (id, r.ok()));
        self.pumps.push(Box::pin(pump));
    }

    /// A pump finished: send its batch and go on, or end the stream.
    pub(super) fn pumped(&mut self, id: RequestId, pumped: Option<Pumped>) {
        // Aborted: the stream was closed, its producer dropped with the pump.
        let Some((source, buf, result)) = pumped else { return };
        // References the batch's proxies took belong to the connection now.
        self.merge_adopted();
        let Some(stream) = self.streams.get_mut(&id) else { return };
        stream.pump = None;
        match (source, result) {
            (Some(source), Ok(Batch::Items(count))) => {
                stream.credit -= i64::try_from(buf.len()).unwrap_or(MAX_CREDIT);
                stream.source = Some(source);
                let queued = self.out.frame(self.shared.config.max_frame, |out| {
                    Response::encode_items_header(id, count, out);
                    out.extend_from_slice(&buf);
                });
                if queued.is_err() {
                    // An item larger than half a frame: the stream cannot go on.
                    self.close_stream(id);
                    let limit = self.shared.config.max_frame;
                    let e = RemoteError::new(
                        RemoteErrorKind::LimitExceeded,
                        format!(
                            "a stream's item did not fit in a frame (the limit is {limit} bytes; an item may take half)"
                        ),
                    );
                    self.warn_if_limit(&e);
                    self.respond(id, Response::Error(e));
                    return;
                }
                self.pump(id);
            }
            (_, Ok(_)) => {
                self.close_stream(id);
                self.respond(id, Response::End);
            }
            (_, Err(e)) => {
                self.close_stream(id);
                self.respond(id, Response::Error(e));
            }
        }
    }
}
