//! Streams: a call whose answer is a sequence, both ends of it.
//!
//! The client opens a stream with `Request::Open`, whose id names it; the server keeps
//! a cursor for it ([`ItemSource`]) and answers with `Items` batches, then `End` (or an
//! `Error`, which may come after some items). Flow control is by credit, in bytes of
//! items: the server sends while it has credit (a batch may overrun it by one item) and
//! stops; the client grants more (`Request::Credit`) as its consumer takes items, so a
//! slow reader holds at most a window of items and the server buffers nothing for it.
//! Dropping the client's stream sends `Cancel` with the stream's id; the server drops
//! the cursor. A connection's end drops all of its cursors.
//!
//! [`RemoteStream`] is the client's end, typed; [`RawStream`] its untyped core, what a
//! [`Transport`](crate::Transport) opens; [`BatchSource`] what a transport implements
//! to deliver batches. [`ItemSource`] is the server's end; [`iter_source`] and
//! [`stream_source`] make one from an iterator or a `Stream` of serializable items.
//! A blocking proxy reads a stream as an iterator:
//! [`BlockingStream`](crate::blocking::BlockingStream).

use crate::reply::Reply;
use crate::{Error, RemoteError, RemoteErrorKind, RequestId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pub use futures_core::Stream;

/// The most items (in bytes) a client holds unread: its credit window once the stream
/// is going. It grants more each time its consumer has taken half of its window.
pub const WINDOW: u32 = 256 * 1024;

/// The credit a client opens a stream with: its first window, doubled with each grant
/// up to [`WINDOW`]. Small, so that a stream read for its first items only (or dropped
/// early) does not have the server make and send a whole window first: the server
/// writes what the credit allows back to back, and the first item is read only once
/// the client has read what arrived before it.
pub const FIRST_WINDOW: u32 = 1024;

/// The most bytes of items a server puts in one batch (one more item may overrun it).
pub const MAX_BATCH: usize = 64 * 1024;

// ---------------------------------------------------------------------------------
// The server's end.

/// What a producer appended to a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batch {
    /// This many items (at least one).
    Items(u32),
    /// No more items; nothing was appended.
    End,
}

/// The server's end of a stream: produces encoded items in batches.
pub trait ItemSource: Send + 'static {
    /// Appends encoded items to `out` until it holds at least `budget` bytes or no item
    /// is ready, and says how many it appended. Returns `Pending` (having appended
    /// nothing, and arranged for `cx` to be woken) when no item is ready yet, `End`
    /// when there will be no more, and an error for a failure mid-stream (the stream's
    /// last answer).
    fn poll_batch(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<u8>,
        budget: usize,
    ) -> Poll<Result<Batch, RemoteError>>;
}

/// A stream's producer, boxed.
pub type BoxSource = Box<dyn ItemSource>;

/// Encodes `item` onto `out`; an item that does not encode ends the stream with an
/// error naming `what`.
pub fn encode_item<T: Serialize + ?Sized>(item: &T, out: &mut Vec<u8>, what: &str) -> Result<(), RemoteError> {
    let start = out.len();
    match postcard::to_extend(item, std::mem::take(out)) {
        Ok(v) => {
            *out = v;
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(RemoteError::new(RemoteErrorKind::Decode, format!("{what} did not encode: {e}")))
        }
    }
}

/// The producer of an iterator's items: batches of at most `budget` bytes, never
/// pending. `what` names the items in an encoding error.
pub fn iter_source<I>(iter: I, what: &'static str) -> BoxSource
where
    I: Iterator + Send + 'static,
    I::Item: Serialize,
{
    stream_source(IterStream(Box::new(iter)), what)
}

/// An iterator as a `Stream` that is never pending (boxed, so it need not be `Unpin`).
struct IterStream<I>(Box<I>);

impl<I: Iterator> Stream for IterStream<I> {
    type Item = I::Item;

    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<I::Item>> {
        Poll::Ready(self.get_mut().0.next())
    }
}

/// Runs `f`, one step of a producer of `what`; a panic becomes the `Panicked` error
/// that ends the stream (the producer is not polled again).
fn step<R>(what: &str, f: impl FnOnce() -> R) -> Result<R, RemoteError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        RemoteError::new(RemoteErrorKind::Panicked, format!("producing {what} panicked: {msg}"))
    })
}

/// The producer of an async `Stream`'s items: a batch holds what is ready, up to
/// `budget` bytes.
pub fn stream_source<S>(stream: S, what: &'static str) -> BoxSource
where
    S: Stream + Send + 'static,
    S::Item: Serialize,
{
    Box::new(AsyncSource { stream: Box::pin(stream), what, failed: None })
}

struct AsyncSource<S> {
    stream: Pin<Box<S>>,
    what: &'static str,
    /// A panic of the stream's, told after the items before it went out.
    failed: Option<RemoteError>,
}

impl<S> ItemSource for AsyncSource<S>
where
    S: Stream + Send + 'static,
    S::Item: Serialize,
{
    fn poll_batch(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<u8>,
        budget: usize,
    ) -> Poll<Result<Batch, RemoteError>> {
        if let Some(e) = self.failed.take() {
            return Poll::Ready(Err(e));
        }
        let mut count = 0u32;
        let mut ended = false;
        while out.len() < budget && count < u32::MAX {
            let polled = match step(self.what, || self.stream.as_mut().poll_next(cx)) {
                Ok(polled) => polled,
                Err(e) if count > 0 => {
                    self.failed = Some(e);
                    break;
                }
                Err(e) => return Poll::Ready(Err(e)),
            };
            match polled {
                Poll::Ready(Some(item)) => {
                    if let Err(e) = encode_item(&item, out, self.what) {
                        return Poll::Ready(Err(e));
                    }
                    count += 1;
                }
                Poll::Ready(None) => {
                    ended = true;
                    break;
                }
                Poll::Pending => break,
            }
        }
        match count {
            0 if ended => Poll::Ready(Ok(Batch::End)),
            0 => Poll::Pending,
            n => Poll::Ready(Ok(Batch::Items(n))),
        }
    }
}

// ---------------------------------------------------------------------------------
// The client's end.

/// A batch as the client received it: `count` items, encoded one after the other in
/// `items.bytes()`.
#[derive(Debug)]
pub struct ItemBatch {
    /// How many items.
    pub count: u32,
    /// Their encodings.
    pub items: Reply,
}

/// Where a transport's stream batches arrive: what a [`RawStream`] reads from.
pub trait BatchSource: Send + Sync + 'static {
    /// The next batch of stream `id`: `None` once it ended, an error as its last
    /// answer (mid-stream failures and a lost connection alike).
    fn poll_batch(&self, id: RequestId, cx: &mut Context<'_>) -> Poll<Option<Result<ItemBatch, Error>>>;

    /// The consumer took `bytes` of stream `id`'s items: tell the server it may send
    /// that many more (fire and forget).
    fn credit(&self, id: RequestId, bytes: u32);

    /// The consumer dropped stream `id` before it ended: close it on the server (fire
    /// and forget).
    fn close(&self, id: RequestId);
}

/// A stream's untyped client end: batches from a [`BatchSource`], items handed out one
/// at a time as their bytes, credit granted back as they are consumed.
pub struct RawStream {
    state: State,
    /// What the stream reads (the object's handle), kept alive while it runs.
    _keep: Option<Box<dyn std::any::Any + Send + Sync>>,
}

enum State {
    Open {
        source: Arc<dyn BatchSource>,
        id: RequestId,
        /// The batch being read, where its next item starts, and how many are left.
        batch: Option<(Reply, usize, u32)>,
        /// Bytes consumed since credit was last granted.
        consumed: usize,
        /// The credit window: [`FIRST_WINDOW`], doubling up to [`WINDOW`].
        window: u32,
    },
    /// Failed before it was opened: the error, until it is taken.
    Failed(Option<Error>),
    Done,
}

impl RawStream {
    /// Stream `id`, whose batches `source` delivers.
    pub fn open(source: Arc<dyn BatchSource>, id: RequestId) -> Self {
        RawStream { state: State::Open { source, id, batch: None, consumed: 0, window: FIRST_WINDOW }, _keep: None }
    }

    /// A stream that failed to open: it yields `error`, then ends.
    pub fn failed(error: Error) -> Self {
        RawStream { state: State::Failed(Some(error)), _keep: None }
    }

    /// Keeps `keep` (the handle of the object the stream reads) alive while the
    /// stream runs.
    pub fn holding(mut self, keep: impl Send + Sync + 'static) -> Self {
        self._keep = Some(Box::new(keep));
        self
    }

    /// The next item, decoded by `decode` from the front of the bytes left in its
    /// batch (it returns the item and how many bytes it read). An error ends the stream.
    pub fn poll_item<T>(
        &mut self,
        cx: &mut Context<'_>,
        decode: impl FnOnce(&[u8]) -> Result<(T, usize), Error>,
    ) -> Poll<Option<Result<T, Error>>> {
        loop {
            let State::Open { source, id, batch, consumed, window } = &mut self.state else {
                return match std::mem::replace(&mut self.state, State::Done) {
                    State::Failed(Some(e)) => Poll::Ready(Some(Err(e))),
                    _ => Poll::Ready(None),
                };
            };
            if let Some((reply, at, left)) = batch {
                let bytes = reply.bytes().get(*at..).unwrap_or_default();
                let (item, used) = match decode(bytes) {
                    Ok((_, used)) if used > bytes.len() => {
                        self.finish();
                        return Poll::Ready(Some(Err(Error::Protocol("a stream item overran its batch".into()))));
                    }
                    Ok(ok) => ok,
                    Err(e) => {
                        self.finish();
                        return Poll::Ready(Some(Err(e)));
                    }
                };
                *at += used;
                *left -= 1;
                if *left == 0 {
                    *consumed += reply.bytes().len();
                    *batch = None;
                    if *consumed >= (*window / 2) as usize {
                        // What was taken, and the window's growth.
                        let grow = (*window).min(WINDOW.saturating_sub(*window));
                        *window += grow;
                        let bytes = u32::try_from(*consumed).unwrap_or(u32::MAX).saturating_add(grow);
                        source.credit(*id, bytes);
                        *consumed = 0;
                    }
                }
                return Poll::Ready(Some(Ok(item)));
            }
            match std::task::ready!(source.poll_batch(*id, cx)) {
                Some(Ok(b)) if b.count > 0 => *batch = Some((b.items, 0, b.count)),
                Some(Ok(b)) => *consumed += b.items.bytes().len(),
                Some(Err(e)) => {
                    self.state = State::Done;
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    self.state = State::Done;
                    return Poll::Ready(None);
                }
            }
        }
    }

    /// Closes the stream on the server if it is still open.
    fn finish(&mut self) {
        if let State::Open { source, id, .. } = std::mem::replace(&mut self.state, State::Done) {
            source.close(id);
        }
    }
}

impl Drop for RawStream {
    fn drop(&mut self) {
        self.finish();
    }
}

impl fmt::Debug for RawStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            State::Open { id, .. } => write!(f, "RawStream(open, id {id})"),
            State::Failed(_) => f.write_str("RawStream(failed)"),
            State::Done => f.write_str("RawStream(done)"),
        }
    }
}

/// A stream of `T`s from the server: an iterator method's items, a live iteration, a
/// watch's events. Read it with [`next`](RemoteStream::next) or as a
/// [`Stream`] of `Result<T, Error>`; an error is its last item.
/// Dropping it before its end closes it on the server.
pub struct RemoteStream<T> {
    raw: RawStream,
    what: &'static str,
    _item: PhantomData<fn() -> T>,
}

impl<T> RemoteStream<T> {
    /// Types a raw stream whose items are `T`s; `what` names them in a decoding error.
    pub fn new(raw: RawStream, what: &'static str) -> Self {
        RemoteStream { raw, what, _item: PhantomData }
    }
}

impl<T: DeserializeOwned> RemoteStream<T> {
    /// The next item, `None` at the end.
    pub async fn next(&mut self) -> Option<Result<T, Error>> {
        std::future::poll_fn(|cx| self.poll_item(cx)).await
    }

    /// Polls for the next item.
    pub fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, Error>>> {
        let what = self.what;
        self.raw.poll_item(cx, |bytes| {
            let (item, rest) = postcard::take_from_bytes::<T>(bytes)
                .map_err(|e| Error::Decode { what: what.to_owned(), reason: e.to_string() })?;
            Ok((item, bytes.len() - rest.len()))
        })
    }

    /// Every remaining item, collected (stopping at the first error).
    pub async fn collect_all(mut self) -> Result<Vec<T>, Error> {
        let mut out = Vec::new();
        while let Some(item) = self.next().await {
            out.push(item?);
        }
        Ok(out)
    }
}

impl<T: DeserializeOwned> Stream for RemoteStream<T> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_item(cx)
    }
}

impl<T> Unpin for RemoteStream<T> {}

impl<T> fmt::Debug for RemoteStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RemoteStream").field(&self.raw).finish()
    }
}
