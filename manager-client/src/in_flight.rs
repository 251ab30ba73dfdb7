//! Requests waiting for their responses, by id; and the reason the connection ended,
//! once it has, so later calls fail fast with it.

use manager_proto::{Error, RequestId};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use tokio::sync::oneshot;

/// Request ids are our own counter, never a peer's choice: a multiplicative hash spreads
/// them well at a fraction of SipHash's cost (the map is touched twice per call).
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

/// A response payload, or why none will come.
pub(crate) type Outcome = Result<Vec<u8>, Error>;

#[derive(Debug, Default)]
pub(crate) struct InFlight {
    waiting: HashMap<RequestId, oneshot::Sender<Outcome>, BuildHasherDefault<IdHasher>>,
    /// Set once the connection is gone; every later request fails with it.
    closed: Option<Error>,
}

impl InFlight {
    /// Registers a request; fails if the connection is already gone.
    pub(crate) fn register(&mut self, id: RequestId) -> Result<oneshot::Receiver<Outcome>, Error> {
        if let Some(e) = &self.closed {
            return Err(e.clone());
        }
        let (tx, rx) = oneshot::channel();
        self.waiting.insert(id, tx);
        Ok(rx)
    }

    /// Hands a response to its waiter. A response nobody waits for (its call was
    /// dropped, or it answered a fire-and-forget request) is discarded.
    pub(crate) fn complete(&mut self, id: RequestId, payload: Vec<u8>) {
        if let Some(tx) = self.waiting.remove(&id) {
            let _ = tx.send(Ok(payload));
        }
    }

    /// Forgets a request whose caller gave up; true if it was still waiting (so the
    /// server should be told to cancel it).
    pub(crate) fn forget(&mut self, id: RequestId) -> bool {
        self.waiting.remove(&id).is_some()
    }

    /// Fails every waiting request, and every later one, with `error`.
    pub(crate) fn close(&mut self, error: Error) {
        for (_, tx) in self.waiting.drain() {
            let _ = tx.send(Err(error.clone()));
        }
        self.closed.get_or_insert(error);
    }

    pub(crate) fn closed(&self) -> Option<&Error> {
        self.closed.as_ref()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}
