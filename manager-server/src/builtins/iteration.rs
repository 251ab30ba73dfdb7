//! Live iteration of a `dict` or a `set` (`for k in d`, `d.items()`, `for x in s`): a
//! cursor keeps a position in the object's [`OrderedMap`] and reads one batch under the
//! object's mutex each time the connection asks for one, holding no lock between
//! batches.
//!
//! As Python's iterators do, the cursor fails when the object changed size since it was
//! opened, and — as CPython's dict iterator does since 3.8, but here always caught — when
//! its keys changed with the size the same: `ChangedDuringIteration`, the stream's last
//! answer, after the items already sent. A value replaced in place is no change: the
//! cursor sends the new value if it has not passed the key yet. A change is noticed when
//! the next batch is read, so one made after the last batch (the end included) is not.

use manager_proto::stream::{Batch, BoxSource, ItemSource};
use manager_proto::{RemoteError, RemoteErrorKind};
use std::sync::Arc;
use std::task::{Context, Poll};

use super::err;
use super::ordered::OrderedMap;
use crate::object::CallContext;

/// A built-in whose elements live in an [`OrderedMap`] behind its mutex.
pub(crate) trait Iterable: Send + Sync + 'static {
    /// What the map holds per key.
    type Value: 'static;

    /// Runs `f` on the map, under the object's mutex.
    fn with_map<R>(&self, f: impl FnOnce(&OrderedMap<Self::Value>) -> R) -> R;
}

/// Appends one entry's item (its key, its value, or both) to a batch, taking the
/// references the caller gets with the proxies in it.
pub(crate) type EncodeEntry<V> = fn(&[u8], &V, &CallContext, &mut Vec<u8>) -> Result<(), RemoteError>;

/// What a failed iteration says, as Python says it.
pub(crate) struct Changed {
    /// The object's size changed.
    pub(crate) size: &'static str,
    /// Its keys changed, its size the same.
    pub(crate) keys: &'static str,
}

/// A live iteration: where it is, and what the map was when it began.
struct Cursor<O: Iterable> {
    object: Arc<O>,
    encode: EncodeEntry<O::Value>,
    changed: &'static Changed,
    /// The position of the next entry to send (a slot, stable while `generation` is).
    at: usize,
    /// The map's size and generation when the iteration began.
    len: usize,
    generation: u64,
    /// The connection's context: references handed out with proxies go to it.
    ctx: CallContext,
}

/// Opens a live iteration of `object`, each entry sent as `encode` makes it.
pub(crate) fn open<O: Iterable>(
    object: Arc<O>,
    ctx: &CallContext,
    encode: EncodeEntry<O::Value>,
    changed: &'static Changed,
) -> BoxSource {
    let (len, generation) = object.with_map(|map| (map.len(), map.generation()));
    Box::new(Cursor { object, encode, changed, at: 0, len, generation, ctx: ctx.clone() })
}

impl<O: Iterable> ItemSource for Cursor<O> {
    fn poll_batch(
        &mut self,
        _: &mut Context<'_>,
        out: &mut Vec<u8>,
        budget: usize,
    ) -> Poll<Result<Batch, RemoteError>> {
        let Cursor { object, encode, changed, at, len, generation, ctx } = self;
        Poll::Ready(object.with_map(|map| {
            if map.len() != *len {
                return Err(err(RemoteErrorKind::ChangedDuringIteration, changed.size));
            }
            if map.generation() != *generation {
                return Err(err(RemoteErrorKind::ChangedDuringIteration, changed.keys));
            }
            let mut count = 0u32;
            while out.len() < budget && count < u32::MAX {
                let Some((found, key, value)) = map.next_from(*at) else { break };
                let start = out.len();
                if let Err(e) = encode(key, value, ctx, out) {
                    // Send what was made; the failure comes next, as the last answer.
                    out.truncate(start);
                    return if count == 0 { Err(e) } else { Ok(Batch::Items(count)) };
                }
                *at = found.saturating_add(1);
                count = count.saturating_add(1);
            }
            Ok(if count == 0 { Batch::End } else { Batch::Items(count) })
        }))
    }
}
