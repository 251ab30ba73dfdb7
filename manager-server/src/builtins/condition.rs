//! `Condition`, over its own `RLock` (Python's default) or over a `Lock` or `RLock`
//! the client created.
//!
//! `wait` registers the waiter before it releases the lock, so a `notify` sent right
//! after cannot be missed; it then waits for a notification (or the timeout) and takes
//! the lock back before answering, restoring an `RLock`'s depth. A waiter cancelled
//! after being notified passes its notification on.

use manager_proto::{Item, MethodRef, RemoteError, RemoteErrorKind};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

use super::lock::{Lock, Owner, owner_of};
use super::{Refs, args, encode, err, lock, methods, timeout};
use crate::connection::CallContext;
use crate::object::{ServerObject, Step};

pub(crate) const TYPE_ID: &str = manager_proto::builtin::CONDITION;

methods! {
    ACQUIRE = "acquire",
    RELEASE = "release",
    WAIT = "wait",
    NOTIFY = "notify",
    NOTIFY_ALL = "notify_all",
}

pub(crate) struct Condition {
    lock: Arc<Lock>,
    /// The reference that keeps a client-given lock alive while this condition uses it.
    _lock_ref: Refs,
    waiters: Mutex<VecDeque<oneshot::Sender<()>>>,
}

impl Condition {
    pub(crate) fn create(bytes: &[u8], ctx: &CallContext) -> Result<Condition, RemoteError> {
        let (given,): (Option<Item>,) = args(bytes, "Condition()")?;
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
        Ok(Condition { lock, _lock_ref: lock_ref, waiters: Mutex::new(VecDeque::new()) })
    }

    fn notify(&self, owner: Owner, n: Option<u64>) -> Result<(), RemoteError> {
        if !self.lock.owned_by(owner) {
            return Err(err(RemoteErrorKind::NotOwner, "cannot notify on un-acquired lock"));
        }
        let mut waiters = lock(&self.waiters);
        let mut left = n.unwrap_or(u64::MAX);
        while left > 0 {
            let Some(w) = waiters.pop_front() else { break };
            if w.send(()).is_ok() {
                left -= 1;
            }
        }
        Ok(())
    }

    fn wait(self: Arc<Self>, owner: Owner, bytes: &[u8]) -> Step {
        let limit = match args::<(u64, Option<f64>)>(bytes, "wait").and_then(|(_, t)| timeout(t, "wait")) {
            Ok(l) => l,
            Err(e) => return Step::Ready(Err(e)),
        };
        if !self.lock.owned_by(owner) {
            return Step::Ready(Err(err(RemoteErrorKind::NotOwner, "cannot wait on un-acquired lock")));
        }
        let (tx, rx) = oneshot::channel();
        lock(&self.waiters).push_back(tx);
        let depth = match self.lock.release_all(owner) {
            Ok(depth) => depth,
            Err(e) => return Step::Ready(Err(e)),
        };
        let mut guard = WaitGuard { cond: self, rx };
        Step::Pending(Box::pin(async move {
            let notified = match limit {
                None => (&mut guard.rx).await.is_ok(),
                Some(d) => match tokio::time::timeout(d, &mut guard.rx).await {
                    Ok(r) => r.is_ok(),
                    Err(_) => {
                        guard.rx.close();
                        guard.rx.try_recv().is_ok()
                    }
                },
            };
            let cond = Arc::clone(&guard.cond);
            drop(guard);
            // Take the lock back before answering, as Python's wait does.
            let relock = Arc::clone(&cond.lock);
            let tenure = relock.acquire_wait(owner, None).await.unwrap_or_default();
            cond.lock.set_count(tenure, depth);
            let reply = cond.lock.granted(tenure)?;
            // The reply says whether we were notified; the undo (if the caller is gone)
            // releases the lock we took back for it.
            Ok(crate::object::Reply { bytes: encode(&notified)?.bytes, ..reply })
        }))
    }
}

/// A waiter; cancelled after a notification, it passes the notification on.
struct WaitGuard {
    cond: Arc<Condition>,
    rx: oneshot::Receiver<()>,
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        self.rx.close();
        if self.rx.try_recv().is_ok() {
            let mut waiters = lock(&self.cond.waiters);
            while let Some(w) = waiters.pop_front() {
                if w.send(()).is_ok() {
                    break;
                }
            }
        }
    }
}

impl ServerObject for Condition {
    fn shared_type_id(&self) -> &str {
        TYPE_ID
    }

    fn call(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        let id = match super::resolve(TYPE_ID, m::NAMES, m::IDS, method) {
            Ok(id) => id,
            Err(e) => return Step::Ready(Err(e)),
        };
        let owner = owner_of(ctx, bytes);
        // The lock is what a connection's end must release; it is told through here.
        ctx.on_disconnect(Arc::clone(&self.lock) as Arc<dyn ServerObject>);
        match id {
            m::ACQUIRE => Arc::clone(&self.lock).call(ctx, MethodRef::Name("acquire"), bytes),
            m::RELEASE => Arc::clone(&self.lock).call(ctx, MethodRef::Name("release"), bytes),
            m::WAIT => self.wait(owner, bytes),
            m::NOTIFY => Step::Ready(
                args::<(u64, u64)>(bytes, "notify")
                    .and_then(|(_, n)| self.notify(owner, Some(n)))
                    .and_then(|()| encode(&())),
            ),
            m::NOTIFY_ALL => Step::Ready(
                args::<(u64,)>(bytes, "notify_all").and_then(|_| self.notify(owner, None)).and_then(|()| encode(&())),
            ),
            _ => Step::Ready(Err(err(RemoteErrorKind::NotExposed, "unknown Condition method"))),
        }
    }

    fn value_copy(self: Arc<Self>, _ctx: &CallContext) -> Step {
        Step::Ready(encode(&(lock(&self.waiters).len() as u64)))
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}
