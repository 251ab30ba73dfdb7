//! `Condition`, over its own `RLock` (Python's default) or over a `Lock` or `RLock`
//! the client created.
//!
//! `wait` registers the waiter before it releases the lock, so a `notify` sent right
//! after cannot be missed; it then waits for a notification (or the timeout) and takes
//! the lock back before answering, restoring an `RLock`'s depth. A waiter cancelled
//! after being notified passes its notification on.

use manager_proto::builtin::condition as c;
use manager_proto::contract::Method;
use manager_proto::{Item, MethodRef, RemoteError, RemoteErrorKind};
use std::sync::{Arc, Mutex};

use super::lock::{Lock, Owner, owner_of};
use super::waiters::{Outcome, Ticket, Wait, WaitQueue, Waiters};
use super::{Refs, args, encode, err, lock, new_args, reply, reply_bytes, timeout};
use crate::object::CallContext;
use crate::object::{ServerObject, Step};

pub(crate) const TYPE_ID: &str = manager_proto::builtin::CONDITION;

/// A notification handed to a waiter.
pub(crate) struct Notified;

pub(crate) struct Condition {
    lock: Arc<Lock>,
    /// The reference that keeps a client-given lock alive while this condition uses it.
    _lock_ref: Refs,
    waiters: Mutex<Waiters<(), Notified>>,
}

impl Condition {
    pub(crate) fn create(bytes: &[u8], ctx: &CallContext) -> Result<Condition, RemoteError> {
        let (given,): (Option<Item>,) = new_args::<c::New, _>(bytes, c::NEW)?;
        let (lock, lock_ref) = match given {
            None => (Arc::new(Lock::fresh(true)), Refs::none()),
            Some(item) => {
                let [object] = item.refs[..] else {
                    return Err(err(RemoteErrorKind::InvalidValue, "Condition(lock): pass a Lock or RLock proxy"));
                };
                let refs = Refs::take(vec![object], ctx)?;
                let found = ctx.table().incref(object)?;
                ctx.table().release(object);
                let lock = found.into_any().downcast::<Lock>().map_err(|_| {
                    err(RemoteErrorKind::WrongType, "Condition(lock): the object is not a Lock or RLock")
                })?;
                (lock, refs)
            }
        };
        Ok(Condition { lock, _lock_ref: lock_ref, waiters: Mutex::new(Waiters::default()) })
    }

    /// Wakes up to `n` waiters (all for `None`): O(waiters woken), whatever `n`.
    fn notify(&self, owner: Owner, n: Option<u64>) -> Result<(), RemoteError> {
        if !self.lock.owned_by(owner) {
            return Err(err(RemoteErrorKind::NotOwner, "cannot notify on un-acquired lock"));
        }
        let mut waiters = lock(&self.waiters);
        let woken = n.map_or(waiters.len(), |n| usize::try_from(n).unwrap_or(usize::MAX).min(waiters.len()));
        for _ in 0..woken {
            waiters.grant_oldest(|()| Notified);
        }
        Ok(())
    }

    fn wait(self: Arc<Self>, owner: Owner, bytes: &[u8]) -> Step {
        let limit = match args::<c::Wait, (u64, Option<f64>)>(bytes).and_then(|(_, t)| timeout(t, c::Wait::WHAT)) {
            Ok(l) => l,
            Err(e) => return Step::Ready(Err(e)),
        };
        if !self.lock.owned_by(owner) {
            return Step::Ready(Err(err(RemoteErrorKind::NotOwner, "cannot wait on un-acquired lock")));
        }
        // Queued before the lock is released, so a notify right after cannot be missed.
        let ticket = lock(&self.waiters).push(());
        let wait = Wait::new(Arc::clone(&self), ticket);
        let depth = match self.lock.release_all(owner) {
            Ok(depth) => depth,
            Err(e) => return Step::Ready(Err(e)),
        };
        Step::Pending(Box::pin(async move {
            let notified = matches!(wait.until(limit).await, Outcome::Granted(Notified));
            // Take the lock back before answering, as Python's wait does.
            let relock = Arc::clone(&self.lock);
            let tenure = relock.acquire_wait(owner, None).await.unwrap_or_default();
            self.lock.set_count(tenure, depth);
            let reply = self.lock.granted::<c::Wait>(tenure)?;
            // The reply says whether we were notified; the undo (if the caller is gone)
            // releases the lock we took back for it.
            Ok(crate::object::Reply { bytes: reply_bytes::<c::Wait>(&notified)?, ..reply })
        }))
    }
}

impl WaitQueue<Notified> for Condition {
    fn withdraw(&self, ticket: Ticket) {
        lock(&self.waiters).remove(ticket);
    }

    /// A waiter cancelled after its notification passes it on.
    fn give_back(&self, Notified: Notified) {
        lock(&self.waiters).grant_oldest(|()| Notified);
    }
}

impl ServerObject for Condition {
    fn shared_type_id(&self) -> &str {
        TYPE_ID
    }

    fn method_name(&self, id: u32) -> Option<&'static str> {
        super::name_of(c::NAMES, c::IDS, id)
    }

    fn call(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        let id = match super::resolve(TYPE_ID, c::NAMES, c::IDS, method) {
            Ok(id) => id,
            Err(e) => return Step::Ready(Err(e)),
        };
        let owner = owner_of(ctx, bytes);
        // The lock is what a connection's end must release; it is told through here.
        ctx.on_disconnect(Arc::clone(&self.lock) as Arc<dyn ServerObject>);
        match id {
            c::Acquire::ID => Arc::clone(&self.lock).call(ctx, MethodRef::Name("acquire"), bytes),
            c::Release::ID => Arc::clone(&self.lock).call(ctx, MethodRef::Name("release"), bytes),
            c::Wait::ID => self.wait(owner, bytes),
            c::Notify::ID => Step::Ready(
                args::<c::Notify, (u64, u64)>(bytes)
                    .and_then(|(_, n)| self.notify(owner, Some(n)))
                    .and_then(|()| reply::<c::Notify>(&())),
            ),
            c::NotifyAll::ID => Step::Ready(
                args::<c::NotifyAll, (u64,)>(bytes)
                    .and_then(|_| self.notify(owner, None))
                    .and_then(|()| reply::<c::NotifyAll>(&())),
            ),
            _ => Step::Ready(Err(err(RemoteErrorKind::NotExposed, "unknown Condition method"))),
        }
    }

    fn value_copy(self: Arc<Self>, _ctx: &CallContext) -> Step {
        Step::Ready(encode(&(lock(&self.waiters).len() as u64)))
    }

    fn references(&self, out: &mut Vec<manager_proto::ObjectId>) {
        self._lock_ref.report(out);
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}
