//! Requests waiting for their responses, by id; and the reason the connection ended,
//! once it has, so later calls fail fast with it.

use manager_proto::stream::ItemBatch;
use manager_proto::{Error, RequestId, Response};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::task::{Context, Poll, Waker};

/// Request ids are our own counter, never a peer's choice: a multiplicative hash spreads
/// them well at a fraction of SipHash's cost (the map is touched twice per call). Kept
/// instead of foldhash's fast hasher, which cost the 64-in-flight row 4–8% (1,561k and
/// 1,626k calls/s against 1,692k and 1,702k, unix, pinned, A/B in one session).
#[derive(Debug, Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdHashBuilder = BuildHasherDefault<IdHasher>;

/// A response payload, or why none will come.
pub(crate) type Outcome = Result<Payload, Error>;

/// A response payload. Small ones are copied out of the receive buffer into the
/// payload itself (no allocation per call); a large one that ends the buffer takes the
/// buffer (no copy).
#[derive(Debug)]
pub(crate) struct Payload {
    data: Data,
    /// The response's kind and where its body starts in [`bytes`](Self::bytes), read
    /// once when it was routed.
    kind: u32,
    body: usize,
}

/// Not a `SmallVec`, for the reason `manager_proto::Reply`'s storage is not: the heap
/// case is a receive buffer taken whole with the payload at an offset in it.
#[derive(Debug)]
enum Data {
    /// `buf[start..]`.
    Heap { buf: Vec<u8>, start: usize },
    /// `bytes[..len]`.
    Inline { len: u8, bytes: [u8; INLINE] },
}

/// The largest payload held inline: a response header and a small value.
const INLINE: usize = 56;

impl Payload {
    /// A copy of `bytes`, a response of `kind` whose body starts at `body`.
    pub(crate) fn copied(bytes: &[u8], kind: u32, body: usize) -> Self {
        let data = match u8::try_from(bytes.len()) {
            Ok(len) if bytes.len() <= INLINE => {
                let mut inline = [0; INLINE];
                inline[..bytes.len()].copy_from_slice(bytes);
                Data::Inline { len, bytes: inline }
            }
            _ => Data::Heap { buf: bytes.to_vec(), start: 0 },
        };
        Payload { data, kind, body }
    }

    /// `buf[start..]`, taken whole, a response of `kind` whose body starts at
    /// `start + body`.
    pub(crate) fn taken(buf: Vec<u8>, start: usize, kind: u32, body: usize) -> Self {
        Payload { data: Data::Heap { buf, start }, kind, body }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        match &self.data {
            Data::Heap { buf, start } => buf.get(*start..).unwrap_or_default(),
            Data::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
        }
    }

    /// A stream's response: `Ok(Some)` a batch of items (kept where they lie), `Ok(None)`
    /// its end, `Err` its failure.
    pub(crate) fn into_batch(self) -> Result<Option<ItemBatch>, Error> {
        let bytes = self.bytes();
        match Response::decode(bytes) {
            Ok((_, Response::Items { count, items })) => {
                let at = bytes.len() - items.len();
                let items = match self.data {
                    Data::Heap { buf, start } => manager_proto::Reply::new(buf, start + at),
                    Data::Inline { .. } => manager_proto::Reply::copy_of(items),
                };
                Ok(Some(ItemBatch { count, items }))
            }
            Ok((_, Response::End)) => Ok(None),
            Ok((_, Response::Error(e))) => Err(Error::Remote(e)),
            Ok((_, other)) => {
                Err(Error::Protocol(format!("a stream was answered with a response of kind {}", other.kind())))
            }
            Err(e) => Err(Error::Protocol(e.to_string())),
        }
    }

    /// Whether the response hands over something the server can take back (a queue
    /// item, a lock) until we acknowledge it.
    pub(crate) fn is_transfer(&self) -> bool {
        use manager_proto::response::kind;
        self.kind == kind::TRANSFER || self.kind == kind::GRANT
    }

    /// Whether what it hands over is held by the connection (a lock, a permit), so the
    /// acknowledgement may wait for the next request.
    pub(crate) fn is_grant(&self) -> bool {
        self.kind == manager_proto::response::kind::GRANT
    }

    /// The reply to a call: a value or a transfer straight from the header read at
    /// routing, anything else decoded (an error becomes `Err`).
    pub(crate) fn into_reply(self) -> Result<manager_proto::Reply, Error> {
        use manager_proto::response::kind;
        let value = self.kind == kind::VALUE || self.kind == kind::TRANSFER || self.kind == kind::GRANT;
        match self.data {
            Data::Heap { buf, start } if value => Ok(manager_proto::Reply::new(buf, start + self.body)),
            Data::Heap { buf, start } => manager_proto::Reply::from_payload_at(buf, start),
            Data::Inline { len, bytes } => {
                let payload = bytes.get(..usize::from(len)).unwrap_or_default();
                if value {
                    Ok(manager_proto::Reply::copy_of(payload.get(self.body..).unwrap_or_default()))
                } else {
                    manager_proto::Reply::from_payload(payload.to_vec())
                }
            }
        }
    }
}

/// Where a request stands. The slot lives in the map itself (no channel per call): the
/// reader fills it and wakes the caller, whose poll takes it out.
#[derive(Debug)]
enum Slot {
    /// No response yet; the waker of the caller's last poll.
    Waiting(Option<Waker>),
    /// The outcome, until the caller's next poll takes it.
    Done(Outcome),
    /// A stream: its responses in order, until its reader takes them, and whether its
    /// last came (counted as waiting until it does).
    Stream { queue: VecDeque<Outcome>, waker: Option<Waker>, ended: bool },
}

/// What [`InFlight::forget`] found.
#[derive(Debug)]
pub(crate) enum Forgotten {
    /// The request was still waiting: the server may still be working on it.
    Waiting,
    /// Its response had come, unclaimed.
    Answered(Payload),
    /// Nothing (already taken, or the connection failed it).
    Gone,
}

#[derive(Debug, Default)]
pub(crate) struct InFlight {
    slots: HashMap<RequestId, Slot, IdHashBuilder>,
    /// How many slots are still `Waiting`.
    waiting: usize,
    /// Set once the connection is gone; every later request fails with it.
    closed: Option<Error>,
}

impl InFlight {
    /// Registers a request; fails if the connection is already gone.
    pub(crate) fn register(&mut self, id: RequestId) -> Result<(), Error> {
        if let Some(e) = &self.closed {
            return Err(e.clone());
        }
        self.slots.insert(id, Slot::Waiting(None));
        self.waiting += 1;
        Ok(())
    }

    /// Registers a stream (see `manager_proto::stream`): its responses queue up until
    /// its reader takes them. Fails if the connection is already gone.
    pub(crate) fn register_stream(&mut self, id: RequestId) -> Result<(), Error> {
        if let Some(e) = &self.closed {
            return Err(e.clone());
        }
        self.slots.insert(id, Slot::Stream { queue: VecDeque::new(), waker: None, ended: false });
        self.waiting += 1;
        Ok(())
    }

    /// The stream reader's poll: its next response (`None` once the last was taken),
    /// else `Pending` with its waker kept.
    pub(crate) fn poll_stream(&mut self, id: RequestId, cx: &Context<'_>) -> Poll<Option<Outcome>> {
        let Some(Slot::Stream { queue, waker, ended }) = self.slots.get_mut(&id) else {
            return Poll::Ready(None);
        };
        if let Some(next) = queue.pop_front() {
            if *ended && queue.is_empty() {
                // Its last response: nothing more will come for it.
                self.slots.remove(&id);
            }
            return Poll::Ready(Some(next));
        }
        if *ended {
            self.slots.remove(&id);
            return Poll::Ready(None);
        }
        match waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Forgets a stream its reader dropped: whether the server may still be sending it.
    pub(crate) fn forget_stream(&mut self, id: RequestId) -> bool {
        match self.slots.remove(&id) {
            Some(Slot::Stream { ended: false, .. }) => {
                self.waiting -= 1;
                true
            }
            _ => false,
        }
    }

    /// Stores a response for its waiter and returns the waker to wake (once this lock
    /// is released). A response nobody waits for (its call was dropped, or it answered
    /// a fire-and-forget request) is discarded.
    #[must_use]
    pub(crate) fn complete(&mut self, id: RequestId, payload: Payload) -> Option<Waker> {
        let slot = self.slots.get_mut(&id)?;
        if let Slot::Stream { queue, waker, ended } = slot {
            if *ended {
                return None;
            }
            if Response::is_final(payload.kind) {
                *ended = true;
                self.waiting -= 1;
            }
            queue.push_back(Ok(payload));
            return waker.take();
        }
        let Slot::Waiting(waker) = slot else {
            return None;
        };
        let waker = waker.take();
        *slot = Slot::Done(Ok(payload));
        self.waiting -= 1;
        waker
    }

    /// The caller's poll: its outcome if there is one, else `Pending` with its waker
    /// kept. `None` when the request is unknown (the connection failed before it
    /// registered, which `register` prevents, or the outcome was already taken).
    pub(crate) fn poll(&mut self, id: RequestId, cx: &Context<'_>) -> Option<Poll<Outcome>> {
        match self.slots.get_mut(&id)? {
            Slot::Waiting(waker) => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Some(Poll::Pending)
            }
            Slot::Done(_) => match self.slots.remove(&id) {
                Some(Slot::Done(outcome)) => Some(Poll::Ready(outcome)),
                _ => None,
            },
            Slot::Stream { .. } => None,
        }
    }

    /// Forgets a request whose caller gave up, saying where it stood.
    pub(crate) fn forget(&mut self, id: RequestId) -> Forgotten {
        match self.slots.remove(&id) {
            Some(Slot::Waiting(_)) => {
                self.waiting -= 1;
                Forgotten::Waiting
            }
            Some(Slot::Done(Ok(payload))) => Forgotten::Answered(payload),
            Some(Slot::Done(Err(_))) | None => Forgotten::Gone,
            Some(stream @ Slot::Stream { .. }) => {
                // Not a call: put it back for its own reader.
                self.slots.insert(id, stream);
                Forgotten::Gone
            }
        }
    }

    /// Fails every waiting request, and every later one, with `error`; returns the
    /// wakers to wake once this lock is released.
    #[must_use]
    pub(crate) fn close(&mut self, error: Error) -> Vec<Waker> {
        let mut wakers = Vec::new();
        for slot in self.slots.values_mut() {
            match slot {
                Slot::Waiting(waker) => {
                    wakers.extend(waker.take());
                    *slot = Slot::Done(Err(error.clone()));
                }
                Slot::Stream { queue, waker, ended } if !*ended => {
                    wakers.extend(waker.take());
                    queue.push_back(Err(error.clone()));
                    *ended = true;
                }
                _ => {}
            }
        }
        self.waiting = 0;
        self.closed.get_or_insert(error);
        wakers
    }

    pub(crate) fn closed(&self) -> Option<&Error> {
        self.closed.as_ref()
    }

    /// Whether no request is waiting for its response.
    pub(crate) fn is_empty(&self) -> bool {
        self.waiting == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use manager_proto::{RemoteError, RemoteErrorKind, Response};

    /// Routes `response` as the reader does: its header read once, then copied.
    fn routed(response: &Response<'_>) -> Payload {
        let mut bytes = Vec::new();
        response.encode(7, &mut bytes);
        let (id, kind, body) = Response::peek_header(&bytes).expect("header");
        assert_eq!(id, 7);
        Payload::copied(&bytes, kind, body)
    }

    #[test]
    fn small_and_large_values_reach_the_caller_whole() {
        for len in [0, 1, INLINE - 4, INLINE, INLINE + 1, 10_000] {
            let value: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let payload = routed(&Response::Value(&value));
            assert_eq!(matches!(payload.data, Data::Inline { .. }), payload.bytes().len() <= INLINE);
            let reply = payload.into_reply().expect("a value");
            assert_eq!(reply.bytes(), &value[..], "{len} bytes");
        }
    }

    #[test]
    fn an_error_response_stays_an_error_inline_or_not() {
        for message in ["no".to_owned(), "x".repeat(500)] {
            let error = RemoteError::new(RemoteErrorKind::NotExposed, message.clone());
            match routed(&Response::Error(error)).into_reply() {
                Err(Error::Remote(e)) => assert_eq!(e.message, message),
                other => panic!("expected the remote error, got {other:?}"),
            }
        }
    }
}
